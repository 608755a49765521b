package backend

// Every request that decides a scope (a role write, a narrowing, an ad-hoc
// mint) is parsed here, once, at the path handler, into one scopeRequest:
// every spelling normalised (permission names and levels lower-cased,
// owner/name split with the owner kept for the decision, ids read from JSON
// numbers, json.Number, strings and comma lists). scope.go then decides on
// typed values only.

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// scopeRequest is a request's role fields, parsed. The *Sent flags say a
// field was in the request (sent empty resets it).
type scopeRequest struct {
	app     string // "" is "default"
	appSent bool

	bound     string
	boundSent bool

	// selector is the installation selector sent ("installation_id",
	// "owner" or "repository"), or "".
	selector       string
	installationID int64
	owner          string
	repository     string // owner/name

	repositories []string // bare names, deduplicated case-insensitively
	repoOwners   []string // the owners owner/name entries named
	reposSent    bool

	repositoryIDs []int64
	idsSent       bool

	permissions map[string]string
	permsSent   bool

	ttl     time.Duration
	ttlSent bool

	expiryBuffer *time.Duration // nil: the App's
	bufferSent   bool
}

// The fields each kind of request takes.
var (
	roleRequestFields   = []string{"app", "bound", "installation_id", "owner", "repository", "repositories", "repository_ids", "permissions", "ttl", "expiry_buffer"}
	narrowRequestFields = []string{"repositories", "repository_ids", "permissions"}
)

// parseScopeRequest parses the fields of raw that fields names (others are
// Vault's to warn about). It returns a message naming the first bad field.
func parseScopeRequest(raw map[string]any, fields []string) (*scopeRequest, string) {
	q := &scopeRequest{}
	var selectors []string
	for _, f := range fields {
		v, ok := raw[f]
		if !ok {
			continue
		}
		var msg string
		switch f {
		case "app":
			q.appSent = true
			q.app, msg = parseAppName(v)
		case "bound":
			q.boundSent = true
			q.bound, msg = parseBoundName(v)
		case "installation_id":
			selectors = append(selectors, f)
			q.installationID, msg = parseID(f, v)
		case "owner":
			selectors = append(selectors, f)
			if q.owner, msg = parseString(f, "a login", v); msg == "" {
				msg = checkOwner(f, q.owner)
			}
		case "repository":
			selectors = append(selectors, f)
			if q.repository, msg = parseString(f, "owner/name", v); msg == "" {
				_, _, msg = splitRepository(f, q.repository)
			}
		case "repositories":
			q.reposSent = true
			q.repositories, q.repoOwners, msg = parseRepositories(v)
		case "repository_ids":
			q.idsSent = true
			q.repositoryIDs, msg = parseRepositoryIDs(v)
		case "permissions":
			q.permsSent = true
			q.permissions, msg = parsePermissions(f, v)
		case "ttl":
			q.ttlSent = true
			q.ttl, msg = parseTTL(f, v)
		case "expiry_buffer":
			q.bufferSent = true
			var buf time.Duration
			var set bool
			if buf, set, msg = parseBuffer(v); set {
				q.expiryBuffer = &buf
			}
		}
		if msg != "" {
			return nil, msg
		}
	}
	switch len(selectors) {
	case 0:
	case 1:
		q.selector = selectors[0]
	default:
		return nil, fmt.Sprintf("%s: give exactly one installation selector, got %d", strings.Join(selectors, ", "), len(selectors))
	}
	if n := len(q.repositories) + len(q.repositoryIDs); n > github.MaxRepositories {
		return nil, fmt.Sprintf("repositories, repository_ids: %d repositories in all; GitHub allows at most %d in one token", n, github.MaxRepositories)
	}
	return q, ""
}

// narrows reports whether the request asks for less than the whole role.
func (q *scopeRequest) narrows() bool {
	return q != nil && (q.reposSent || q.idsSent || q.permsSent)
}

// applyTo merges q into r (a role being written, or an ad-hoc one). The
// merge rule: a field that is not sent keeps its value; a field sent empty
// is reset: repositories, repository_ids and permissions to none (the
// installation's full scope), ttl to 0 (the token's life minus the buffer),
// expiry_buffer to the config's. Sending one selector replaces the other
// two. A role given a bound and no installation selector, now or before,
// takes the bound's (bd, already read).
func (q *scopeRequest) applyTo(r *role, bd *bound) string {
	if q.boundSent {
		r.Bound = q.bound
		r.App = bd.App // a role inside a bound uses the bound's App
		if q.selector == "" && r.InstallationID == 0 && r.Owner == "" && r.Repository == "" {
			r.InstallationID, r.Owner = bd.InstallationID, bd.Owner
		}
	}
	if q.appSent {
		r.App = q.app
		if q.app == defaultApp {
			r.App = "" // stored as v0.1.x stored it
		}
	}
	if q.selector != "" {
		r.InstallationID, r.Owner, r.Repository = q.installationID, q.owner, q.repository
	}
	if r.InstallationID == 0 && r.Owner == "" && r.Repository == "" {
		return "installation_id, owner, repository: one is required to say which installation the tokens are for"
	}
	if q.reposSent {
		r.Repositories = q.repositories
	}
	if q.idsSent {
		r.RepositoryIDs = q.repositoryIDs
	}
	if n := len(r.Repositories) + len(r.RepositoryIDs); n > github.MaxRepositories {
		return fmt.Sprintf("repositories, repository_ids: %d repositories in all; GitHub allows at most %d in one token", n, github.MaxRepositories)
	}
	if q.permsSent {
		r.Permissions = q.permissions
	}
	if q.ttlSent {
		r.TTL = q.ttl
	}
	if q.bufferSent {
		r.ExpiryBuffer = q.expiryBuffer
	}
	return ""
}

// parseString reads a string field; want says what it holds.
func parseString(field, want string, raw any) (string, string) {
	s, ok := raw.(string)
	if !ok {
		return "", fmt.Sprintf("%s: must be %s (a string), got %s", field, want, jsonKind(raw))
	}
	return strings.TrimSpace(s), ""
}

// parseAppName reads the app field; "" is "default".
func parseAppName(raw any) (string, string) {
	name, msg := parseString("app", "the name of an App", raw)
	if msg != "" {
		return "", msg
	}
	if name == "" {
		return defaultApp, ""
	}
	return name, checkAppName("app", name)
}

// parseBoundName reads a role's bound field: a bound's exact name. An empty
// value is refused (a role's bound is removed by deleting the role).
func parseBoundName(raw any) (string, string) {
	name, isString := raw.(string)
	if !isString {
		return "", fmt.Sprintf("bound: must be the name of a bound (a string), got %s", jsonKind(raw))
	}
	if name == "" {
		return "", "bound: is empty; a role's bound cannot be removed by a write (an operator deletes the role and writes it again)"
	}
	return name, checkBoundName("bound", name)
}

// parseTTL reads a role's ttl or a bound's max_ttl: 0 (the token's life),
// or a whole number of seconds from 1s to a token's life. A TTL under a
// second leaves no lease: a lease is at least minLeaseTTL.
func parseTTL(field string, raw any) (time.Duration, string) {
	ttl, _, msg := parseDuration(field, raw)
	if msg != "" {
		return 0, msg
	}
	if ttl < 0 || ttl > maxTokenLife {
		return 0, fmt.Sprintf("%s: must be between 0 and %s (a token's life), got %s", field, maxTokenLife, ttl)
	}
	if ttl > 0 && ttl < minLeaseTTL {
		return 0, fmt.Sprintf("%s: %s leaves no lease: a lease lasts at least %s (0 means the token's life)", field, ttl, minLeaseTTL)
	}
	if ttl != ttl.Truncate(time.Second) {
		return 0, fmt.Sprintf("%s: %s is not a whole number of seconds", field, ttl)
	}
	return ttl, ""
}

// ceilingFields are an App's fields for its ceiling (config and apps/<name>).
func ceilingFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"max_permissions": {
			Type:        framework.TypeKVPairs,
			Description: "The most any role, bound, narrowing or ad-hoc mint of this mount may ask for, name to level. Empty: everything the App was granted.",
		},
		"default_permissions": {
			Type:        framework.TypeKVPairs,
			Description: "What a role that names no permissions and no bound gets; at or under max_permissions. Empty: max_permissions, or when that is empty too, everything the App was granted.",
		},
	}
}

// mergeCeiling applies the request's ceiling fields to cfg; an empty value
// resets a field. It returns a message naming the bad field, or "".
func mergeCeiling(cfg *appConfig, d *framework.FieldData) string {
	for _, f := range []struct {
		name string
		dst  *map[string]string
	}{{"max_permissions", &cfg.MaxPermissions}, {"default_permissions", &cfg.DefaultPermissions}} {
		raw, ok := d.Raw[f.name]
		if !ok {
			continue
		}
		perms, msg := parsePermissions(f.name, raw)
		if msg != "" {
			return msg
		}
		*f.dst = perms
	}
	if err := within(cfg.DefaultPermissions, cfg.MaxPermissions, "max_permissions"); err != nil {
		return "default_permissions: " + strings.TrimPrefix(err.Error(), logical.ErrPermissionDenied.Error()+": ")
	}
	return ""
}
