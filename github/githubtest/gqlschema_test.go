package githubtest

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// Every field of every object type of schema.graphql has a resolver, so
// that what validates is answered, never made up or missing.
func TestGraphQLSchemaResolved(t *testing.T) {
	schema := gqlSchema()
	n := 0
	for name, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			n++
			if resolvers[name+"."+f.Name] == nil {
				t.Errorf("%s.%s has no resolver", name, f.Name)
			}
		}
	}
	for key := range resolvers {
		typ, field, _ := strings.Cut(key, ".")
		def := schema.Types[typ]
		if def == nil || def.Fields.ForName(field) == nil {
			t.Errorf("resolver %s is not a field of the schema", key)
		}
	}
	if n < 300 {
		t.Errorf("only %d fields: the schema did not load whole", n)
	}
}
