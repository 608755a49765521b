//go:build acceptance

package acceptance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// typedParameter is a query parameter with its type.
type typedParameter struct {
	Name   string `json:"name"`
	In     string `json:"in"`
	Schema struct {
		Type string `json:"type"`
	} `json:"schema"`
}

// jsonKindSamples are one value of each JSON type.
var jsonKindSamples = map[string]any{
	"string": "x",
	"number": 7,
	"bool":   true,
	"null":   nil,
	"list":   []any{"x"},
	"object": map[string]any{"x": "y"},
}

// acceptedJSONKinds are the JSON types a field of an OpenAPI type takes;
// any other must be a 400 naming the field. null is judged like an
// accepted type: it is "not set" or "reset" for some fields and refused
// by others.
func acceptedJSONKinds(typ, format string) []string {
	switch {
	case typ == "string" && format == "duration":
		return []string{"string", "number"} // "5m", or seconds
	case typ == "string":
		return []string{"string"}
	case typ == "integer":
		return []string{"string", "number"} // the CLI sends strings
	case typ == "boolean":
		return []string{"string", "bool"}
	case typ == "array":
		return []string{"string", "number", "list"} // a comma list, one id, a list
	case typ == "object":
		return []string{"string", "list", "object"} // name=level pairs
	}
	return nil
}

// engineAPI is what sys/internal/specs/openapi says of the engine mounted
// at github/: by OpenAPI path, the fields of a POST's request body with
// their types, and a GET's query parameters.
type engineAPI map[string]struct {
	body  map[string]typedProperty // nil: no POST with a body
	query []typedParameter
}

type typedProperty struct {
	Type   string `json:"type"`
	Format string `json:"format"`
}

func loadEngineAPI(t *testing.T, v *vaultServer) engineAPI {
	t.Helper()
	resp, err := v.Client.Logical().ReadRaw("sys/internal/specs/openapi")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]struct {
			Get *struct {
				Parameters []typedParameter `json:"parameters"`
			} `json:"get"`
			Post *oasOperation `json:"post"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	api := engineAPI{}
	for oasPath, item := range doc.Paths {
		if !strings.HasPrefix(oasPath, "/github/") {
			continue
		}
		e := api[oasPath]
		if item.Get != nil {
			e.query = item.Get.Parameters
		}
		if item.Post != nil && item.Post.RequestBody != nil {
			for _, media := range item.Post.RequestBody.Content {
				name := strings.TrimPrefix(media.Schema.Ref, "#/components/schemas/")
				if name == "" { // hashicorp/vault#30714: see requestSchema
					name = schemaName(item.Post.OperationID)
				}
				var schema struct {
					Properties map[string]typedProperty `json:"properties"`
				}
				if err := json.Unmarshal(doc.Components.Schemas[name], &schema); err != nil {
					t.Fatalf("%s: schema %s: %v", oasPath, name, err)
				}
				if len(schema.Properties) == 0 {
					t.Errorf("%s: request schema %s has no fields", oasPath, name)
				}
				e.body = schema.Properties
			}
		}
		api[oasPath] = e
	}
	return api
}

// baseRequest is, by OpenAPI path, a request that succeeds (on a mount
// configured for d with role "typed" written), so that one field changed
// tells what that field does.
type baseRequest struct {
	path string
	body map[string]any
}

func baseRequests(d *githubtest.Server) map[string]baseRequest {
	app := map[string]any{"app_id": d.AppID, "private_key": string(d.KeyPEM()), "base_url": d.URL}
	return map[string]baseRequest{
		"/github/config":        {"github/config", app},
		"/github/apps/{name}":   {"github/apps/fresh", app},
		"/github/roles/{name}":  {"github/roles/written", map[string]any{"owner": "acme"}},
		"/github/bounds/{name}": {"github/bounds/typed", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"}},
		"/github/token/{name}":  {"github/token/typed", map[string]any{}},
		"/github/token":         {"github/token", map[string]any{"owner": "acme"}},
	}
}

// sendJSON sends body (if not nil) as JSON to path with the root token.
func sendJSON(t *testing.T, v *vaultServer, method, path string, query url.Values, body map[string]any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	return rawRequest(t, v, v.RootToken, method, target, "application/json", r)
}

// TestEveryFieldEveryJSONTypeThroughVault: through a real Vault's HTTP API,
// every field of every path the engine's OpenAPI document lists as a
// request body (or a query parameter) is sent as every JSON type (string,
// number, bool, null, list, object; a query as a string and a repeated
// parameter, the list a query can carry). A type the field does not take
// is a 400 that names the field; nothing is a 5xx; afterwards the plugin
// still answers and the Vault log shows no panic and no plugin restart.
// The paths and fields come from sys/internal/specs/openapi, so a new
// field is covered as soon as it is added; a new path that takes a body
// needs its base request below, or the test fails.
func TestEveryFieldEveryJSONTypeThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "typed", map[string]any{"owner": "acme"})

	bases := baseRequests(d)
	// Reads with query parameters, by OpenAPI path.
	reads := map[string]string{
		"/github/token/{name}":       "github/token/typed",
		"/github/roles/{name}/check": "github/roles/typed/check",
		"/github/installations":      "github/installations",
		"/github/metrics":            "github/metrics",
	}
	api := loadEngineAPI(t, v)
	send := func(method, path string, query url.Values, body map[string]any) answer {
		return sendJSON(t, v, method, path, query, body)
	}
	judge := func(name, field string, accepted bool, a answer) {
		t.Helper()
		switch {
		case a.status >= 500 || a.status == 0:
			t.Errorf("%s: %d %s", name, a.status, a.text)
		case accepted:
			// Its value is judged (a 2xx or a 4xx), never a crash.
		case a.status != http.StatusBadRequest:
			t.Errorf("%s: %d %q, want 400 naming %s", name, a.status, a.text, field)
		case !strings.Contains(a.text, field):
			t.Errorf("%s: 400 %q does not name %s", name, a.text, field)
		}
	}

	sent := 0
	for _, oasPath := range slices.Sorted(maps.Keys(api)) {
		item := api[oasPath]
		if item.body != nil {
			base, ok := bases[oasPath]
			if !ok {
				t.Errorf("%s takes a request body but the test has no base request for it", oasPath)
				continue
			}
			if a := send(http.MethodPost, base.path, nil, base.body); a.status >= 300 {
				t.Fatalf("POST %s with its base request: %d %s", base.path, a.status, a.text)
			}
			for _, field := range slices.Sorted(maps.Keys(item.body)) {
				prop := item.body[field]
				accepted := acceptedJSONKinds(prop.Type, prop.Format)
				if accepted == nil {
					t.Errorf("%s: field %s has type %s/%s, which the test does not know", oasPath, field, prop.Type, prop.Format)
					continue
				}
				for _, kind := range slices.Sorted(maps.Keys(jsonKindSamples)) {
					body := maps.Clone(base.body)
					body[field] = jsonKindSamples[kind]
					a := send(http.MethodPost, base.path, nil, body)
					sent++
					judge(fmt.Sprintf("POST %s %s=%s", base.path, field, kind), field, kind == "null" || slices.Contains(accepted, kind), a)
					if a.status < 300 && strings.HasPrefix(base.path, "github/apps/") {
						if _, err := v.Client.Logical().Delete(base.path); err != nil {
							t.Fatalf("deleting %s: %v", base.path, err)
						}
					}
				}
			}
		}
		for _, p := range item.query {
			if p.In != "query" || p.Name == "list" {
				continue
			}
			path, ok := reads[oasPath]
			if !ok {
				t.Errorf("%s takes query parameter %s but the test has no path for it", oasPath, p.Name)
				continue
			}
			// A query carries strings only: one, or several (a list).
			for kind, values := range map[string][]string{"string": {"x"}, "list": {"x", "y"}} {
				a := send(http.MethodGet, path, url.Values{p.Name: values}, nil)
				sent++
				judge(fmt.Sprintf("GET %s?%s (%s)", path, p.Name, kind), p.Name, kind == "string" || p.Schema.Type == "array", a)
			}
		}
	}
	if sent < 250 {
		t.Fatalf("only %d field × type requests sent", sent)
	}
	t.Logf("%d field × type requests sent through Vault", sent)

	// The plugin still answers, and never died meanwhile.
	if s, err := v.Client.Logical().Read("github/info"); err != nil || s == nil || s.Data["version"] != pluginVersion {
		t.Fatalf("github/info after the requests: %v %v", s, err)
	}
	for _, sign := range []string{"panic:", "plugin process exited", "plugin exited"} {
		if v.logContains(sign) {
			t.Errorf("the Vault log shows %q: the plugin died", sign)
		}
	}
}

// schemaName is the name Vault gives an operation's request schema: its
// operationId in PascalCase + "Request".
func schemaName(operationID string) string {
	var b strings.Builder
	for _, w := range strings.Split(operationID, "-") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String() + "Request"
}
