package backend

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// TestOpenAPI checks the OpenAPI document Vault serves for the mount
// (sys/internal/specs/openapi): every path has a description, every
// operation a summary and an operation id, every field a description.
func TestOpenAPI(t *testing.T) {
	e := newTestBackend(t)
	resp, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Storage: e.storage, MountPoint: "github/", MountType: "vault-plugin-github-app"})
	if err != nil {
		t.Fatal(err)
	}
	doc := resp.Data["openapi"].(*framework.OASDocument)
	want := map[string][]string{
		"/config":        {"get", "post", "delete"},
		"/roles/":        {"get"},
		"/roles/{name}":  {"get", "post", "delete"},
		"/bounds/":       {"get"},
		"/bounds/{name}": {"get", "post", "delete"},
		"/token/{name}":  {"get", "post"},
		"/token":         {"post"},
		"/installations": {"get"},
		"/info":          {"get"},
		"/metrics":       {"get"},
	}
	ids := map[string]string{}
	for path, ops := range want {
		item, ok := doc.Paths[path]
		if !ok {
			t.Errorf("OpenAPI lacks %s (has %v)", path, keys(doc.Paths))
			continue
		}
		if item.Description == "" {
			t.Errorf("%s has no description", path)
		}
		for _, method := range ops {
			op := map[string]*framework.OASOperation{"get": item.Get, "post": item.Post, "delete": item.Delete}[method]
			if op == nil {
				t.Errorf("%s lacks %s", path, method)
				continue
			}
			if op.Summary == "" || op.OperationID == "" {
				t.Errorf("%s %s: summary %q, operationId %q", method, path, op.Summary, op.OperationID)
			}
			if !strings.HasPrefix(op.OperationID, "github-app-") {
				t.Errorf("%s %s: operationId %q lacks the engine prefix", method, path, op.OperationID)
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
				for _, media := range op.RequestBody.Content {
					schema := media.Schema
					if schema.Ref != "" {
						name := strings.TrimPrefix(schema.Ref, "#/components/schemas/")
						schema = doc.Components.Schemas[name]
					}
					for field, prop := range schema.Properties {
						if prop.Description == "" {
							t.Errorf("%s %s: field %s has no description", method, path, field)
						}
					}
				}
			}
		}
	}
	if !doc.Components.Schemas[findSchema(doc, "Configure")].Properties["private_key"].DisplayAttrs.Sensitive {
		t.Error("private_key is not marked sensitive")
	}
	t.Logf("%d operations documented", len(ids))
}

func findSchema(doc *framework.OASDocument, contains string) string {
	for name := range doc.Components.Schemas {
		if strings.Contains(name, contains) {
			return name
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
