package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"

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
// The fields of App, role and bound writes, narrowings and ad-hoc mints are
// parsed here, once, into the typed request the handler decides on
// (request.go); the framework never converts them.

// HandleExistenceCheck answers whether the path's entry exists from the
// path alone.
func (b *backend) HandleExistenceCheck(ctx context.Context, req *logical.Request) (bool, bool, error) {
	data := req.Data
	req.Data = nil
	defer func() { req.Data = data }()
	return b.Backend.HandleExistenceCheck(ctx, req)
}

// HandleRequest parses the fields of the paths that decide something (App,
// role and bound writes, narrowings, ad-hoc mints) into their typed request
// (request.go), and refuses wrongly typed fields of the others with a 400
// that names them. It is also the one place where a handler's coded error
// becomes Vault's answer (errors.go).
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	// The moment the request arrived, for the mount's max lease TTL a
	// mint reads (freshread.go).
	ctx = b.maxLeaseTTL.arrive(ctx)
	if rp, ok := b.parserFor(req); ok {
		q, msg := rp.parse(req.Data)
		if msg != "" {
			return answer(nil, invalid(msg))
		}
		// The framework sees the request without them (restored after).
		data := req.Data
		req.Data = maps.Clone(data)
		for _, f := range rp.fields {
			delete(req.Data, f)
		}
		defer func() { req.Data = data }()
		ctx = context.WithValue(ctx, requestKey{}, q)
	}
	if msg := b.checkInput(req); msg != "" {
		return answer(nil, invalid(msg))
	}
	return answer(b.Backend.HandleRequest(ctx, req))
}

// parserFor is the parser of the path req routes to, for its operation.
func (b *backend) parserFor(req *logical.Request) (requestParser, bool) {
	rp, ok := b.parsers[b.Route(req.Path)]
	return rp, ok && slices.Contains(rp.ops, req.Operation)
}

// checkInput checks the request's fields against the schema of the path it
// routes to, and returns a message naming the first bad field (in name
// order), or "". The fields request.go parses are off the request by then.
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
		if !kindFits(schema.Type, raw) {
			// The framework would convert it (true into "1", 5 into "5"):
			// refuse it instead.
			return fmt.Sprintf("%s: must be %s, got %s", name, wantOf(schema.Type), jsonKind(raw))
		}
		fd := framework.FieldData{Raw: map[string]any{name: raw}, Schema: map[string]*framework.FieldSchema{name: schema}}
		if _, _, err := fd.GetOkErr(name); err != nil {
			return fmt.Sprintf("%s: must be %s, got %s", name, wantOf(schema.Type), jsonKind(raw))
		}
	}
	return ""
}

// kindFits tells whether a field of type t takes a value of raw's JSON
// type: a string for a string; a number or a string (the CLI's) for an
// integer or a duration; true/false or a string for a bool; a list, a
// string or a number for a list; an object, a list or a string for
// name=level pairs. null is "not set" for every type.
func kindFits(t framework.FieldType, raw any) bool {
	switch raw.(type) {
	case nil:
		return true
	case string:
		return t != framework.TypeMap
	case float64, json.Number, int, int64:
		switch t {
		case framework.TypeInt, framework.TypeInt64, framework.TypeDurationSecond, framework.TypeSignedDurationSecond,
			framework.TypeCommaStringSlice, framework.TypeStringSlice, framework.TypeCommaIntSlice:
			return true
		}
	case bool:
		return t == framework.TypeBool
	case []any, []string:
		switch t {
		case framework.TypeCommaStringSlice, framework.TypeStringSlice, framework.TypeCommaIntSlice, framework.TypeKVPairs:
			return true
		}
	case map[string]any:
		return t == framework.TypeKVPairs || t == framework.TypeMap
	}
	return false
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

// fieldString is a string field of the path's schema as the framework
// converted it (checkInput let only strings and null through), "" if it
// is not set.
func fieldString(d *framework.FieldData, name string) string {
	s, _ := d.Get(name).(string)
	return s
}
