package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// knownPermissions are the permission names GitHub documents for installation
// access tokens (the "app-permissions" object of the REST API) as of this
// release. They are not a limit: GitHub owns the names (Enterprise Server has
// its own, and new ones appear), so any well-formed name is accepted, an
// unknown one gets a warning, and GitHub decides.
var knownPermissions = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`
		actions actions_variables administration artifact_metadata attestations checks
		codespaces codespaces_lifecycle_admin codespaces_metadata codespaces_secrets
		contents custom_properties_for_organizations dependabot_secrets deployments
		discussions environments issues merge_queues metadata packages pages
		pull_requests repository_advisories repository_custom_properties repository_hooks
		repository_projects secret_scanning_alerts secrets security_events single_file
		statuses vulnerability_alerts workflows
		members organization_actions_variables organization_administration
		organization_announcement_banners organization_campaigns organization_codespaces
		organization_codespaces_secrets organization_codespaces_settings
		organization_copilot_agent_settings organization_copilot_seat_management
		organization_custom_org_roles organization_custom_properties organization_custom_roles
		organization_dependabot_secrets organization_events organization_hooks
		organization_packages organization_personal_access_token_requests
		organization_personal_access_tokens organization_plan organization_projects
		organization_secrets organization_self_hosted_runners organization_user_blocking
		team_discussions
		email_addresses followers git_ssh_keys gpg_keys interaction_limits profile starring`) {
		knownPermissions[n] = true
	}
}

// permissionLevels orders the levels GitHub grants.
var permissionLevels = map[string]int{"read": 1, "write": 2, "admin": 3}

var (
	roleNameRe = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,126}[A-Za-z0-9_])?$`)
	// GitHub logins: letters, digits and single hyphens; Enterprise Server
	// also allows '_' (from LDAP/SAML names).
	ownerRe = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,38})$`)
	repoRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	// permissionRe is the shape of GitHub's permission names.
	permissionRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)
)

// maxPermissions bounds the size of a permissions map. It is not GitHub's
// rule (GitHub has about 60 names today); it only keeps hostile input small.
const maxPermissions = 200

// maxID is the largest id accepted: 2^53-1, the largest integer a JSON number
// (a float64) carries exactly. GitHub's ids stay below it.
const maxID = 1<<53 - 1

// quoted is %q of an input value cut to 64 bytes (on a UTF-8 boundary), so
// that an error never echoes an oversized value into responses and logs.
//
// A value with control characters (a newline could forge a log line) is not
// shown at all, only its length.
func quoted(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return fmt.Sprintf("(a value of %d bytes with control characters, not shown)", len(s))
	}
	const limit = 64
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

func checkRoleName(name string) string {
	if !roleNameRe.MatchString(name) {
		return fmt.Sprintf("name: %s is not a valid role name: use letters, digits, '-' and '_', starting and ending with a letter, digit or '_', at most 128 characters", quoted(name))
	}
	return ""
}

func checkOwner(field, owner string) string {
	if !ownerRe.MatchString(owner) {
		return fmt.Sprintf("%s: %s is not a valid GitHub user or organization login", field, quoted(owner))
	}
	return ""
}

func checkRepoName(field, name string) string {
	if !repoRe.MatchString(name) || name == "." || name == ".." {
		return fmt.Sprintf("%s: %s is not a valid repository name", field, quoted(name))
	}
	return ""
}

// splitRepository parses "owner/name".
func splitRepository(field, full string) (owner, name, msg string) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok {
		return "", "", fmt.Sprintf("%s: %s must be owner/name", field, quoted(full))
	}
	if msg := checkOwner(field, owner); msg != "" {
		return "", "", msg
	}
	if msg := checkRepoName(field, name); msg != "" {
		return "", "", msg
	}
	return owner, name, ""
}

// rawStrings reads a list field as Vault may deliver it: a JSON array, or a
// comma-separated string. Empty entries are kept so they can be refused.
func rawStrings(field string, raw any) ([]string, string) {
	switch v := raw.(type) {
	case nil:
		return nil, ""
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, ""
		}
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, ""
	case float64:
		if msg := inexact(field, v); msg != "" {
			return nil, msg
		}
		return []string{formatNumber(v)}, ""
	case json.Number:
		return []string{v.String()}, ""
	case []string:
		return v, ""
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			switch e := e.(type) {
			case string:
				out[i] = strings.TrimSpace(e)
			case float64:
				if msg := inexact(field, e); msg != "" {
					return nil, msg
				}
				out[i] = formatNumber(e)
			case json.Number:
				out[i] = e.String()
			case int, int64, uint64:
				out[i] = fmt.Sprint(e)
			default:
				return nil, fmt.Sprintf("%s: entry %d is %s, want a string", field, i+1, jsonKind(e))
			}
		}
		return out, ""
	}
	return nil, fmt.Sprintf("%s: must be a list of strings or a comma-separated string, got %s", field, jsonKind(raw))
}

// parseRepositories validates repository names. Each is a bare name or
// owner/name. It returns bare names, deduplicated case-insensitively (as
// GitHub compares them), in the given order, and the owners that prefixed
// names named, for the decision to check against the installation's
// account.
func parseRepositories(raw any) (names []string, owners []string, msg string) {
	list, msg := rawStrings("repositories", raw)
	if msg != "" {
		return nil, nil, msg
	}
	seen := map[string]bool{}
	for _, entry := range list {
		if entry == "" {
			return nil, nil, "repositories: contains an empty name"
		}
		name := entry
		if strings.Contains(entry, "/") {
			o, n, msg := splitRepository("repositories", entry)
			if msg != "" {
				return nil, nil, msg
			}
			if !slices.ContainsFunc(owners, func(x string) bool { return strings.EqualFold(x, o) }) {
				owners = append(owners, o)
			}
			name = n
		} else if msg := checkRepoName("repositories", entry); msg != "" {
			return nil, nil, msg
		}
		if key := strings.ToLower(name); !seen[key] {
			seen[key] = true
			names = append(names, name)
		}
	}
	if len(names) > github.MaxRepositories {
		return nil, nil, fmt.Sprintf("repositories: %d given; GitHub allows at most %d in one token", len(names), github.MaxRepositories)
	}
	return names, owners, ""
}

// parseRepositoryIDs validates repository ids; an id given twice is
// refused.
func parseRepositoryIDs(raw any) ([]int64, string) {
	list, msg := rawStrings("repository_ids", raw)
	if msg != "" {
		return nil, msg
	}
	var ids []int64
	seen := map[int64]bool{}
	for _, s := range list {
		id, msg := parseIDString("repository_ids", s)
		if msg != "" {
			return nil, msg
		}
		if seen[id] {
			return nil, fmt.Sprintf("repository_ids: %d is given twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if len(ids) > github.MaxRepositories {
		return nil, fmt.Sprintf("repository_ids: %d given; GitHub allows at most %d in one token", len(ids), github.MaxRepositories)
	}
	return ids, ""
}

// parsePermissions reads a permission map of field (permissions,
// max_permissions, default_permissions) given as a JSON object, a list of
// name=level pairs, or a comma-separated string of them, and normalises it:
// names and levels are lower-cased (ASCII only: a look-alike such as the
// Kelvin sign is refused by the name's shape, not folded into another
// name), and a name given twice in any spelling is refused. It is the one
// parser of permissions; what it returns is compared as it is.
func parsePermissions(field string, raw any) (map[string]string, string) {
	type pair struct{ name, level string }
	var pairs []pair
	switch v := raw.(type) {
	case nil:
		return nil, ""
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			s, ok := v[k].(string)
			if !ok {
				return nil, fmt.Sprintf("%s: level of %s must be read, write or admin (a string), got %s", field, quoted(k), jsonKind(v[k]))
			}
			pairs = append(pairs, pair{k, s})
		}
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			pairs = append(pairs, pair{k, v[k]})
		}
	default:
		list, msg := rawStrings(field, raw)
		if msg != "" {
			return nil, strings.Replace(msg, "list of strings", "list of name=level strings", 1)
		}
		for _, p := range list {
			k, lv, ok := strings.Cut(p, "=")
			if !ok {
				return nil, fmt.Sprintf("%s: %s is not name=level", field, quoted(p))
			}
			pairs = append(pairs, pair{k, lv})
		}
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		name, level := asciiLower(strings.TrimSpace(p.name)), asciiLower(strings.TrimSpace(p.level))
		if _, dup := out[name]; dup {
			return nil, fmt.Sprintf("%s: %s is given twice (names are compared case-insensitively)", field, quoted(name))
		}
		if !permissionRe.MatchString(name) {
			return nil, fmt.Sprintf("%s: %s is not a well-formed permission name (lower-case letters, digits and '_')", field, quoted(p.name))
		}
		if permissionLevels[level] == 0 {
			return nil, fmt.Sprintf("%s: level %s for %s must be read, write or admin", field, quoted(p.level), quoted(name))
		}
		out[name] = level
	}
	if len(out) > maxPermissions {
		return nil, fmt.Sprintf("%s: %d given; at most %d names are accepted", field, len(out), maxPermissions)
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
}

// asciiLower lower-cases ASCII letters only. strings.ToLower would also fold
// look-alikes (the Kelvin sign K becomes k), letting another spelling of a
// name through; those are left as they are and refused by the name's shape.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// unknownPermissions lists, sorted, the names in perms that this release does
// not know; they are passed to GitHub, which decides.
func unknownPermissions(perms map[string]string) []string {
	var out []string
	for _, name := range sortedKeys(perms) {
		if !knownPermissions[name] {
			out = append(out, name)
		}
	}
	return out
}

// permissionWarnings are the response warnings for permission names this
// release does not know.
func permissionWarnings(perms map[string]string) []string {
	var out []string
	for _, name := range unknownPermissions(perms) {
		out = append(out, fmt.Sprintf("permissions: %q is not a permission name this engine knows; it is passed to GitHub, which decides", name))
	}
	return out
}

// formatNumber writes a JSON number as Vault's HTTP API delivers it (a
// float64) in plain decimal, so that 123456789 is "123456789", not
// "1.23456789e+08", and 1.5 stays "1.5" to be refused as a non-integer;
// from 1e21 on (where JavaScript switches too) with an exponent, so that
// 1e300 is not 301 digits long.
func formatNumber(f float64) string {
	if math.Abs(f) >= 1e21 {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// inexact refuses a JSON number beyond maxID without quoting it: through
// Vault's HTTP API it reaches the engine as a float64, already rounded
// (9007199254740993 arrives as 9007199254740992), so quoting it would
// quote something the user did not send.
func inexact(field string, f float64) string {
	if math.Abs(f) <= maxID {
		return ""
	}
	return fmt.Sprintf("%s: a number beyond %d, past what a JSON number carries exactly (it reached the engine rounded); ids are at most %d", field, int64(maxID), int64(maxID))
}

// parseIDString parses a positive integer id of at most maxID.
func parseIDString(field, s string) (int64, string) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 || id > maxID {
		return 0, fmt.Sprintf("%s: %s is not a positive integer of at most %d", field, quoted(s), int64(maxID))
	}
	return id, ""
}

// parseID reads an integer id field as any client sends it: a JSON number
// (a float64 through Vault's HTTP API), a json.Number, a Go integer (in
// process) or a numeric string (the CLI). Fractions, zero, negatives and
// values beyond maxID are refused with a message naming the field.
func parseID(field string, raw any) (int64, string) {
	switch v := raw.(type) {
	case float64:
		if msg := inexact(field, v); msg != "" {
			return 0, msg
		}
		return parseIDString(field, formatNumber(v))
	case json.Number:
		return parseIDString(field, v.String())
	case int:
		return parseIDString(field, strconv.Itoa(v))
	case int64:
		return parseIDString(field, strconv.FormatInt(v, 10))
	case string:
		return parseIDString(field, v)
	}
	return 0, fmt.Sprintf("%s: must be a positive integer, got %s", field, jsonKind(raw))
}

// durationShape is the shape of a Go duration ("90s", "1h30m", "1.5h"):
// a string of this shape that time.ParseDuration refuses is beyond what a
// duration holds.
var durationShape = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// parseDuration reads a duration field: a string Vault understands ("5m",
// "90s", "1h", "300"), or a whole number of seconds as a JSON number. ""
// and nil mean "not set" (reset to the default), reported as set=false.
// The value must lie from 0 to limit; one outside is refused before it is
// converted (a count of seconds multiplied into a duration could wrap
// around: 18446744074 seconds would come out as 290 ms), with a message
// that quotes it as it was sent and says the range, in words.
func parseDuration(field string, raw any, limit time.Duration, rangeWords string) (d time.Duration, set bool, msg string) {
	outOfRange := func(sent string) (time.Duration, bool, string) {
		return 0, false, fmt.Sprintf("%s: %s is out of range: %s", field, sent, rangeWords)
	}
	maxSeconds := int64(limit / time.Second)
	seconds := func(secs int64, sent string) (time.Duration, bool, string) {
		if secs < 0 || secs > maxSeconds {
			return outOfRange(sent)
		}
		return time.Duration(secs) * time.Second, true, ""
	}
	number := func(f float64, sent string) (time.Duration, bool, string) {
		switch {
		case f != math.Trunc(f):
			return 0, false, fmt.Sprintf("%s: %s is not a whole number of seconds", field, sent)
		case f < 0 || f > float64(maxSeconds):
			return outOfRange(sent)
		}
		return seconds(int64(f), sent)
	}
	switch v := raw.(type) {
	case nil:
		return 0, false, ""
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0, false, ""
		}
		secs, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err == nil:
			return seconds(secs, quoted(s))
		case errors.Is(err, strconv.ErrRange):
			return outOfRange(quoted(s))
		}
		d, err := time.ParseDuration(s)
		switch {
		case err == nil && (d < 0 || d > limit):
			return outOfRange(quoted(s))
		case err == nil:
			return d, true, ""
		case durationShape.MatchString(s):
			return outOfRange(quoted(s))
		}
		return 0, false, fmt.Sprintf("%s: %s is not a duration such as 5m, 90s or a number of seconds", field, quoted(s))
	case float64:
		return number(v, formatNumber(v))
	case json.Number:
		if secs, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			return seconds(secs, v.String())
		}
		f, err := v.Float64()
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false, fmt.Sprintf("%s: %s is not a number of seconds", field, quoted(v.String()))
		}
		return number(f, v.String())
	case int:
		return seconds(int64(v), strconv.Itoa(v))
	case int64:
		return seconds(v, strconv.FormatInt(v, 10))
	}
	return 0, false, fmt.Sprintf("%s: must be a duration such as 5m or a number of seconds, got %s", field, jsonKind(raw))
}

// jsonKind names the JSON type of a value, never the value itself.
func jsonKind(raw any) string {
	switch raw.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, json.Number, int, int64:
		return "a number"
	case bool:
		return "true/false"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "an unsupported value"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
