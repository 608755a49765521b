package backend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// The framework converts every field of a request to its schema type before
// a handler runs (fd.Validate in its HandleRequest), and its conversion
// errors quote the value in full. So HandleRequest checks types first, and
// reports a field of the wrong type by its name and the JSON type it got,
// never by its value.
//
// HandleRequest runs only for requests the ACL let through. Vault runs a
// path's existence check (create or update?) before the ACL, so the
// existence check sees no request data at all: it needs only the name in
// the path, and a caller without rights gets Vault's 403, never a 400 about
// a field it was not allowed to send (nor an ERROR line in the server log).
//
// The fields that decide a scope (roles/<name> writes, token/<name> reads
// and writes, token writes) are parsed here, once, into the scopeRequest
// the handler decides on (request.go); the framework never converts them.

// HandleExistenceCheck answers whether the path's entry exists from the
// path alone.
func (b *backend) HandleExistenceCheck(ctx context.Context, req *logical.Request) (bool, bool, error) {
	data := req.Data
	req.Data = nil
	defer func() { req.Data = data }()
	return b.Backend.HandleExistenceCheck(ctx, req)
}

// HandleRequest parses the request's scope fields into a scopeRequest and
// refuses wrongly typed fields with a 400 that names them.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if fields := b.scopeFields(req); fields != nil {
		q, msg := parseScopeRequest(req.Data, fields)
		if msg != "" {
			return logical.ErrorResponse(msg), nil
		}
		// The framework sees the request without them (restored after).
		data := req.Data
		req.Data = maps.Clone(data)
		for _, f := range fields {
			delete(req.Data, f)
		}
		defer func() { req.Data = data }()
		ctx = context.WithValue(ctx, scopeRequestKey{}, q)
	}
	if msg := b.checkInput(req); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	return b.Backend.HandleRequest(ctx, req)
}

type scopeRequestKey struct{}

// scopeFields names the fields of req that decide a scope, or nil.
func (b *backend) scopeFields(req *logical.Request) []string {
	p := b.Route(req.Path)
	if p == nil {
		return nil
	}
	write := req.Operation == logical.CreateOperation || req.Operation == logical.UpdateOperation
	// The framework anchors patterns with ^ and $.
	pattern := func(s string) bool {
		return strings.TrimSuffix(strings.TrimPrefix(p.Pattern, "^"), "$") == strings.TrimSuffix(s, "$")
	}
	switch {
	case pattern(rolePrefix+namePattern) && write:
		return roleRequestFields
	case pattern(tokenPrefix+namePattern) && (write || req.Operation == logical.ReadOperation):
		return narrowRequestFields
	case pattern(adHocPattern) && write:
		return roleRequestFields
	}
	return nil
}

// requestOf is the scopeRequest HandleRequest parsed for this request.
func requestOf(ctx context.Context) (*scopeRequest, error) {
	q, ok := ctx.Value(scopeRequestKey{}).(*scopeRequest)
	if !ok {
		return nil, errors.New("the request's scope fields were not parsed")
	}
	return q, nil
}

// checkInput checks the request's fields against the schema of the path it
// routes to, and returns a message naming the first bad field (in name
// order), or "". An empty string for a name=level map field is turned into
// an empty map, so that `permissions=` from the CLI resets the field rather
// than failing the framework's pair parsing.
func (b *backend) checkInput(req *logical.Request) string {
	if len(req.Data) == 0 {
		return ""
	}
	p := b.Route(req.Path)
	if p == nil {
		return ""
	}
	names := make([]string, 0, len(req.Data))
	for name := range req.Data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		schema, ok := p.Fields[name]
		if !ok {
			continue
		}
		raw := req.Data[name]
		if s, isString := raw.(string); isString && s == "" && schema.Type == framework.TypeKVPairs {
			req.Data[name] = map[string]any{}
			continue
		}
		if _, isBool := raw.(bool); isBool && schema.Type != framework.TypeBool {
			// The framework would turn true into "1": refuse it instead.
			return fmt.Sprintf("%s: must be %s, got %s", name, wantOf(schema.Type), jsonKind(raw))
		}
		fd := framework.FieldData{Raw: map[string]any{name: raw}, Schema: map[string]*framework.FieldSchema{name: schema}}
		if _, _, err := fd.GetOkErr(name); err != nil {
			return fmt.Sprintf("%s: must be %s, got %s", name, wantOf(schema.Type), jsonKind(raw))
		}
	}
	return ""
}

// wantOf says in words what a field of a schema type takes.
func wantOf(t framework.FieldType) string {
	switch t {
	case framework.TypeInt, framework.TypeInt64:
		return "an integer"
	case framework.TypeBool:
		return "true or false"
	case framework.TypeDurationSecond, framework.TypeSignedDurationSecond:
		return "a duration such as 5m or a whole number of seconds, not negative"
	case framework.TypeCommaStringSlice, framework.TypeStringSlice:
		return "a list of strings or a comma-separated string"
	case framework.TypeCommaIntSlice:
		return "a list of integers or a comma-separated string of them"
	case framework.TypeKVPairs:
		return "an object of name to level, or name=level pairs"
	case framework.TypeMap:
		return "an object"
	}
	return "a string"
}
