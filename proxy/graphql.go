package proxy

import (
	"context"
	"sort"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// GraphQL requests (POST /graphql on api.github.com, /api/graphql on
// GitHub Enterprise Server), parsed with gqlparser's spec-complete lexer
// and parser: block strings, unicode escapes and comments read as GitHub
// reads them. The operation GitHub runs is chosen as GitHub chooses it
// (operationName; one operation when it is absent). A query passes. A
// mutation's root fields, through aliases, named and inline fragments and
// variables (with their defaults), are each either a ref-writing
// mutation, checked with its real target (node ids resolved through the
// API), or on the list of mutations that move no ref; any other is
// refused, as is a document the parser rejects.

// graphqlTokenLimit bounds the work of parsing one document.
const graphqlTokenLimit = 100_000

// graphqlBatchLimit bounds the requests of one JSON array.
const graphqlBatchLimit = 100

// noRefMutations move no ref (docs/agent-isolation.md lists them).
var noRefMutations = map[string]bool{
	"addComment": true, "updateIssueComment": true, "deleteIssueComment": true,
	"minimizeComment": true, "unminimizeComment": true,
	"addReaction": true, "removeReaction": true,
	"addLabelsToLabelable": true, "removeLabelsFromLabelable": true, "clearLabelsFromLabelable": true,
	"addAssigneesToAssignable": true, "removeAssigneesFromAssignable": true,
	"createIssue": true, "updateIssue": true, "closeIssue": true, "reopenIssue": true,
	"createPullRequest": true, "closePullRequest": true, "reopenPullRequest": true,
	"markPullRequestReadyForReview": true, "convertPullRequestToDraft": true, "requestReviews": true,
	"addPullRequestReview": true, "submitPullRequestReview": true, "updatePullRequestReview": true,
	"deletePullRequestReview": true, "dismissPullRequestReview": true,
	"addPullRequestReviewComment": true, "updatePullRequestReviewComment": true, "deletePullRequestReviewComment": true,
	"addPullRequestReviewThread": true, "addPullRequestReviewThreadReply": true,
	"resolveReviewThread": true, "unresolveReviewThread": true,
	"createCheckRun": true, "updateCheckRun": true, "createCheckSuite": true, "rerequestCheckSuite": true,
	"disablePullRequestAutoMerge": true, "dequeuePullRequest": true,
	"__typename": true,
}

// parseGraphQL reads a GraphQL body: one request object or an array of
// them; each becomes one scopedRequest per mutation root field.
func (p *Proxy) parseGraphQL(ep endpoint, cred credential, body []byte) ([]scopedRequest, *refusal) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, refuseMalformed("GraphQL: %v", err)
	}
	var items []any
	switch t := v.(type) {
	case map[string]any:
		items = []any{t}
	case []any:
		if len(t) == 0 || len(t) > graphqlBatchLimit {
			return nil, refuseMalformed("GraphQL: a batch of %d requests; send 1 to %d", len(t), graphqlBatchLimit)
		}
		items = t
	default:
		return nil, refuseMalformed("GraphQL: the body is neither a request object nor an array of them")
	}
	api := p.api(ep, cred)
	var out []scopedRequest
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, refuseMalformed("GraphQL: a batch holds something other than a request object")
		}
		reqs, ref := graphqlRequest(obj, api)
		if ref != nil {
			return nil, ref
		}
		out = append(out, reqs...)
	}
	return out, nil
}

// graphqlRequest parses one {"query", "operationName", "variables"}.
func graphqlRequest(obj map[string]any, api apiClient) ([]scopedRequest, *refusal) {
	query, ok := obj["query"].(string)
	if !ok {
		return nil, refuseMalformed(`GraphQL: a request without "query" (a string)`)
	}
	var opName string
	switch n := obj["operationName"].(type) {
	case nil:
	case string:
		opName = n
	default:
		return nil, refuseMalformed(`GraphQL: "operationName" is not a string`)
	}
	vars := map[string]any{}
	switch vs := obj["variables"].(type) {
	case nil:
	case map[string]any:
		vars = vs
	default:
		return nil, refuseMalformed(`GraphQL: "variables" is not an object`)
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, graphqlTokenLimit)
	if err != nil {
		return nil, refuseMalformed("GraphQL: the document does not parse: %s", trimForMessage(err.Error()))
	}
	op, ref := chooseOperation(doc, opName)
	if ref != nil {
		return nil, ref
	}
	switch op.Operation {
	case ast.Query:
		return nil, nil
	case ast.Subscription:
		return nil, refuseMalformed("GraphQL: subscriptions are not served over HTTP")
	case ast.Mutation:
	default:
		return nil, refuseMalformed("GraphQL: an operation of unknown type")
	}
	frags := map[string]*ast.FragmentDefinition{}
	for _, f := range doc.Fragments {
		if frags[f.Name] != nil {
			return nil, refuseMalformed("GraphQL: fragment %q is defined twice", trimForMessage(f.Name))
		}
		frags[f.Name] = f
	}
	var fields []*ast.Field
	if ref := rootFields(op.SelectionSet, frags, map[string]bool{}, &fields); ref != nil {
		return nil, ref
	}
	var out []scopedRequest
	for _, f := range fields {
		args := map[string]any{}
		for _, a := range f.Arguments {
			if _, dup := args[a.Name]; dup {
				return nil, refuseMalformed("GraphQL: mutation %s has argument %q twice", f.Name, trimForMessage(a.Name))
			}
			v, ref := gqlValue(a.Value, vars, op.VariableDefinitions)
			if ref != nil {
				return nil, ref
			}
			args[a.Name] = v
		}
		req, ref := mutationRequest(f.Name, args, api)
		if ref != nil {
			return nil, ref
		}
		out = append(out, req)
	}
	return out, nil
}

// chooseOperation picks the operation GitHub runs.
func chooseOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, *refusal) {
	if name == "" {
		if len(doc.Operations) != 1 {
			return nil, refuseMalformed("GraphQL: the document has %d operations and no operationName to choose one", len(doc.Operations))
		}
		return doc.Operations[0], nil
	}
	var found *ast.OperationDefinition
	for _, op := range doc.Operations {
		if op.Name == name {
			if found != nil {
				return nil, refuseMalformed("GraphQL: two operations are named %q", trimForMessage(name))
			}
			found = op
		}
	}
	if found == nil {
		return nil, refuseMalformed("GraphQL: no operation is named %q", trimForMessage(name))
	}
	return found, nil
}

// rootFields collects a mutation's root fields through fragments, named
// and inline, whatever their type conditions and directives (a field a
// directive might skip is checked all the same).
func rootFields(set ast.SelectionSet, frags map[string]*ast.FragmentDefinition, path map[string]bool, out *[]*ast.Field) *refusal {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			*out = append(*out, s)
		case *ast.InlineFragment:
			if ref := rootFields(s.SelectionSet, frags, path, out); ref != nil {
				return ref
			}
		case *ast.FragmentSpread:
			f := frags[s.Name]
			switch {
			case f == nil:
				return refuseMalformed("GraphQL: fragment %q is not defined", trimForMessage(s.Name))
			case path[s.Name]:
				return refuseMalformed("GraphQL: fragment %q spreads itself", trimForMessage(s.Name))
			}
			path[s.Name] = true
			ref := rootFields(f.SelectionSet, frags, path, out)
			delete(path, s.Name)
			if ref != nil {
				return ref
			}
		default:
			return refuseMalformed("GraphQL: a selection of unknown kind")
		}
	}
	return nil
}

// gqlValue is an argument's value with variables (and their defaults)
// put in: maps, lists, strings, json.Number-like strings, bools, nil.
func gqlValue(v *ast.Value, vars map[string]any, defs ast.VariableDefinitionList) (any, *refusal) {
	if v == nil {
		return nil, nil
	}
	switch v.Kind {
	case ast.Variable:
		def := defs.ForName(v.Raw)
		if def == nil {
			return nil, refuseMalformed("GraphQL: variable $%s is not defined by the operation", trimForMessage(v.Raw))
		}
		if val, ok := vars[v.Raw]; ok {
			return val, nil
		}
		if def.DefaultValue != nil {
			return gqlValue(def.DefaultValue, nil, nil)
		}
		return nil, nil
	case ast.StringValue, ast.BlockValue, ast.EnumValue, ast.IntValue, ast.FloatValue:
		return v.Raw, nil
	case ast.BooleanValue:
		return v.Raw == "true", nil
	case ast.NullValue:
		return nil, nil
	case ast.ListValue:
		l := []any{}
		for _, c := range v.Children {
			cv, ref := gqlValue(c.Value, vars, defs)
			if ref != nil {
				return nil, ref
			}
			l = append(l, cv)
		}
		return l, nil
	case ast.ObjectValue:
		m := map[string]any{}
		for _, c := range v.Children {
			if _, dup := m[c.Name]; dup {
				return nil, refuseMalformed("GraphQL: an input object names %q twice", trimForMessage(c.Name))
			}
			cv, ref := gqlValue(c.Value, vars, defs)
			if ref != nil {
				return nil, ref
			}
			m[c.Name] = cv
		}
		return m, nil
	}
	return nil, refuseMalformed("GraphQL: a value of unknown kind")
}

// mutationRequest is one mutation root field with its resolved
// arguments: its refs, or its place on the no-ref list, or neither.
func mutationRequest(name string, args map[string]any, api apiClient) (scopedRequest, *refusal) {
	what := "mutation " + name
	req := scopedRequest{what: what}
	if noRefMutations[name] {
		return req, nil
	}
	input, _ := args["input"].(map[string]any)
	need := func(key string) (string, *refusal) {
		s, ok := input[key].(string)
		if !ok || s == "" {
			return "", refuseMalformed("%s needs input.%s, a non-empty string", what, key)
		}
		return s, nil
	}
	// refOf resolves a Ref node id to its full name.
	refOf := func(id, how string) lookup {
		return func(ctx context.Context) ([]write, *refusal) {
			n, ref := api.node(ctx, id)
			if ref != nil {
				return nil, ref
			}
			if n.typename != "Ref" {
				return nil, refuseMalformed("%s: node %q is a %s, not a Ref", what, trimForMessage(id), trimForMessage(n.typename))
			}
			return []write{{ref: n.ref, how: how}}, nil
		}
	}
	// pullOf resolves a PullRequest node id to its base or head branch.
	pullOf := func(id string, head bool, how string) lookup {
		return func(ctx context.Context) ([]write, *refusal) {
			n, ref := api.node(ctx, id)
			if ref != nil {
				return nil, ref
			}
			if n.typename != "PullRequest" {
				return nil, refuseMalformed("%s: node %q is a %s, not a PullRequest", what, trimForMessage(id), trimForMessage(n.typename))
			}
			b := n.base
			if head {
				b = n.head
			}
			return []write{{ref: "refs/heads/" + b, how: how}}, nil
		}
	}
	switch name {
	case "createRef":
		r, ref := need("name")
		if ref != nil {
			return req, ref
		}
		req.writes = []write{{ref: r, how: "create"}}
	case "updateRef", "deleteRef":
		id, ref := need("refId")
		if ref != nil {
			return req, ref
		}
		how := "update, force allowed"
		if name == "deleteRef" {
			how, req.serial = "delete", true
		}
		req.lookups = []lookup{refOf(id, how)}
	case "updateRefs":
		ups := asList(input["refUpdates"])
		if len(ups) == 0 {
			return req, refuseMalformed("%s needs input.refUpdates", what)
		}
		for _, u := range ups {
			m, _ := u.(map[string]any)
			r, ok := m["name"].(string)
			if !ok || r == "" {
				return req, refuseMalformed("%s needs a name (a full ref) in each of input.refUpdates", what)
			}
			req.writes = append(req.writes, write{ref: r, how: "update, delete or force allowed"})
		}
		req.serial = true
	case "createCommitOnBranch":
		b, _ := input["branch"].(map[string]any)
		if b == nil {
			return req, refuseMalformed("%s needs input.branch", what)
		}
		id, hasID := b["id"]
		bn, hasName := b["branchName"]
		if (!hasID || id == nil) && (!hasName || bn == nil) {
			return req, refuseMalformed("%s needs input.branch.id or input.branch.branchName", what)
		}
		if hasID && id != nil {
			s, ok := id.(string)
			if !ok || s == "" {
				return req, refuseMalformed("%s: input.branch.id is not a node id", what)
			}
			req.lookups = append(req.lookups, refOf(s, "a commit on the branch"))
		}
		if hasName && bn != nil {
			w, ref := branchParam(what, "input.branch.branchName", bn)
			if ref != nil {
				return req, ref
			}
			req.writes = []write{w}
		}
	case "mergeBranch":
		w, ref := branchParam(what, "input.base", input["base"])
		if ref != nil {
			return req, ref
		}
		req.writes = []write{w}
	case "mergePullRequest", "enablePullRequestAutoMerge", "enqueuePullRequest", "updatePullRequestBranch":
		id, ref := need("pullRequestId")
		if ref != nil {
			return req, ref
		}
		head := name == "updatePullRequestBranch"
		how := map[string]string{
			"mergePullRequest":           "merge into the pull request's base",
			"enablePullRequestAutoMerge": "a later merge into the pull request's base",
			"enqueuePullRequest":         "a merge-queue merge into the pull request's base",
			"updatePullRequestBranch":    "an update of the pull request's head",
		}[name]
		req.lookups = []lookup{pullOf(id, head, how)}
	case "updatePullRequest":
		v, has := input["baseRefName"]
		if !has || v == nil {
			return req, nil
		}
		w, ref := branchParam(what, "input.baseRefName", v)
		if ref != nil {
			return req, ref
		}
		w.how = "the pull request's new base (what a later merge writes)"
		req.writes, req.serial = []write{w}, true
	case "createLinkedBranch":
		if v, has := input["name"]; !has || v == nil {
			req.unlisted = "without input.name it creates a branch GitHub names; give the branch's name"
			return req, nil
		}
		w, ref := branchParam(what, "input.name", input["name"])
		if ref != nil {
			return req, ref
		}
		req.writes = []write{w}
	case "revertPullRequest":
		req.unlisted = "it creates a branch GitHub names, which no scope can check; revert with git and push to a branch in scope"
	default:
		req.unlisted = "it is neither a mutation checked against the write scope nor one of the mutations that move no ref"
	}
	return req, nil
}

// asList coerces an input to a list as GraphQL does: a single value is a
// list of one.
func asList(v any) []any {
	switch l := v.(type) {
	case nil:
		return nil
	case []any:
		return l
	default:
		return []any{l}
	}
}

// noRefMutationNames is the no-ref list, sorted, for the docs test.
func noRefMutationNames() []string {
	var names []string
	for n := range noRefMutations {
		if n != "__typename" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
