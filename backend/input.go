package backend

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// The framework converts every field of a request to its schema type before
// a handler (or an existence check) runs, and its conversion errors quote the
// value in full. Vault runs existence checks before the ACL check and logs
// their errors at ERROR level, so any token could put a private key sent as
// a list, or a megabyte of forged log lines, into the server log. checkInput
// runs first, on every request: it reports a field of the wrong type by its
// name and the JSON type it got, never by its value.

// HandleExistenceCheck refuses wrongly typed fields before the framework's
// own conversion can quote them.
func (b *backend) HandleExistenceCheck(ctx context.Context, req *logical.Request) (bool, bool, error) {
	if msg := b.checkInput(req); msg != "" {
		return false, false, errutil.UserError{Err: msg}
	}
	return b.Backend.HandleExistenceCheck(ctx, req)
}

// HandleRequest refuses wrongly typed fields with a 400 that names them.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if msg := b.checkInput(req); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	return b.Backend.HandleRequest(ctx, req)
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
