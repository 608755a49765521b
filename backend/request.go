package backend

// Every request that writes an App, a role or a bound, narrows a token or
// mints one ad hoc is parsed here, once, at the edge (HandleRequest, input.go),
// into one typed value: every spelling normalised (permission names and
// levels lower-cased, owner/name split with the owner kept for the decision,
// ids read from JSON numbers, json.Number, strings and comma lists, keys and
// URLs parsed), every JSON type checked before it is read. The handlers and
// scope.go then decide on typed values only; none of them reads raw request
// data.

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// requestParser parses the fields a path's writes (or reads) take into a
// typed request; it returns a message naming the first bad field. The
// fields are taken off the request before the framework sees it, so no
// handler can read them raw.
type requestParser struct {
	ops    []logical.Operation
	fields []string
	parse  func(raw map[string]any) (any, string)
}

var writeOps = []logical.Operation{logical.CreateOperation, logical.UpdateOperation}

// The parsers, by kind of request.
var (
	roleParser = requestParser{ops: writeOps, fields: roleRequestFields, parse: func(raw map[string]any) (any, string) {
		return parseScopeRequest(raw, roleRequestFields)
	}}
	narrowParser = requestParser{ops: append([]logical.Operation{logical.ReadOperation}, writeOps...), fields: narrowRequestFields, parse: func(raw map[string]any) (any, string) {
		return parseScopeRequest(raw, narrowRequestFields)
	}}
	appParser = requestParser{ops: writeOps, fields: appRequestFields, parse: func(raw map[string]any) (any, string) {
		return parseAppRequest(raw)
	}}
	boundParser = requestParser{ops: writeOps, fields: boundRequestFields, parse: func(raw map[string]any) (any, string) {
		return parseBoundRequest(raw)
	}}
)

// parsedBy marks p's requests as parsed by rp (HandleRequest routes by the
// path itself, never by its pattern) and returns p.
func (b *backend) parsedBy(rp requestParser, p *framework.Path) *framework.Path {
	b.parsers[p] = rp
	return p
}

type requestKey struct{}

// requestOf is the typed request HandleRequest parsed for this request.
func requestOf[T any](ctx context.Context) (T, error) {
	q, ok := ctx.Value(requestKey{}).(T)
	if !ok {
		return q, errors.New("the request's fields were not parsed")
	}
	return q, nil
}

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
	ttl, _, msg := parseDuration(field, raw, maxTokenLife, fmt.Sprintf("must be from 0 to %s (a token's life), in whole seconds", maxTokenLife))
	if msg != "" {
		return 0, msg
	}
	if ttl > 0 && ttl < minLeaseTTL {
		return 0, fmt.Sprintf("%s: %s leaves no lease: a lease lasts at least %s (0 means the token's life)", field, ttl, minLeaseTTL)
	}
	if ttl != ttl.Truncate(time.Second) {
		return 0, fmt.Sprintf("%s: %s is not a whole number of seconds", field, ttl)
	}
	return ttl, ""
}

// parseBuffer reads an expiry_buffer: at least 0, less than a token's
// life; set is false for "" (the default).
func parseBuffer(raw any) (buf time.Duration, set bool, msg string) {
	return parseDuration("expiry_buffer", raw, maxTokenLife-time.Nanosecond, fmt.Sprintf("must be at least 0 and less than %s (a token's life)", maxTokenLife))
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

// appRequest is an App write's fields (config, apps/<name>), parsed. The
// *Sent flags say a field was in the request.
type appRequest struct {
	appID     int64
	appIDSent bool

	clientID     string
	clientIDSent bool

	privateKey string // the PEM as sent, and parsed
	key        *rsa.PrivateKey
	keySent    bool

	baseURL     string // normalised
	baseURLSent bool

	caCertificate string // trimmed PEM, checked; "" resets
	caSent        bool

	expiryBuffer time.Duration // the default when sent empty
	bufferSent   bool

	maxPermissions, defaultPermissions map[string]string
	maxSent, defaultsSent              bool
}

var appRequestFields = []string{"app_id", "client_id", "private_key", "base_url", "ca_certificate", "expiry_buffer", "max_permissions", "default_permissions"}

// parseAppRequest parses an App write; it returns a message naming the
// first bad field.
func parseAppRequest(raw map[string]any) (*appRequest, string) {
	q := &appRequest{}
	for _, f := range appRequestFields {
		v, ok := raw[f]
		if !ok {
			continue
		}
		var msg string
		switch f {
		case "app_id":
			q.appIDSent = true
			q.appID, msg = parseID(f, v)
		case "client_id":
			q.clientIDSent = true
			if q.clientID, msg = parseString(f, "the App's client id", v); msg == "" && !validClientID(q.clientID) {
				msg = "client_id: must be the App's client id: letters, digits and '.', at most 64 characters"
			}
		case "private_key":
			q.keySent = true
			s, isString := v.(string)
			if !isString {
				msg = fmt.Sprintf("private_key: must be a PEM private key (a string), got %s", jsonKind(v))
				break
			}
			key, err := github.ParsePrivateKey([]byte(s))
			if err != nil {
				msg = "private_key: " + err.Error()
				break
			}
			q.privateKey, q.key = s, key
		case "base_url":
			q.baseURLSent = true
			var s string
			if s, msg = parseString(f, "a URL", v); msg == "" {
				u, err := github.NormalizeBaseURL(s)
				if err != nil {
					msg = "base_url: " + err.Error()
				}
				q.baseURL = u
			}
		case "ca_certificate":
			q.caSent = true
			if q.caCertificate, msg = parseString(f, "PEM certificates", v); msg == "" && q.caCertificate != "" {
				if _, err := github.CertPoolFromPEM([]byte(q.caCertificate)); err != nil {
					msg = "ca_certificate: " + err.Error()
				}
			}
		case "expiry_buffer":
			q.bufferSent = true
			var set bool
			q.expiryBuffer, set, msg = parseBuffer(v)
			if !set {
				q.expiryBuffer = defaultExpiryBuffer
			}
		case "max_permissions":
			q.maxSent = true
			q.maxPermissions, msg = parsePermissions(f, v)
		case "default_permissions":
			q.defaultsSent = true
			q.defaultPermissions, msg = parsePermissions(f, v)
		}
		if msg != "" {
			return nil, msg
		}
	}
	return q, ""
}

// boundRequest is a bound write's fields, parsed. Repository entries are
// checked against the bound's owner when merged (path_bounds.go), since an
// owner/name entry needs the owner the bound ends up with.
type boundRequest struct {
	app     string // "" is "default"
	appSent bool

	selector       string // "installation_id", "owner" or ""
	installationID int64
	owner          string

	repositories []string
	reposSent    bool

	maxPermissions map[string]string
	permsSent      bool

	maxTTL  time.Duration
	ttlSent bool
}

var boundRequestFields = []string{"app", "installation_id", "owner", "repositories", "max_permissions", "max_ttl"}

// parseBoundRequest parses a bound write; it returns a message naming the
// first bad field.
func parseBoundRequest(raw map[string]any) (*boundRequest, string) {
	q := &boundRequest{}
	var selectors []string
	for _, f := range boundRequestFields {
		v, ok := raw[f]
		if !ok {
			continue
		}
		var msg string
		switch f {
		case "app":
			q.appSent = true
			q.app, msg = parseAppName(v)
		case "installation_id":
			selectors = append(selectors, f)
			q.installationID, msg = parseID(f, v)
		case "owner":
			selectors = append(selectors, f)
			if q.owner, msg = parseString(f, "a login", v); msg == "" {
				msg = checkOwner(f, q.owner)
			}
		case "repositories":
			q.reposSent = true
			q.repositories, msg = rawStrings(f, v)
		case "max_permissions":
			q.permsSent = true
			q.maxPermissions, msg = parsePermissions(f, v)
		case "max_ttl":
			q.ttlSent = true
			q.maxTTL, msg = parseTTL(f, v)
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
	return q, ""
}
