package backend

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Issue 22, item 4: every duration field of every path (from the backend's
// schema) refuses a value out of its range before converting it, in every
// spelling a client sends, with a 400 that names the field, quotes the
// value as sent and says the range; nothing is stored. 18446744074 seconds
// (about 584 years) multiplied into a time.Duration wraps around to 290 ms:
// on main, such an expiry_buffer was stored as 290ms.
func TestDurationsOutOfRange(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("typed", map[string]any{"owner": "acme"})
	sent := map[string]struct {
		raw  any
		says string // the value as the message must quote it
	}{
		"584 years, a JSON number":         {float64(18446744074), "18446744074"},
		"584 years, a json.Number":         {json.Number("18446744074"), "18446744074"},
		"584 years, an int64":              {int64(18446744074), "18446744074"},
		"584 years, the CLI's string":      {"18446744074", `"18446744074"`},
		"beyond int64, a string":           {"99999999999999999999", `"99999999999999999999"`},
		"beyond a duration, in hours":      {"9999999999h", `"9999999999h"`},
		"two hours":                        {"2h", `"2h"`},
		"an hour and a second, in seconds": {float64(3601), "3601"},
		"negative":                         {"-5", `"-5"`},
		"negative number":                  {float64(-5), "-5"},
		"1e300":                            {float64(1e300), "1e+300"},
	}
	fields := 0
	for _, p := range e.b.Paths {
		path, base, ok := e.bodyFor(p.Pattern)
		if !ok {
			continue
		}
		for _, field := range slices.Sorted(maps.Keys(p.Fields)) {
			if p.Fields[field].Type != framework.TypeDurationSecond {
				continue
			}
			fields++
			for name, v := range sent {
				body := maps.Clone(base)
				body[field] = v.raw
				before := e.snapshot()
				resp, err := e.req(logical.UpdateOperation, path, body)
				text := errText(resp, err)
				switch {
				case status(resp, err) != http.StatusBadRequest:
					t.Errorf("%s %s %s: %d %q, want 400", path, field, name, status(resp, err), text)
				case !strings.HasPrefix(text, field+": "+v.says+" is out of range: ") || !strings.Contains(text, "1h0m0s"):
					t.Errorf("%s %s %s: %q does not quote %s as sent and say the range", path, field, name, text, v.says)
				}
				if after := e.snapshot(); !reflect.DeepEqual(before, after) {
					t.Errorf("%s %s %s: storage changed", path, field, name)
				}
			}
		}
	}
	// expiry_buffer on config, apps/<name>, roles/<name> and token; ttl on
	// roles/<name> and token; max_ttl on bounds/<name>.
	if fields != 7 {
		t.Fatalf("%d duration fields found, want 7", fields)
	}
}
