package backend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// jsonSamples are one value of each JSON type, as Vault's HTTP API hands
// them to the plugin (numbers as float64).
var jsonSamples = map[string]any{
	"string": "x",
	"number": float64(7),
	"bool":   true,
	"null":   nil,
	"list":   []any{"x"},
	"object": map[string]any{"x": "y"},
}

// acceptedKinds are the JSON types a field of schema type t takes; any
// other is a 400 naming the field. null is left out: it means "not set"
// or "reset" for some fields and is refused by others, either way with no
// harm. This table is the test's own, not the engine's.
func acceptedKinds(t framework.FieldType) []string {
	switch t {
	case framework.TypeString, framework.TypeLowerCaseString, framework.TypeNameString:
		return []string{"string"}
	case framework.TypeInt, framework.TypeInt64, framework.TypeDurationSecond:
		return []string{"string", "number"}
	case framework.TypeBool:
		return []string{"string", "bool"}
	case framework.TypeCommaStringSlice, framework.TypeStringSlice, framework.TypeCommaIntSlice:
		return []string{"string", "number", "list"}
	case framework.TypeKVPairs:
		return []string{"string", "list", "object"}
	}
	return nil
}

// bodyFor is a request to a path that succeeds, so that changing one field
// tells what that field does. A path that takes a body and is missing here
// fails the test: a new path needs its base request.
func (e *testEnv) bodyFor(pattern string) (path string, body map[string]any, ok bool) {
	app := map[string]any{"app_id": e.gh.AppID, "private_key": string(e.gh.KeyPEM()), "base_url": e.gh.URL}
	switch pattern {
	case "^config$":
		return "config", app, true
	case "^apps/" + namePattern + "$":
		return "apps/fresh", app, true
	case "^roles/" + namePattern + "$":
		return "roles/written", map[string]any{"owner": "acme"}, true
	case "^bounds/" + namePattern + "$":
		return "bounds/typed", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"}, true
	case "^token/" + namePattern + "$":
		return "token/typed", map[string]any{}, true
	case "^token$":
		return "token", map[string]any{"owner": "acme"}, true
	}
	return "", nil, false
}

// TestEveryFieldEveryJSONType sends every field of every path that takes a
// request body as every JSON type. A type the field does not take is a
// 400 that names the field; no request panics (the SDK does not recover a
// handler's panic: the plugin process would die with every mount it
// serves) or fails with a 5xx. The fields come from the backend's own
// schema, so a new field is covered as it is added. Through a real Vault:
// TestEveryFieldEveryJSONTypeThroughVault (test/acceptance).
func TestEveryFieldEveryJSONType(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("typed", map[string]any{"owner": "acme"})
	captures := regexp.MustCompile(`\(\?P<([a-z_]+)>`)

	covered := 0
	for _, p := range e.b.Paths {
		var op logical.Operation
		switch {
		case p.Operations[logical.UpdateOperation] != nil:
			op = logical.UpdateOperation
		case p.Operations[logical.CreateOperation] != nil:
			op = logical.CreateOperation
		default:
			continue
		}
		path, base, ok := e.bodyFor(p.Pattern)
		if !ok {
			t.Errorf("path %s takes writes but the test has no base request for it", p.Pattern)
			continue
		}
		if resp, err := e.req(op, path, maps.Clone(base)); status(resp, err) != http.StatusOK {
			t.Fatalf("%s %s with its base request: %d %v %v", op, path, status(resp, err), err, errData(resp))
		}
		inPath := map[string]bool{}
		for _, m := range captures.FindAllStringSubmatch(p.Pattern, -1) {
			inPath[m[1]] = true
		}
		for _, field := range slices.Sorted(maps.Keys(p.Fields)) {
			if inPath[field] {
				continue
			}
			accepted := acceptedKinds(p.Fields[field].Type)
			if accepted == nil {
				t.Errorf("%s: field %s has type %s, which the test does not know", p.Pattern, field, p.Fields[field].Type)
				continue
			}
			for _, kind := range slices.Sorted(maps.Keys(jsonSamples)) {
				body := maps.Clone(base)
				body[field] = jsonSamples[kind]
				name := fmt.Sprintf("%s %s=%s", path, field, kind)
				resp, err := e.reqRecovered(op, path, body)
				covered++
				code := status(resp, err)
				switch {
				case errors.Is(err, errPanicked):
					t.Errorf("%s: %v", name, err)
				case code >= 500:
					t.Errorf("%s: %d (%v %v)", name, code, err, errData(resp))
				case kind == "null" || slices.Contains(accepted, kind):
					// Its value is judged (a 2xx or a 4xx), never a crash.
				case code != http.StatusBadRequest:
					t.Errorf("%s: %d, want 400 naming %s (%v %v)", name, code, field, err, errData(resp))
				case !strings.Contains(errText(resp, err), field):
					t.Errorf("%s: 400 %q does not name %s", name, errText(resp, err), field)
				}
				if code < 300 && strings.HasPrefix(path, "apps/") {
					e.ok(logical.DeleteOperation, path, nil)
				}
			}
		}
	}
	if covered < 250 {
		t.Fatalf("only %d field × type requests sent", covered)
	}
	t.Logf("%d field × type requests", covered)
}

var errPanicked = errors.New("the handler panicked")

// reqRecovered is req with a panic turned into an error.
func (e *testEnv) reqRecovered(op logical.Operation, path string, data map[string]any) (resp *logical.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("%w: %v", errPanicked, r)
		}
	}()
	return e.b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data, Storage: e.storage})
}
