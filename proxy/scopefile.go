package proxy

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ambient-code/vault-plugin-github-app/github/branches"
)

// parseScope reads the credentials file's "branches": absent (nil raw)
// means unscoped; a list of patterns is the scope, and an empty list
// allows no branch. Anything else makes the file unusable. Messages
// never repeat the file's content.
func parseScope(raw json.RawMessage) (*branches.Scope, error) {
	if raw == nil {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, errors.New(`a "branches" that is not a list of branch patterns (strings)`)
	}
	s, err := branches.ParseScope(list)
	if err != nil {
		return nil, fmt.Errorf(`a "branches" %v`, err)
	}
	return &s, nil
}

// sameScope reports whether two credentials carry the same write scope
// (both unscoped, or the same patterns).
func sameScope(a, b credential) bool {
	if a.scope == nil || b.scope == nil {
		return a.scope == nil && b.scope == nil
	}
	return a.scope.Equal(*b.scope)
}
