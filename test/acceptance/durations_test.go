//go:build acceptance

package acceptance

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestDurationsOutOfRangeThroughVault: through a real Vault's HTTP API,
// every duration field of every path (the OpenAPI document's fields of
// format "duration") refuses 18446744074 seconds (about 584 years), sent
// as a JSON number and as the CLI's string, and two hours: a 400 that
// names the field, quotes the value as sent and says the range, and
// nothing is stored. On main, a role's expiry_buffer took 18446744074 as
// 290 ms (the seconds multiplied into a time.Duration wrapped around), and
// config's was refused with the framework's conversion error reworded as
// "must be a duration such as 5m or a whole number of seconds, not
// negative, got a number", which says neither the value nor the range.
func TestDurationsOutOfRangeThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{ExtraConfig: "raw_storage_endpoint = true"})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "typed", map[string]any{"owner": "acme"})
	storage := mountStorage(t, v, "github")
	bases := baseRequests(d)

	sent := map[string]struct {
		value any
		says  string // the value as the message quotes it
	}{
		"a JSON number":    {json.Number("18446744074"), "18446744074"},
		"the CLI's string": {"18446744074", `"18446744074"`},
		"two hours":        {"2h", `"2h"`},
	}
	fields := 0
	api := loadEngineAPI(t, v)
	for _, oasPath := range slices.Sorted(maps.Keys(api)) {
		for _, field := range slices.Sorted(maps.Keys(api[oasPath].body)) {
			if api[oasPath].body[field].Format != "duration" {
				continue
			}
			base, ok := bases[oasPath]
			if !ok {
				t.Errorf("%s has duration field %s but the test has no base request for it", oasPath, field)
				continue
			}
			fields++
			for name, s := range sent {
				body := maps.Clone(base.body)
				body[field] = s.value
				before := storage.snapshot(t)
				a := sendJSON(t, v, http.MethodPost, base.path, nil, body)
				switch want := field + ": " + s.says + " is out of range: "; {
				case a.status != http.StatusBadRequest:
					t.Errorf("POST %s %s as %s: %d %q, want 400", base.path, field, name, a.status, a.text)
				case !strings.Contains(a.text, want) || !strings.Contains(a.text, "1h0m0s"):
					t.Errorf("POST %s %s as %s: %q, want %q… and the range", base.path, field, name, a.text, want)
				}
				if after := storage.snapshot(t); diffSnapshots(before, after) != "" {
					t.Errorf("POST %s %s as %s stored something: %s", base.path, field, name, diffSnapshots(before, after))
				}
			}
		}
	}
	// expiry_buffer on config, apps/<name>, roles/<name> and token; ttl on
	// roles/<name> and token; max_ttl on bounds/<name>.
	if fields != 7 {
		t.Fatalf("%d duration fields in the OpenAPI document, want 7", fields)
	}
}
