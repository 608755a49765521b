package githubtest

// The GraphQL engine: documents are parsed and validated against
// schema.graphql by github.com/vektah/gqlparser/v2, then executed by a small
// resolver that walks the selection set (aliases, fragments, variables,
// @include/@skip) over the resolvers of gqlresolve.go. A document that
// fails validation answers only errors, as on GitHub; a resolver's failure
// is an error at its path with null there (propagated to the nearest
// nullable parent, as the spec says).

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

//go:embed schema.graphql
var schemaSDL string

// gqlSchema is the schema, loaded once.
var gqlSchema = sync.OnceValue(func() *ast.Schema {
	return gqlparser.MustLoadSchema(&ast.Source{Name: "schema.graphql", Input: schemaSDL, BuiltIn: false})
})

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Type       string         `json:"type,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Message    string         `json:"message"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// gqlFail is a resolver's failure, with GitHub's error type (NOT_FOUND,
// FORBIDDEN, UNPROCESSABLE...).
type gqlFail struct {
	typ, msg string
}

func (f *gqlFail) Error() string { return f.msg }

func failf(typ, format string, args ...any) error {
	return &gqlFail{typ: typ, msg: fmt.Sprintf(format, args...)}
}

// errNullParent propagates a null in a non-null field to its parent.
var errNullParent = errors.New("null in a non-null field")

// gqlObj is an object a resolver returns: it knows its GraphQL type.
type gqlObj interface{ gqlType() string }

// resolver answers one field of one type.
type resolver func(e *gqlExec, obj any, args map[string]any) (any, error)

// gqlExec is one operation's execution.
type gqlExec struct {
	s      *Server
	r      *requestInfo
	tok    Token
	schema *ast.Schema
	doc    *ast.QueryDocument
	vars   map[string]any
	errs   []gqlError
	mut    string // the mutation being run, for ref changes' By
	open   map[int64]*repoCtx
}

// requestInfo is what resolvers need of the HTTP request.
type requestInfo struct {
	base string
}

// release unlocks the repositories the execution opened.
func (e *gqlExec) release() {
	for _, rc := range e.open {
		rc.done()
	}
	e.open = nil
}

// runGraphQL executes one request (query, variables, operationName) and
// returns its answer: {"data": ..., "errors": [...]}.
func (s *Server) runGraphQL(tok Token, base string, query string, rawVars map[string]any, opName string) map[string]any {
	schema := gqlSchema()
	doc, perr := parser.ParseQuery(&ast.Source{Name: "query", Input: query})
	if perr != nil {
		return map[string]any{"errors": []gqlError{parseError(perr)}}
	}
	if errs := validator.Validate(schema, doc); len(errs) > 0 {
		return map[string]any{"errors": validationErrors(errs)}
	}
	var op *ast.OperationDefinition
	switch {
	case opName != "":
		op = doc.Operations.ForName(opName)
		if op == nil {
			return map[string]any{"errors": []gqlError{{Message: fmt.Sprintf("No operation named %q", opName)}}}
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return map[string]any{"errors": []gqlError{{Message: "An operation name is required"}}}
	}
	vars, verr := validator.VariableValues(schema, op, rawVars)
	if verr != nil {
		return map[string]any{"errors": []gqlError{variableError(op, verr)}}
	}
	e := &gqlExec{s: s, r: &requestInfo{base: base}, tok: tok, schema: schema, doc: doc, vars: vars, open: map[int64]*repoCtx{}}
	defer e.release()
	var root *ast.Definition
	switch op.Operation {
	case ast.Mutation:
		root = schema.Mutation
	case ast.Query:
		root = schema.Query
	default:
		return map[string]any{"errors": []gqlError{{Message: "Subscriptions are not supported"}}}
	}
	data, err := e.selectionSet(root.Name, gqlRoot{root.Name}, op.SelectionSet, nil, op.Operation == ast.Mutation)
	out := map[string]any{}
	if err == nil {
		out["data"] = data
	} else {
		out["data"] = nil
	}
	if len(e.errs) > 0 {
		out["errors"] = e.errs
	}
	return out
}

// gqlRoot is the Query or Mutation object.
type gqlRoot struct{ typ string }

func (r gqlRoot) gqlType() string { return r.typ }

// collected is the fields of a selection set under one response key.
type collected struct {
	key    string
	fields []*ast.Field
}

// collect gathers the fields that apply to an object of type typ, in
// order, merging those with the same response key (spec: CollectFields).
func (e *gqlExec) collect(typ string, set ast.SelectionSet, out []*collected, seen map[string]bool) []*collected {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if !e.included(s.Directives) {
				continue
			}
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			found := false
			for _, c := range out {
				if c.key == key {
					c.fields = append(c.fields, s)
					found = true
				}
			}
			if !found {
				out = append(out, &collected{key: key, fields: []*ast.Field{s}})
			}
		case *ast.InlineFragment:
			if e.included(s.Directives) && e.applies(typ, s.TypeCondition) {
				out = e.collect(typ, s.SelectionSet, out, seen)
			}
		case *ast.FragmentSpread:
			if !e.included(s.Directives) || seen[s.Name] {
				continue
			}
			def := e.doc.Fragments.ForName(s.Name)
			if def == nil || !e.applies(typ, def.TypeCondition) {
				continue
			}
			seen[s.Name] = true
			out = e.collect(typ, def.SelectionSet, out, seen)
		}
	}
	return out
}

// applies reports whether a fragment on cond applies to an object of type
// typ.
func (e *gqlExec) applies(typ, cond string) bool {
	if cond == "" || cond == typ {
		return true
	}
	def := e.schema.Types[cond]
	if def == nil {
		return false
	}
	for _, p := range e.schema.GetPossibleTypes(def) {
		if p.Name == typ {
			return true
		}
	}
	return false
}

// included evaluates @skip and @include.
func (e *gqlExec) included(ds ast.DirectiveList) bool {
	for _, d := range ds {
		v, _ := d.ArgumentMap(e.vars)["if"].(bool)
		if (d.Name == "skip" && v) || (d.Name == "include" && !v) {
			return false
		}
	}
	return true
}

// selectionSet executes set on obj of type typ (serially for a
// mutation's root, which is the only difference that matters here).
func (e *gqlExec) selectionSet(typ string, obj any, set ast.SelectionSet, path []any, serial bool) (*orderedJSON, error) {
	_ = serial // fields run in order in any case
	out := &orderedJSON{}
	for _, c := range e.collect(typ, set, nil, map[string]bool{}) {
		f := c.fields[0]
		fpath := append(append([]any{}, path...), c.key)
		var val any
		var err error
		switch f.Name {
		case "__typename":
			val = typ
		case "__type", "__schema":
			val, err = e.introspect(f)
		default:
			res := resolvers[typ+"."+f.Name]
			if res == nil {
				err = failf("INTERNAL", "the GitHub double has no resolver for %s.%s", typ, f.Name)
				break
			}
			if e.mut == "" && typ == e.schema.Mutation.Name {
				e.mut = f.Name
			}
			val, err = res(e, obj, f.ArgumentMap(e.vars))
			if typ == e.schema.Mutation.Name {
				e.mut = ""
			}
		}
		if err == nil {
			var sub ast.SelectionSet
			for _, g := range c.fields {
				sub = append(sub, g.SelectionSet...)
			}
			val, err = e.complete(fieldType(f), val, sub, fpath)
		} else {
			e.fail(err, f, fpath)
		}
		if err != nil {
			if fieldType(f).NonNull {
				return nil, errNullParent
			}
			val = nil
		}
		out.keys, out.vals = append(out.keys, c.key), append(out.vals, val)
	}
	return out, nil
}

// fieldType is the type of a validated field (__typename: String!).
func fieldType(f *ast.Field) *ast.Type {
	if f.Definition == nil {
		return ast.NonNullNamedType("String", nil)
	}
	return f.Definition.Type
}

// fail records err at path.
func (e *gqlExec) fail(err error, f *ast.Field, path []any) {
	ge := gqlError{Path: path, Message: err.Error()}
	if f.Position != nil {
		ge.Locations = []gqlLocation{{f.Position.Line, f.Position.Column}}
	}
	var gf *gqlFail
	if errors.As(err, &gf) {
		ge.Type = gf.typ
	}
	e.errs = append(e.errs, ge)
}

// complete turns a resolver's value into the answer for type t.
func (e *gqlExec) complete(t *ast.Type, val any, sub ast.SelectionSet, path []any) (any, error) {
	if isNil(val) {
		if t.NonNull {
			e.errs = append(e.errs, gqlError{Path: path, Message: "Cannot return null for non-nullable field"})
			return nil, errNullParent
		}
		return nil, nil
	}
	if t.Elem != nil {
		items, _ := val.([]any)
		out := make([]any, 0, len(items))
		for i, item := range items {
			v, err := e.complete(t.Elem, item, sub, append(append([]any{}, path...), i))
			if err != nil {
				if t.NonNull {
					return nil, errNullParent
				}
				return nil, nil
			}
			out = append(out, v)
		}
		return out, nil
	}
	def := e.schema.Types[t.NamedType]
	switch def.Kind {
	case ast.Scalar, ast.Enum:
		if tm, ok := val.(time.Time); ok {
			return tm.UTC().Format(time.RFC3339), nil
		}
		return val, nil
	}
	o, ok := val.(gqlObj)
	if !ok {
		return nil, failf("INTERNAL", "the GitHub double resolved %s to a %T", t.NamedType, val)
	}
	res, err := e.selectionSet(o.gqlType(), o, sub, path, false)
	if err != nil {
		if t.NonNull {
			return nil, err
		}
		return nil, nil
	}
	return res, nil
}

// isNil reports whether v is nil or a nil pointer in an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch x := v.(type) {
	case *orderedJSON:
		return x == nil
	}
	type nilable interface{ isNilObj() bool }
	if n, ok := v.(nilable); ok {
		return n.isNilObj()
	}
	return false
}

// orderedJSON is a JSON object whose keys keep the query's order.
type orderedJSON struct {
	keys []string
	vals []any
}

func (o *orderedJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ---------------------------------------------------------------------------
// Errors in GitHub's words.

func locations(ls []gqlerror.Location) []gqlLocation {
	var out []gqlLocation
	for _, l := range ls {
		out = append(out, gqlLocation{l.Line, l.Column})
	}
	return out
}

// parseError words a syntax error as GitHub does.
func parseError(err error) gqlError {
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		ls := locations(ge.Locations)
		at := ""
		if len(ls) > 0 {
			at = fmt.Sprintf(" at [%d, %d]", ls[0].Line, ls[0].Column)
		}
		return gqlError{Message: "Parse error" + at + ": " + ge.Message, Locations: ls}
	}
	return gqlError{Message: "Parse error: " + err.Error()}
}

var (
	reUnknownField = regexp.MustCompile(`^Cannot query field "([^"]+)" on type "([^"]+)"`)
	reUnknownArg   = regexp.MustCompile(`^Unknown argument "([^"]+)" on field "([^".]+)\.([^"]+)"`)
	reMissingArg   = regexp.MustCompile(`^Field "([^"]+)" argument "([^"]+)" of type "([^"]+)" is required`)
	reNeedsSel     = regexp.MustCompile(`^Field "([^"]+)" of type "([^"]+)" must have a selection of subfields`)
	reNoSel        = regexp.MustCompile(`^Field "([^"]+)" must not have a selection since type "([^"]+)" has no subfields`)
)

// validationErrors words validation errors as GitHub (graphql-ruby) does
// where the double knows its words, else as gqlparser does.
func validationErrors(errs gqlerror.List) []gqlError {
	var out []gqlError
	for _, err := range errs {
		ge := gqlError{Message: err.Message, Locations: locations(err.Locations)}
		switch {
		case reUnknownField.MatchString(err.Message):
			m := reUnknownField.FindStringSubmatch(err.Message)
			ge.Message = fmt.Sprintf("Field '%s' doesn't exist on type '%s'", m[1], m[2])
			ge.Extensions = map[string]any{"code": "undefinedField", "typeName": m[2], "fieldName": m[1]}
		case reUnknownArg.MatchString(err.Message):
			m := reUnknownArg.FindStringSubmatch(err.Message)
			ge.Message = fmt.Sprintf("Field '%s' doesn't accept argument '%s'", m[3], m[1])
			ge.Extensions = map[string]any{"code": "argumentNotAccepted", "name": m[3], "typeName": "Field", "argumentName": m[1]}
		case reMissingArg.MatchString(err.Message):
			m := reMissingArg.FindStringSubmatch(err.Message)
			ge.Message = fmt.Sprintf("Field '%s' is missing required arguments: %s", m[1], m[2])
			ge.Extensions = map[string]any{"code": "missingRequiredArguments", "className": "Field", "name": m[1], "arguments": m[2]}
		case reNeedsSel.MatchString(err.Message):
			m := reNeedsSel.FindStringSubmatch(err.Message)
			ge.Message = fmt.Sprintf("Field must have selections (field '%s' returns %s but has no selections. Did you mean '%s { ... }'?)", m[1], strings.Trim(m[2], "[]!"), m[1])
			ge.Extensions = map[string]any{"code": "selectionMismatch", "nodeName": "field '" + m[1] + "'", "typeName": strings.Trim(m[2], "[]!")}
		case reNoSel.MatchString(err.Message):
			m := reNoSel.FindStringSubmatch(err.Message)
			ge.Message = fmt.Sprintf("Selections can't be made on scalars (field '%s' returns %s but has selections [...])", m[1], m[2])
			ge.Extensions = map[string]any{"code": "selectionMismatch", "nodeName": "field '" + m[1] + "'", "typeName": m[2]}
		}
		out = append(out, ge)
	}
	return out
}

// variableError words a variable that does not fit its type.
func variableError(op *ast.OperationDefinition, err error) gqlError {
	var ge *gqlerror.Error
	name := ""
	if errors.As(err, &ge) && len(ge.Path) > 1 {
		name = fmt.Sprint(ge.Path[1])
	}
	typ := ""
	if v := op.VariableDefinitions.ForName(name); v != nil {
		typ = v.Type.String()
	}
	return gqlError{
		Message:    fmt.Sprintf("Variable $%s of type %s was provided invalid value", name, typ),
		Extensions: map[string]any{"code": "variableMismatch", "problems": []map[string]any{{"path": []string{}, "explanation": err.Error()}}},
	}
}

// ---------------------------------------------------------------------------
// Introspection: __type(name:) and __schema, from the loaded schema.

type introType struct {
	def  *ast.Definition // a named type, or nil for a wrapper
	wrap *ast.Type       // a list or non-null wrapper
}

func (introType) gqlType() string { return "__Type" }

type introField struct{ f *ast.FieldDefinition }

func (introField) gqlType() string { return "__Field" }

type introInput struct{ a *ast.ArgumentDefinition }

func (introInput) gqlType() string { return "__InputValue" }

type introEnum struct{ v *ast.EnumValueDefinition }

func (introEnum) gqlType() string { return "__EnumValue" }

type introSchema struct{}

func (introSchema) gqlType() string { return "__Schema" }

func (e *gqlExec) introspect(f *ast.Field) (any, error) {
	if f.Name == "__schema" {
		return introSchema{}, nil
	}
	name, _ := f.ArgumentMap(e.vars)["name"].(string)
	def := e.schema.Types[name]
	if def == nil {
		return nil, nil
	}
	return introType{def: def}, nil
}

// typeRef is the introspection object of a field's or argument's type.
func (e *gqlExec) typeRef(t *ast.Type) introType {
	if t.NonNull || t.Elem != nil {
		return introType{wrap: t}
	}
	return introType{def: e.schema.Types[t.NamedType]}
}

func init() {
	resolvers["__Schema.types"] = func(e *gqlExec, _ any, _ map[string]any) (any, error) {
		names := make([]string, 0, len(e.schema.Types))
		for n := range e.schema.Types {
			names = append(names, n)
		}
		sort.Strings(names)
		var out []any
		for _, n := range names {
			out = append(out, introType{def: e.schema.Types[n]})
		}
		return out, nil
	}
	resolvers["__Schema.queryType"] = func(e *gqlExec, _ any, _ map[string]any) (any, error) { return introType{def: e.schema.Query}, nil }
	resolvers["__Schema.mutationType"] = func(e *gqlExec, _ any, _ map[string]any) (any, error) {
		return introType{def: e.schema.Mutation}, nil
	}
	resolvers["__Schema.subscriptionType"] = func(*gqlExec, any, map[string]any) (any, error) { return nil, nil }
	resolvers["__Schema.directives"] = func(*gqlExec, any, map[string]any) (any, error) { return []any{}, nil }
	resolvers["__Schema.description"] = func(*gqlExec, any, map[string]any) (any, error) { return nil, nil }

	typeField := func(fn func(e *gqlExec, t introType, args map[string]any) any) resolver {
		return func(e *gqlExec, obj any, args map[string]any) (any, error) { return fn(e, obj.(introType), args), nil }
	}
	resolvers["__Type.kind"] = typeField(func(_ *gqlExec, t introType, _ map[string]any) any {
		switch {
		case t.wrap != nil && t.wrap.NonNull:
			return "NON_NULL"
		case t.wrap != nil:
			return "LIST"
		}
		return string(t.def.Kind)
	})
	resolvers["__Type.name"] = typeField(func(_ *gqlExec, t introType, _ map[string]any) any {
		if t.def == nil {
			return nil
		}
		return t.def.Name
	})
	resolvers["__Type.description"] = typeField(func(_ *gqlExec, t introType, _ map[string]any) any {
		if t.def == nil || t.def.Description == "" {
			return nil
		}
		return t.def.Description
	})
	resolvers["__Type.specifiedByURL"] = typeField(func(*gqlExec, introType, map[string]any) any { return nil })
	resolvers["__Type.isOneOf"] = typeField(func(*gqlExec, introType, map[string]any) any { return false })
	resolvers["__Type.ofType"] = typeField(func(e *gqlExec, t introType, _ map[string]any) any {
		switch {
		case t.wrap == nil:
			return nil
		case t.wrap.NonNull:
			inner := *t.wrap
			inner.NonNull = false
			return e.typeRef(&inner)
		}
		return e.typeRef(t.wrap.Elem)
	})
	resolvers["__Type.fields"] = typeField(func(_ *gqlExec, t introType, args map[string]any) any {
		if t.def == nil || (t.def.Kind != ast.Object && t.def.Kind != ast.Interface) {
			return nil
		}
		out := []any{}
		for _, f := range t.def.Fields {
			if !strings.HasPrefix(f.Name, "__") {
				out = append(out, introField{f})
			}
		}
		return out
	})
	resolvers["__Type.interfaces"] = typeField(func(e *gqlExec, t introType, _ map[string]any) any {
		if t.def == nil || (t.def.Kind != ast.Object && t.def.Kind != ast.Interface) {
			return nil
		}
		out := []any{}
		for _, n := range t.def.Interfaces {
			out = append(out, introType{def: e.schema.Types[n]})
		}
		return out
	})
	resolvers["__Type.possibleTypes"] = typeField(func(e *gqlExec, t introType, _ map[string]any) any {
		if t.def == nil || (t.def.Kind != ast.Interface && t.def.Kind != ast.Union) {
			return nil
		}
		out := []any{}
		for _, p := range e.schema.GetPossibleTypes(t.def) {
			out = append(out, introType{def: p})
		}
		return out
	})
	resolvers["__Type.enumValues"] = typeField(func(_ *gqlExec, t introType, _ map[string]any) any {
		if t.def == nil || t.def.Kind != ast.Enum {
			return nil
		}
		out := []any{}
		for _, v := range t.def.EnumValues {
			out = append(out, introEnum{v})
		}
		return out
	})
	resolvers["__Type.inputFields"] = typeField(func(_ *gqlExec, t introType, _ map[string]any) any {
		if t.def == nil || t.def.Kind != ast.InputObject {
			return nil
		}
		out := []any{}
		for _, f := range t.def.Fields {
			out = append(out, introInput{&ast.ArgumentDefinition{Name: f.Name, Description: f.Description, Type: f.Type, DefaultValue: f.DefaultValue}})
		}
		return out
	})

	resolvers["__Field.name"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) { return o.(introField).f.Name, nil }
	resolvers["__Field.description"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) {
		return nilIfEmpty(o.(introField).f.Description), nil
	}
	resolvers["__Field.args"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) {
		out := []any{}
		for _, a := range o.(introField).f.Arguments {
			out = append(out, introInput{a})
		}
		return out, nil
	}
	resolvers["__Field.type"] = func(e *gqlExec, o any, _ map[string]any) (any, error) { return e.typeRef(o.(introField).f.Type), nil }
	resolvers["__Field.isDeprecated"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) {
		return o.(introField).f.Directives.ForName("deprecated") != nil, nil
	}
	resolvers["__Field.deprecationReason"] = func(*gqlExec, any, map[string]any) (any, error) { return nil, nil }

	resolvers["__InputValue.name"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) { return o.(introInput).a.Name, nil }
	resolvers["__InputValue.description"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) {
		return nilIfEmpty(o.(introInput).a.Description), nil
	}
	resolvers["__InputValue.type"] = func(e *gqlExec, o any, _ map[string]any) (any, error) { return e.typeRef(o.(introInput).a.Type), nil }
	resolvers["__InputValue.defaultValue"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) {
		if d := o.(introInput).a.DefaultValue; d != nil {
			return d.String(), nil
		}
		return nil, nil
	}
	resolvers["__InputValue.isDeprecated"] = func(*gqlExec, any, map[string]any) (any, error) { return false, nil }
	resolvers["__InputValue.deprecationReason"] = func(*gqlExec, any, map[string]any) (any, error) { return nil, nil }

	resolvers["__EnumValue.name"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) { return o.(introEnum).v.Name, nil }
	resolvers["__EnumValue.description"] = func(_ *gqlExec, o any, _ map[string]any) (any, error) {
		return nilIfEmpty(o.(introEnum).v.Description), nil
	}
	resolvers["__EnumValue.isDeprecated"] = func(*gqlExec, any, map[string]any) (any, error) { return false, nil }
	resolvers["__EnumValue.deprecationReason"] = func(*gqlExec, any, map[string]any) (any, error) { return nil, nil }
}
