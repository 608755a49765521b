//go:build acceptance

package acceptance

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

// oasOperation and oasPathItem are the parts of Vault's OpenAPI document
// checked here.
type oasOperation struct {
	Summary     string         `json:"summary"`
	OperationID string         `json:"operationId"`
	Parameters  []oasParameter `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

type oasParameter struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Description string `json:"description"`
}

type oasPathItem struct {
	Description string         `json:"description"`
	Parameters  []oasParameter `json:"parameters"`
	Get         *oasOperation  `json:"get"`
	Post        *oasOperation  `json:"post"`
	Delete      *oasOperation  `json:"delete"`
}

// requestSchema is the schema of op's request body, by its $ref or, when
// Vault dropped the $ref (it does for external plugins: its
// NewOASDocumentFromMap decodes the plugin's document with mapstructure,
// which does not map "$ref" to OASSchema.Ref; hashicorp/vault#30714), by
// the name Vault gives it: the operationId in PascalCase + "Request".
func requestSchema(t testing.TB, schemas map[string]oasSchema, op *oasOperation) (oasSchema, bool) {
	t.Helper()
	for _, media := range op.RequestBody.Content {
		name := strings.TrimPrefix(media.Schema.Ref, "#/components/schemas/")
		if name == "" {
			name = schemaName(op.OperationID)
			t.Logf("%s: request body has no $ref (hashicorp/vault#30714); using components/schemas/%s", op.OperationID, name)
		}
		s, ok := schemas[name]
		return s, ok
	}
	return oasSchema{}, false
}

type oasSchema struct {
	Properties map[string]struct {
		Description string `json:"description"`
	} `json:"properties"`
}

// TestOpenAPI: through a real Vault, sys/internal/specs/openapi describes
// every path of the mounted engine with the operations it serves, each
// with a summary and a unique operationId, and every parameter and
// request field with a description; `vault path-help` on a role and a
// token path prints the path's help synopsis and description and every
// field with the description OpenAPI gives it.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")

	resp, err := v.Client.Logical().ReadRaw("sys/internal/specs/openapi")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string                 `json:"openapi"`
		Paths      map[string]oasPathItem `json:"paths"`
		Components struct {
			Schemas map[string]oasSchema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("sys/internal/specs/openapi: %v", err)
	}
	t.Logf("sys/internal/specs/openapi: OpenAPI %s, %d paths, %d bytes", doc.OpenAPI, len(doc.Paths), len(raw))

	want := map[string][]string{
		"/github/config":             {"get", "post", "delete"},
		"/github/roles/":             {"get"}, // list: GET with list=true
		"/github/roles/{name}":       {"get", "post", "delete"},
		"/github/roles/{name}/check": {"get"},
		"/github/apps/":              {"get"}, // list
		"/github/apps/{name}":        {"get", "post", "delete"},
		"/github/token/{name}":       {"get", "post"},
		"/github/token":              {"post"},
		"/github/installations":      {"get"},
		"/github/info":               {"get"},
		"/github/metrics":            {"get"},
		"/github/bounds/":            {"get"},
		"/github/bounds/{name}":      {"get", "post", "delete"},
	}
	var engine []string
	for p := range doc.Paths {
		if strings.HasPrefix(p, "/github/") {
			engine = append(engine, p)
		}
	}
	slices.Sort(engine)
	if !slices.Equal(engine, slices.Sorted(maps.Keys(want))) {
		t.Errorf("engine paths in OpenAPI %v, want %v", engine, slices.Sorted(maps.Keys(want)))
	}
	ids := map[string]string{}
	for _, path := range slices.Sorted(maps.Keys(want)) {
		item, ok := doc.Paths[path]
		if !ok {
			t.Errorf("OpenAPI lacks %s", path)
			continue
		}
		if item.Description == "" {
			t.Errorf("%s has no description", path)
		}
		for _, p := range item.Parameters {
			if p.Description == "" {
				t.Errorf("%s: parameter %s has no description", path, p.Name)
			}
		}
		ops := map[string]*oasOperation{"get": item.Get, "post": item.Post, "delete": item.Delete}
		for method, op := range ops {
			if op != nil && !slices.Contains(want[path], method) {
				t.Errorf("%s has an unexpected %s operation", path, method)
			}
		}
		for _, method := range want[path] {
			op := ops[method]
			if op == nil {
				t.Errorf("%s lacks %s", path, method)
				continue
			}
			t.Logf("%-6s %-22s %-45s %s", method, path, op.OperationID, op.Summary)
			if op.Summary == "" || op.OperationID == "" {
				t.Errorf("%s %s: summary %q, operationId %q", method, path, op.Summary, op.OperationID)
			}
			if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %q used by %s and %s %s", op.OperationID, prev, method, path)
			}
			ids[op.OperationID] = method + " " + path
			for _, p := range op.Parameters {
				if p.Description == "" {
					t.Errorf("%s %s: parameter %s has no description", method, path, p.Name)
				}
			}
			if op.RequestBody != nil {
				schema, ok := requestSchema(t, doc.Components.Schemas, op)
				if !ok || len(schema.Properties) == 0 {
					t.Errorf("%s %s: no request body schema with fields", method, path)
				}
				for f, prop := range schema.Properties {
					if prop.Description == "" {
						t.Errorf("%s %s: field %s has no description", method, path, f)
					}
				}
			}
		}
	}
	if p, ok := doc.Paths["/github/roles/"]; ok && p.Get != nil && !slices.ContainsFunc(p.Get.Parameters, func(p oasParameter) bool { return p.Name == "list" && p.In == "query" }) {
		t.Error("GET /github/roles/ lacks the list query parameter")
	}

	// vault path-help: the synopsis, description and fields of the path.
	for _, c := range []struct {
		path, oasPath string
		fields        []string
		words         []string
		// never: what path-help must not claim (GitHub does not revoke
		// at lease end, Vault does; an empty narrowing is the role's).
		never []string
	}{
		{"github/roles/x", "/github/roles/{name}",
			[]string{"name", "installation_id", "owner", "repository", "repositories", "repository_ids", "permissions", "ttl", "expiry_buffer", "bound", "branches"},
			[]string{"Manage roles", "installation", `"**" does not exist`, "enforced by github-token-proxy"}, nil},
		{"github/bounds/x", "/github/bounds/{name}",
			[]string{"name", "installation_id", "owner", "repositories", "max_permissions", "max_ttl", "branches"},
			[]string{"Manage bounds", "bound=<name>", "ceiling on the roles' write scope"}, nil},
		{"github/token/x", "/github/token/{name}",
			[]string{"name", "repositories", "repository_ids", "permissions", "branches"},
			[]string{"Mint a GitHub installation access token", "narrows the token", "bot_login", "bot_email",
				"When Vault ends the lease (at its TTL or on a revoke), the engine revokes the token at GitHub",
				"left out or empty keeps the role's value", "Absent or empty: the role's."},
			[]string{"GitHub revokes", "every repository of the installation", "all the App was granted"}},
		{"github/", "", nil,
			[]string{"when Vault ends the lease (at its TTL or on a revoke), the engine revokes the token at GitHub"},
			[]string{"GitHub revokes"}},
	} {
		out, err := v.cli(nil, "path-help", c.path)
		if err != nil {
			t.Errorf("vault path-help %s: %v: %s", c.path, err, out)
			continue
		}
		t.Logf("vault path-help %s:\n%s", c.path, out)
		flat := strings.Join(strings.Fields(out), " ")
		for _, w := range c.words {
			if !strings.Contains(flat, w) {
				t.Errorf("path-help %s does not mention %q", c.path, w)
			}
		}
		for _, w := range c.never {
			if strings.Contains(flat, w) {
				t.Errorf("path-help %s says %q", c.path, w)
			}
		}
		if c.oasPath == "" {
			continue // the engine's own help: no path in OpenAPI
		}
		if syn := doc.Paths[c.oasPath].Description; syn == "" || !strings.Contains(flat, strings.Join(strings.Fields(syn), " ")) {
			t.Errorf("path-help %s does not print the synopsis %q", c.path, syn)
		}
		// Field descriptions, as OpenAPI has them for the path's write.
		descs := map[string]string{}
		if op := doc.Paths[c.oasPath].Post; op != nil && op.RequestBody != nil {
			schema, _ := requestSchema(t, doc.Components.Schemas, op)
			for f, prop := range schema.Properties {
				descs[f] = prop.Description
			}
		}
		for _, p := range doc.Paths[c.oasPath].Parameters {
			descs[p.Name] = p.Description
		}
		for _, f := range c.fields {
			desc, ok := descs[f]
			if !ok {
				t.Errorf("OpenAPI has no field %s for %s", f, c.oasPath)
				continue
			}
			if !strings.Contains(out, "\n"+f+" (") && !strings.Contains(out, " "+f+" (") {
				t.Errorf("path-help %s does not list field %s", c.path, f)
			}
			if d := strings.Join(strings.Fields(desc), " "); !strings.Contains(flat, d) {
				t.Errorf("path-help %s does not print %s's description %q", c.path, f, d)
			}
		}
	}
}
