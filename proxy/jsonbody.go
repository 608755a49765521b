package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// decodeJSON decodes a request body the way the write-scope check must
// read it: into maps with exact keys (GitHub's parameters are
// case-sensitive; encoding/json's struct matching is not), refusing a
// key that appears twice in one object (which value GitHub takes is not
// ours to guess), invalid UTF-8 (which encoding/json would silently
// replace) and anything after the value. Numbers stay json.Number.
func decodeJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("the body is not valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("the body has more after its JSON value")
	}
	return v, nil
}

// maxJSONDepth bounds nesting: deeper documents are refused, not
// recursed into.
const maxJSONDepth = 64

func decodeValue(d *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("the body nests deeper than %d levels", maxJSONDepth)
	}
	tok, err := d.Token()
	if err != nil {
		return nil, errors.New("the body is not JSON")
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, errors.New("the body is not JSON")
				}
				k := kt.(string)
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("the body names the key %q twice in one object", trimForMessage(k))
				}
				if m[k], err = decodeValue(d, depth+1); err != nil {
					return nil, err
				}
			}
			if _, err := d.Token(); err != nil {
				return nil, errors.New("the body is not JSON")
			}
			return m, nil
		case '[':
			l := []any{}
			for d.More() {
				v, err := decodeValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, errors.New("the body is not JSON")
			}
			return l, nil
		}
		return nil, errors.New("the body is not JSON")
	default:
		return t, nil
	}
}

// trimForMessage shortens a client's value quoted in a message.
func trimForMessage(s string) string {
	if len(s) <= 100 {
		return s
	}
	cut := 100
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
