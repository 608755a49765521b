package githubtest

// A minimal, strict GraphQL endpoint: the repository query that `gh repo
// view` sends (query RepositoryInfo($owner, $name) { repository(owner:,
// name:) { name, owner { id, login }, description } }) and the fields of a
// Repository and its owner that the double can answer truthfully. Anything
// else (another root field, an unknown field, fragments, directives,
// mutations) is a GraphQL error, never a made-up answer.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const graphqlDocs = "https://docs.github.com/graphql"

// graphqlPath is where GraphQL lives: /graphql on api.github.com, /api/graphql
// on GitHub Enterprise Server (prefix /api/v3).
func (s *Server) graphqlPath() string {
	if s.prefix == "" {
		return "/graphql"
	}
	return strings.TrimSuffix(s.prefix, "/v3") + "/graphql"
}

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Type       string            `json:"type,omitempty"`
	Path       []string          `json:"path,omitempty"`
	Extensions map[string]string `json:"extensions,omitempty"`
	Locations  []gqlLocation     `json:"locations,omitempty"`
	Message    string            `json:"message"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// serveGraphQL answers POST /graphql.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, msgNotFound, graphqlDocs)
		return
	}
	tok, ok := s.tokenAuth(w, r, graphqlDocs)
	if !ok {
		return
	}
	var req struct {
		Query         string                     `json:"query"`
		Variables     map[string]json.RawMessage `json:"variables"`
		OperationName string                     `json:"operationName"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil || json.Unmarshal(body, &req) != nil {
		writeError(w, http.StatusBadRequest, msgBadJSON, graphqlDocs)
		return
	}
	op, gerr := parseGraphQL(req.Query)
	if gerr != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []gqlError{*gerr}})
		return
	}
	data, errs := s.execGraphQL(op, req.Variables, tok, s.apiBase(r))
	out := map[string]any{}
	if data != nil {
		out["data"] = data
	}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	writeJSON(w, http.StatusOK, out)
}

// tokenAuth authenticates r by an installation token, as the REST and
// GraphQL APIs do, answering 401 if it carries none or a dead one.
func (s *Server) tokenAuth(w http.ResponseWriter, r *http.Request, doc string) (Token, bool) {
	cred, ok := installationToken(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, msgRequiresAuth, doc)
		return Token{}, false
	}
	tok, found := s.LookupToken(cred)
	if !found || !tok.Live(time.Now()) {
		writeError(w, http.StatusUnauthorized, msgBadCredentials, doc)
		return Token{}, false
	}
	return tok, true
}

// visibleRepo finds owner/name among what tok covers.
func (s *Server) visibleRepo(tok Token, owner, name string) (*Installation, Repo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.installations[tok.InstallationID]
	if in == nil || !strings.EqualFold(in.Account, owner) {
		return nil, Repo{}, false
	}
	repo, ok := in.repoByName(name)
	if !ok || !tokenCovers(&tok, repo) {
		return nil, Repo{}, false
	}
	return in, repo, true
}

// ---------------------------------------------------------------------------
// Parsing: one anonymous or named query, fields with arguments.

type gqlField struct {
	alias, name string
	args        map[string]gqlValue
	sel         []*gqlField // nil: no selection set
	loc         gqlLocation
}

type gqlValue struct {
	variable string // "$name" without the $
	literal  any    // string, number or bool, when not a variable
}

type gqlToken struct {
	kind string // "name", "string", "number", "punct", "eof"
	text string
	loc  gqlLocation
}

type gqlParser struct {
	toks []gqlToken
	pos  int
}

func parseGraphQL(src string) ([]*gqlField, *gqlError) {
	toks, err := lexGraphQL(src)
	if err != nil {
		return nil, err
	}
	p := &gqlParser{toks: toks}
	if t := p.peek(); t.kind == "name" {
		switch t.text {
		case "query":
			p.pos++
			if p.peek().kind == "name" {
				p.pos++ // operation name
			}
			if p.peek().text == "(" {
				if err := p.skipVarDefs(); err != nil {
					return nil, err
				}
			}
		default:
			return nil, &gqlError{Message: fmt.Sprintf("The GitHub double answers queries only, not %q", t.text), Locations: []gqlLocation{t.loc}}
		}
	}
	sel, err := p.selectionSet()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, p.unexpected(t)
	}
	return sel, nil
}

func (p *gqlParser) peek() gqlToken { return p.toks[p.pos] }

func (p *gqlParser) next() gqlToken {
	t := p.toks[p.pos]
	if t.kind != "eof" {
		p.pos++
	}
	return t
}

func (p *gqlParser) unexpected(t gqlToken) *gqlError {
	what := t.text
	if t.kind == "eof" {
		what = "end of file"
	}
	return &gqlError{Message: fmt.Sprintf("Parse error on %q (%s) at [%d, %d]", what, strings.ToUpper(t.kind), t.loc.Line, t.loc.Column), Locations: []gqlLocation{t.loc}}
}

func (p *gqlParser) expect(punct string) *gqlError {
	if t := p.next(); t.kind != "punct" || t.text != punct {
		return p.unexpected(t)
	}
	return nil
}

// skipVarDefs reads ($a: T!, $b: [T]) — the variables' types are not
// checked beyond their shape.
func (p *gqlParser) skipVarDefs() *gqlError {
	p.next() // (
	for p.peek().text != ")" {
		if err := p.expect("$"); err != nil {
			return err
		}
		if t := p.next(); t.kind != "name" {
			return p.unexpected(t)
		}
		if err := p.expect(":"); err != nil {
			return err
		}
		for {
			t := p.peek()
			if t.kind == "name" || (t.kind == "punct" && strings.Contains("[]!", t.text)) {
				p.next()
				continue
			}
			break
		}
		if p.peek().kind == "eof" {
			return p.unexpected(p.peek())
		}
	}
	p.next() // )
	return nil
}

func (p *gqlParser) selectionSet() ([]*gqlField, *gqlError) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var out []*gqlField
	for {
		t := p.next()
		switch {
		case t.kind == "punct" && t.text == "}":
			if len(out) == 0 {
				return nil, p.unexpected(t)
			}
			return out, nil
		case t.kind == "punct" && (t.text == "..." || t.text == "@"):
			return nil, &gqlError{Message: "The GitHub double does not support fragments or directives", Locations: []gqlLocation{t.loc}}
		case t.kind != "name":
			return nil, p.unexpected(t)
		}
		f := &gqlField{name: t.text, loc: t.loc}
		if p.peek().text == ":" {
			p.next()
			n := p.next()
			if n.kind != "name" {
				return nil, p.unexpected(n)
			}
			f.alias, f.name = t.text, n.text
		}
		if p.peek().text == "(" {
			args, err := p.arguments()
			if err != nil {
				return nil, err
			}
			f.args = args
		}
		if p.peek().text == "@" {
			return nil, &gqlError{Message: "The GitHub double does not support fragments or directives", Locations: []gqlLocation{p.peek().loc}}
		}
		if p.peek().text == "{" {
			sel, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			f.sel = sel
		}
		out = append(out, f)
	}
}

func (p *gqlParser) arguments() (map[string]gqlValue, *gqlError) {
	p.next() // (
	args := map[string]gqlValue{}
	for p.peek().text != ")" {
		n := p.next()
		if n.kind != "name" {
			return nil, p.unexpected(n)
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v := p.next()
		switch {
		case v.kind == "punct" && v.text == "$":
			name := p.next()
			if name.kind != "name" {
				return nil, p.unexpected(name)
			}
			args[n.text] = gqlValue{variable: name.text}
		case v.kind == "string":
			args[n.text] = gqlValue{literal: v.text}
		case v.kind == "number":
			f, _ := strconv.ParseFloat(v.text, 64)
			args[n.text] = gqlValue{literal: f}
		case v.kind == "name" && (v.text == "true" || v.text == "false"):
			args[n.text] = gqlValue{literal: v.text == "true"}
		default:
			return nil, p.unexpected(v)
		}
	}
	p.next() // )
	return args, nil
}

func lexGraphQL(src string) ([]gqlToken, *gqlError) {
	var toks []gqlToken
	line, col := 1, 1
	rs := []rune(src)
	for i := 0; i < len(rs); {
		c := rs[i]
		loc := gqlLocation{line, col}
		adv := func(n int) {
			for k := 0; k < n; k++ {
				if rs[i] == '\n' {
					line, col = line+1, 1
				} else {
					col++
				}
				i++
			}
		}
		switch {
		case c == ',' || unicode.IsSpace(c) || c == '\ufeff':
			adv(1)
		case c == '#':
			for i < len(rs) && rs[i] != '\n' {
				adv(1)
			}
		case c == '.' && i+2 < len(rs) && rs[i+1] == '.' && rs[i+2] == '.':
			toks = append(toks, gqlToken{"punct", "...", loc})
			adv(3)
		case strings.ContainsRune("{}():!$[]=@|&", c):
			toks = append(toks, gqlToken{"punct", string(c), loc})
			adv(1)
		case c == '_' || unicode.IsLetter(c):
			j := i
			for j < len(rs) && (rs[j] == '_' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			toks = append(toks, gqlToken{"name", string(rs[i:j]), loc})
			adv(j - i)
		case c == '-' || unicode.IsDigit(c):
			j := i + 1
			for j < len(rs) && (unicode.IsDigit(rs[j]) || strings.ContainsRune(".eE+-", rs[j])) {
				j++
			}
			toks = append(toks, gqlToken{"number", string(rs[i:j]), loc})
			adv(j - i)
		case c == '"':
			j := i + 1
			for j < len(rs) && rs[j] != '"' && rs[j] != '\n' {
				if rs[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rs) || rs[j] != '"' {
				return nil, &gqlError{Message: fmt.Sprintf("Parse error: unterminated string at [%d, %d]", loc.Line, loc.Column), Locations: []gqlLocation{loc}}
			}
			var s string
			if err := json.Unmarshal([]byte(string(rs[i:j+1])), &s); err != nil {
				return nil, &gqlError{Message: fmt.Sprintf("Parse error: bad string at [%d, %d]", loc.Line, loc.Column), Locations: []gqlLocation{loc}}
			}
			toks = append(toks, gqlToken{"string", s, loc})
			adv(j + 1 - i)
		default:
			return nil, &gqlError{Message: fmt.Sprintf("Parse error on %q at [%d, %d]", string(c), loc.Line, loc.Column), Locations: []gqlLocation{loc}}
		}
	}
	return append(toks, gqlToken{"eof", "", gqlLocation{line, col}}), nil
}

// ---------------------------------------------------------------------------
// Execution.

// gqlObject is an object of the schema: its type name and its fields, each
// a scalar (string, int64, bool, nil) or another *gqlObject.
type gqlObject struct {
	typ    string
	fields map[string]any
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

func (s *Server) execGraphQL(sel []*gqlField, vars map[string]json.RawMessage, tok Token, base string) (*orderedJSON, []gqlError) {
	root := &orderedJSON{}
	var errs []gqlError
	// Validate the whole query first, as GitHub does: an invalid query has
	// no data at all.
	for _, f := range sel {
		if f.name == "__typename" {
			continue
		}
		if f.name != "repository" {
			return nil, []gqlError{undefinedField("Query", f, []string{"query"})}
		}
		if err := validate("Repository", f.sel, f, []string{"query", f.key()}); err != nil {
			return nil, []gqlError{*err}
		}
	}
	for _, f := range sel {
		if f.name == "__typename" {
			root.keys, root.vals = append(root.keys, f.key()), append(root.vals, "Query")
			continue
		}
		owner, err1 := argString(f, "owner", vars)
		name, err2 := argString(f, "name", vars)
		if err1 != nil || err2 != nil {
			return nil, []gqlError{*cmpErr(err1, err2)}
		}
		root.keys = append(root.keys, f.key())
		in, repo, ok := s.visibleRepo(tok, owner, name)
		if !ok {
			root.vals = append(root.vals, nil)
			errs = append(errs, gqlError{Type: "NOT_FOUND", Path: []string{f.key()}, Locations: []gqlLocation{f.loc},
				Message: fmt.Sprintf("Could not resolve to a Repository with the name '%s/%s'.", owner, name)})
			continue
		}
		root.vals = append(root.vals, project(s.repoObject(in, repo, base), f.sel))
	}
	return root, errs
}

func cmpErr(a, b *gqlError) *gqlError {
	if a != nil {
		return a
	}
	return b
}

func (f *gqlField) key() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

// gqlSchema lists, per type, the fields the double answers and the type of
// each object field ("" for scalars).
var gqlSchema = map[string]map[string]string{
	"Repository": {
		"id": "", "databaseId": "", "name": "", "nameWithOwner": "", "description": "",
		"url": "", "sshUrl": "", "homepageUrl": "", "isPrivate": "", "visibility": "",
		"isFork": "", "isArchived": "", "isTemplate": "", "isEmpty": "", "createdAt": "",
		"updatedAt": "", "pushedAt": "", "__typename": "",
		"owner": "RepositoryOwner", "defaultBranchRef": "Ref",
	},
	"RepositoryOwner": {"id": "", "login": "", "url": "", "__typename": ""},
	"Ref":             {"name": "", "prefix": "", "__typename": ""},
}

func undefinedField(typ string, f *gqlField, path []string) gqlError {
	return gqlError{
		Path:       append(path, f.name),
		Extensions: map[string]string{"code": "undefinedField", "typeName": typ, "fieldName": f.name},
		Locations:  []gqlLocation{f.loc},
		Message:    fmt.Sprintf("Field '%s' doesn't exist on type '%s'", f.name, typ),
	}
}

// validate checks a selection set on typ against the schema.
func validate(typ string, sel []*gqlField, parent *gqlField, path []string) *gqlError {
	if sel == nil {
		return &gqlError{Path: path, Locations: []gqlLocation{parent.loc}, Extensions: map[string]string{"code": "selectionMismatch"},
			Message: fmt.Sprintf("Field must have selections (field '%s' returns %s but has no selections. Did you mean '%s { ... }'?)", parent.name, typ, parent.name)}
	}
	for _, f := range sel {
		sub, ok := gqlSchema[typ][f.name]
		if !ok {
			e := undefinedField(typ, f, path)
			return &e
		}
		if len(f.args) > 0 {
			return &gqlError{Path: append(path, f.key()), Locations: []gqlLocation{f.loc},
				Message: fmt.Sprintf("Field '%s' doesn't accept arguments in the GitHub double", f.name)}
		}
		switch {
		case sub != "":
			if err := validate(sub, f.sel, f, append(path, f.key())); err != nil {
				return err
			}
		case f.sel != nil:
			return &gqlError{Path: append(path, f.key()), Locations: []gqlLocation{f.loc}, Extensions: map[string]string{"code": "selectionMismatch"},
				Message: fmt.Sprintf("Selections can't be made on scalars (field '%s' returns a scalar but has selections)", f.name)}
		}
	}
	return nil
}

// argString resolves a String! argument, literal or variable.
func argString(f *gqlField, name string, vars map[string]json.RawMessage) (string, *gqlError) {
	v, ok := f.args[name]
	if !ok {
		return "", &gqlError{Path: []string{"query", f.key()}, Locations: []gqlLocation{f.loc}, Extensions: map[string]string{"code": "missingRequiredArguments"},
			Message: fmt.Sprintf("Field '%s' is missing required arguments: %s", f.name, name)}
	}
	if v.variable == "" {
		if s, ok := v.literal.(string); ok {
			return s, nil
		}
		return "", &gqlError{Path: []string{"query", f.key()}, Locations: []gqlLocation{f.loc},
			Message: fmt.Sprintf("Argument '%s' on Field '%s' has an invalid value. Expected type 'String!'.", name, f.name)}
	}
	var s string
	raw, ok := vars[v.variable]
	if !ok || json.Unmarshal(raw, &s) != nil {
		return "", &gqlError{Locations: []gqlLocation{f.loc}, Extensions: map[string]string{"code": "variableMismatch"},
			Message: fmt.Sprintf("Variable $%s of type String! was provided invalid value", v.variable)}
	}
	return s, nil
}

// project picks the selected fields of obj, in the query's order.
func project(obj *gqlObject, sel []*gqlField) *orderedJSON {
	out := &orderedJSON{}
	for _, f := range sel {
		v := obj.fields[f.name]
		if f.name == "__typename" {
			v = obj.typ
		}
		if sub, ok := v.(*gqlObject); ok {
			v = project(sub, f.sel)
		}
		out.keys, out.vals = append(out.keys, f.key()), append(out.vals, v)
	}
	return out
}

// repoObject is a repository as GraphQL sees it, consistent with repoJSON.
func (s *Server) repoObject(in *Installation, repo Repo, _ string) *gqlObject {
	full := in.Account + "/" + repo.Name
	kind := "04:User"
	if in.AccountType == "Organization" {
		kind = "012:Organization"
	}
	return &gqlObject{typ: "Repository", fields: map[string]any{
		"id":            nodeID("010:Repository", repo.ID),
		"databaseId":    repo.ID,
		"name":          repo.Name,
		"nameWithOwner": full,
		"description":   "Repository " + full + " served by the GitHub double",
		"url":           webRoot + "/" + full,
		"sshUrl":        "git@github.com:" + full + ".git",
		"homepageUrl":   nil,
		"isPrivate":     true,
		"visibility":    "PRIVATE",
		"isFork":        false,
		"isArchived":    false,
		"isTemplate":    false,
		"isEmpty":       false,
		"createdAt":     repoTime,
		"updatedAt":     repoTime,
		"pushedAt":      repoTime,
		"owner": &gqlObject{typ: in.AccountType, fields: map[string]any{
			"id":    nodeID(kind, in.accountID()),
			"login": in.Account,
			"url":   webRoot + "/" + in.Account,
		}},
		"defaultBranchRef": &gqlObject{typ: "Ref", fields: map[string]any{"name": "main", "prefix": "refs/heads/"}},
	}}
}
