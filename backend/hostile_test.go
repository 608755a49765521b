package backend

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin/pb"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// hostileCase is one malformed or hostile request. The engine must refuse
// it with status (400, or 403 where it is a matter of permission) and a
// message containing field, store nothing and mint nothing.
type hostileCase struct {
	op     logical.Operation
	path   string
	data   map[string]any
	status int
	field  string
	// github: the engine may ask GitHub before refusing (an installation_id
	// role whose repositories name an owner). Otherwise no call may reach
	// the double.
	github bool
}

// hostileKeys are private keys GitHub would never issue, or that are not
// keys at all.
type hostileKeys struct {
	ec, ecSEC1, ed25519, rsa1024, encrypted, encryptedPKCS8 string
	trailing, twoBlocks, public, corrupt, huge              string
}

func makeHostileKeys(t *testing.T, good string) hostileKeys {
	t.Helper()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	small, smallPEM := rsaKeyPEM(t, 1024)
	pubDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(good))
	corrupt := append([]byte{}, block.Bytes...)
	for i := 40; i < 80; i++ {
		corrupt[i] ^= 0xff
	}
	enc := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	return hostileKeys{
		ec:             enc("PRIVATE KEY", ecDER),
		ecSEC1:         enc("EC PRIVATE KEY", sec1),
		ed25519:        enc("PRIVATE KEY", edDER),
		rsa1024:        smallPEM,
		encrypted:      string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"}, Bytes: block.Bytes})),
		encryptedPKCS8: enc("ENCRYPTED PRIVATE KEY", block.Bytes),
		trailing:       good + "trailing garbage\n",
		twoBlocks:      good + smallPEM,
		public:         enc("PUBLIC KEY", pubDER),
		corrupt:        enc("RSA PRIVATE KEY", corrupt),
		huge:           strings.Repeat("A", 10<<20), // 10 MB, valid base64 of zeros
	}
}

// hostileCases is the single list of malformed and hostile input for the
// engine's paths (issue 5). Every test env has the App configured and these
// roles: "web" (owner acme; widgets, gadgets; contents=read,
// pull_requests=write) and "ids" (owner acme; its first repository id,
// githubtest.FirstRepositoryID).
func hostileCases(keys hostileKeys) map[string]hostileCase {
	const (
		bad       = http.StatusBadRequest
		forbidden = http.StatusForbidden
	)
	cfg := func(field string, value any) map[string]any {
		return map[string]any{field: value}
	}
	role := func(extra map[string]any) map[string]any {
		d := map[string]any{"owner": "acme"}
		for k, v := range extra {
			if v == nil {
				delete(d, k)
			} else {
				d[k] = v
			}
		}
		return d
	}
	list := func(n int, format string) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf(format, i)
		}
		return out
	}
	ids := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = githubtest.FirstRepositoryID + int64(i)
		}
		return out
	}
	manyPerms := map[string]any{}
	for i := range 10_000 {
		manyPerms[fmt.Sprintf("perm_%d", i)] = "read"
	}
	const (
		up, cr        logical.Operation = logical.UpdateOperation, logical.CreateOperation
		c, tok, adhoc                   = "config", "token/web", "token"
	)

	return map[string]hostileCase{
		// Keys.
		"config key not PEM":             {up, c, cfg("private_key", "hello, I am a key"), bad, "private_key", false},
		"config key EC PKCS8":            {up, c, cfg("private_key", keys.ec), bad, "private_key", false},
		"config key EC SEC1":             {up, c, cfg("private_key", keys.ecSEC1), bad, "private_key", false},
		"config key Ed25519":             {up, c, cfg("private_key", keys.ed25519), bad, "private_key", false},
		"config key RSA 1024-bit":        {up, c, cfg("private_key", keys.rsa1024), bad, "private_key", false},
		"config key encrypted PEM":       {up, c, cfg("private_key", keys.encrypted), bad, "private_key", false},
		"config key encrypted PKCS8":     {up, c, cfg("private_key", keys.encryptedPKCS8), bad, "private_key", false},
		"config key trailing garbage":    {up, c, cfg("private_key", keys.trailing), bad, "private_key", false},
		"config key two PEM blocks":      {up, c, cfg("private_key", keys.twoBlocks), bad, "private_key", false},
		"config key public key":          {up, c, cfg("private_key", keys.public), bad, "private_key", false},
		"config key corrupt DER":         {up, c, cfg("private_key", keys.corrupt), bad, "private_key", false},
		"config key empty":               {up, c, cfg("private_key", ""), bad, "private_key", false},
		"config key 10 MB":               {up, c, cfg("private_key", keys.huge), bad, "private_key", false},
		"config key not a string":        {up, c, cfg("private_key", map[string]any{"pem": "x"}), bad, "private_key", false},
		"config app_id 0":                {up, c, cfg("app_id", 0), bad, "app_id", false},
		"config app_id negative":         {up, c, cfg("app_id", -7), bad, "app_id", false},
		"config app_id not numeric":      {up, c, cfg("app_id", "one"), bad, "app_id", false},
		"config app_id overflows int64":  {up, c, cfg("app_id", "99999999999999999999"), bad, "app_id", false},
		"config app_id a list":           {up, c, cfg("app_id", []any{1, 2}), bad, "app_id", false},
		"config client_id path chars":    {up, c, cfg("client_id", "Iv1/../x"), bad, "client_id", false},
		"config client_id 65 chars":      {up, c, cfg("client_id", strings.Repeat("a", 65)), bad, "client_id", false},
		"config base_url http":           {up, c, cfg("base_url", "http://github.example.com/api/v3"), bad, "base_url", false},
		"config base_url query":          {up, c, cfg("base_url", "https://ghe.example.com/api/v3?x=1"), bad, "base_url", false},
		"config base_url empty query":    {up, c, cfg("base_url", "https://ghe.example.com/api/v3?"), bad, "base_url", false},
		"config base_url fragment":       {up, c, cfg("base_url", "https://ghe.example.com/api/v3#x"), bad, "base_url", false},
		"config base_url ftp":            {up, c, cfg("base_url", "ftp://ghe.example.com/"), bad, "base_url", false},
		"config base_url credentials":    {up, c, cfg("base_url", "https://u:p@ghe.example.com/api/v3"), bad, "base_url", false},
		"config base_url no host":        {up, c, cfg("base_url", "https:///api/v3"), bad, "base_url", false},
		"config base_url not a URL":      {up, c, cfg("base_url", "https://ghe.example.com:port/\x00"), bad, "base_url", false},
		"config expiry_buffer negative":  {up, c, cfg("expiry_buffer", -1), bad, "expiry_buffer", false},
		"config expiry_buffer 1h":        {up, c, cfg("expiry_buffer", "1h"), bad, "expiry_buffer", false},
		"config expiry_buffer not a dur": {up, c, cfg("expiry_buffer", "soon"), bad, "expiry_buffer", false},

		// Installation selectors.
		"role two selectors":          {cr, "roles/new", role(map[string]any{"installation_id": githubtest.FirstInstallationID}), bad, "installation_id, owner", false},
		"role three selectors":        {cr, "roles/new", role(map[string]any{"installation_id": githubtest.FirstInstallationID, "repository": "acme/widgets"}), bad, "installation_id, owner, repository", false},
		"role no selector":            {cr, "roles/new", role(map[string]any{"owner": nil, "repositories": "widgets"}), bad, "installation_id, owner, repository", false},
		"role installation_id 0":      {cr, "roles/new", role(map[string]any{"owner": nil, "installation_id": 0}), bad, "installation_id", false},
		"role installation_id -1":     {cr, "roles/new", role(map[string]any{"owner": nil, "installation_id": -1}), bad, "installation_id", false},
		"role installation_id text":   {cr, "roles/new", role(map[string]any{"owner": nil, "installation_id": "acme"}), bad, "installation_id", false},
		"role owner with slash":       {cr, "roles/new", role(map[string]any{"owner": "acme/widgets"}), bad, "owner", false},
		"role owner empty":            {cr, "roles/new", role(map[string]any{"owner": ""}), bad, "owner", false},
		"role owner 40 chars":         {cr, "roles/new", role(map[string]any{"owner": strings.Repeat("a", 40)}), bad, "owner", false},
		"role repository no slash":    {cr, "roles/new", role(map[string]any{"owner": nil, "repository": "widgets"}), bad, "repository", false},
		"role repository two slashes": {cr, "roles/new", role(map[string]any{"owner": nil, "repository": "acme/widgets/x"}), bad, "repository", false},

		// Repositories.
		"role 501 repositories":              {cr, "roles/new", role(map[string]any{"repositories": list(501, "repo-%d")}), bad, "repositories", false},
		"role 100,000 repositories":          {cr, "roles/new", role(map[string]any{"repositories": list(100_000, "repo-%d")}), bad, "repositories", false},
		"role repository of another owner":   {cr, "roles/new", role(map[string]any{"repositories": "evil/widgets"}), bad, "repositories", false},
		"role repo of other owner, repo sel": {cr, "roles/new", role(map[string]any{"owner": nil, "repository": "acme/widgets", "repositories": "evil/widgets"}), bad, "repositories", false},
		"role repo of other owner, inst id":  {cr, "roles/new", role(map[string]any{"owner": nil, "installation_id": githubtest.FirstInstallationID, "repositories": "evil/widgets"}), bad, "repositories", true},
		"role empty repository name":         {cr, "roles/new", role(map[string]any{"repositories": "widgets,,tools"}), bad, "repositories", false},
		"role empty name in a list":          {cr, "roles/new", role(map[string]any{"repositories": []any{"widgets", " "}}), bad, "repositories", false},
		"role repository ..":                 {cr, "roles/new", role(map[string]any{"repositories": ".."}), bad, "repositories", false},
		"role repository path traversal":     {cr, "roles/new", role(map[string]any{"repositories": "acme/../evil"}), bad, "repositories", false},
		"role repository not a string":       {cr, "roles/new", role(map[string]any{"repositories": []any{map[string]any{"name": "x"}}}), bad, "repositories", false},
		"role repository 1 MB name":          {cr, "roles/new", role(map[string]any{"repositories": strings.Repeat("r", 1<<20)}), bad, "repositories", false},
		"role repository 1 MB owner":         {cr, "roles/new", role(map[string]any{"owner": nil, "repository": strings.Repeat("o", 1<<20) + "/x"}), bad, "repository", false},
		"role owner 1 MB":                    {cr, "roles/new", role(map[string]any{"owner": strings.Repeat("o", 1<<20)}), bad, "owner", false},
		"role repository_ids 1 MB entry":     {cr, "roles/new", role(map[string]any{"repository_ids": []any{strings.Repeat("9", 1<<20)}}), bad, "repository_ids", false},
		"role repository_ids text":           {cr, "roles/new", role(map[string]any{"repository_ids": []any{"x"}}), bad, "repository_ids", false},
		"role repository_ids 0":              {cr, "roles/new", role(map[string]any{"repository_ids": []any{0}}), bad, "repository_ids", false},
		"role repository_ids negative":       {cr, "roles/new", role(map[string]any{"repository_ids": "-5"}), bad, "repository_ids", false},
		"role 501 repository_ids":            {cr, "roles/new", role(map[string]any{"repository_ids": ids(501)}), bad, "repository_ids", false},
		"role 300 names + 300 ids":           {cr, "roles/new", role(map[string]any{"repositories": list(300, "r%d"), "repository_ids": ids(300)}), bad, "repositories, repository_ids", false},

		// Permissions.
		"role malformed permission":        {cr, "roles/new", role(map[string]any{"permissions": "content$=read"}), bad, "content$", false},
		"role unknown level":               {cr, "roles/new", role(map[string]any{"permissions": "contents=owner"}), bad, "permissions", false},
		"role permission level none":       {cr, "roles/new", role(map[string]any{"permissions": map[string]any{"contents": "none"}}), bad, "permissions", false},
		"role permission not a pair":       {cr, "roles/new", role(map[string]any{"permissions": []any{"contents"}}), bad, "permissions", false},
		"role permission level a number":   {cr, "roles/new", role(map[string]any{"permissions": map[string]any{"contents": 3}}), bad, "permissions", false},
		"role permission twice":            {cr, "roles/new", role(map[string]any{"permissions": "contents=read,Contents=admin"}), bad, "permissions", false},
		"role 10,000 permissions":          {cr, "roles/new", role(map[string]any{"permissions": manyPerms}), bad, "permissions", false},
		"role permission name 1 MB":        {cr, "roles/new", role(map[string]any{"permissions": map[string]any{strings.Repeat("p", 1<<20): "read"}}), bad, "permissions", false},
		"role permission level 1 MB":       {cr, "roles/new", role(map[string]any{"permissions": map[string]any{"contents": strings.Repeat("w", 1<<20)}}), bad, "permissions", false},
		"role permission pair 1 MB":        {cr, "roles/new", role(map[string]any{"permissions": strings.Repeat("p", 1<<20)}), bad, "permissions", false},
		"role permissions not an object":   {cr, "roles/new", role(map[string]any{"permissions": 42}), bad, "permissions", false},
		"role ttl over 1h":                 {cr, "roles/new", role(map[string]any{"ttl": "2h"}), bad, "ttl", false},
		"role ttl negative":                {cr, "roles/new", role(map[string]any{"ttl": -5}), bad, "ttl", false},
		"role ttl not a duration":          {cr, "roles/new", role(map[string]any{"ttl": "forever"}), bad, "ttl", false},
		"role expiry_buffer 1h":            {cr, "roles/new", role(map[string]any{"expiry_buffer": 3600}), bad, "expiry_buffer", false},
		"role update keeps refusing ttl":   {up, "roles/web", map[string]any{"ttl": "61m"}, bad, "ttl", false},
		"role update with two selectors":   {up, "roles/web", map[string]any{"installation_id": githubtest.FirstInstallationID, "repository": "acme/tools"}, bad, "installation_id, repository", false},
		"role update 501 repositories":     {up, "roles/web", map[string]any{"repositories": list(501, "x%d")}, bad, "repositories", false},
		"role update malformed permission": {up, "roles/web", map[string]any{"permissions": "root!=admin"}, bad, "root!", false},
		"role name with a dot":             {cr, "roles/a.b", role(nil), bad, "name", false},
		"role name with a slash":           {cr, "roles/team-a/x", role(nil), bad, "name", false},
		"role name ..":                     {cr, "roles/..", role(nil), bad, "name", false},
		"role name leading dash":           {cr, "roles/-a", role(nil), bad, "name", false},
		"role name with a space":           {cr, "roles/a b", role(nil), bad, "name", false},
		"role name 129 chars":              {cr, "roles/" + strings.Repeat("a", 129), role(nil), bad, "name", false},
		"role name 1 MB":                   {cr, "roles/" + strings.Repeat("n", 1<<20), role(nil), bad, "name", false},
		"role name unicode":                {cr, "roles/tëam", role(nil), bad, "name", false},
		"role delete with a dot":           {logical.DeleteOperation, "roles/web.bak", nil, bad, "name", false},
		"role read with a slash":           {logical.ReadOperation, "roles/web/x", nil, bad, "name", false},
		"token for a name with a dot":      {logical.ReadOperation, "token/web.x", nil, bad, "name", false},
		"token for a name with a slash":    {logical.ReadOperation, "token/web/../ids", nil, bad, "name", false},
		"token for a name of 1 MB":         {logical.ReadOperation, "token/" + strings.Repeat("n", 1<<20), nil, bad, "name", false},
		"token for a role that is absent":  {logical.ReadOperation, "token/nope", nil, bad, `role "nope"`, false},

		// Narrowing: more than the role allows is 403, malformed is 400.
		"narrow to a repository not in the role":    {up, tok, map[string]any{"repositories": "tools"}, forbidden, `repository "tools"`, false},
		"narrow to a repository id not in the role": {up, "token/ids", map[string]any{"repository_ids": []any{githubtest.FirstRepositoryID + 1}}, forbidden, fmt.Sprintf("repository id %d", githubtest.FirstRepositoryID+1), false},
		"narrow to ids on a names role":             {up, tok, map[string]any{"repository_ids": []any{githubtest.FirstRepositoryID + 2}}, forbidden, fmt.Sprintf("repository id %d", githubtest.FirstRepositoryID+2), true},
		"narrow to a permission not in the role":    {up, tok, map[string]any{"permissions": "issues=read"}, forbidden, `permission "issues"`, false},
		"narrow to a higher level":                  {up, tok, map[string]any{"permissions": "contents=write"}, forbidden, "contents=write", false},
		"narrow to admin":                           {up, tok, map[string]any{"permissions": map[string]any{"pull_requests": "admin"}}, forbidden, "pull_requests=admin", false},
		"narrow to one allowed and one not":         {up, tok, map[string]any{"repositories": []any{"widgets", "tools"}}, forbidden, `repository "tools"`, false},
		"narrow to another owner's repository":      {up, tok, map[string]any{"repositories": "evil/widgets"}, forbidden, `owner "evil"`, false},
		"narrow to an empty repository name":        {up, tok, map[string]any{"repositories": "widgets,"}, bad, "repositories", false},
		"narrow to 100,000 repositories":            {up, tok, map[string]any{"repositories": list(100_000, "repo-%d")}, bad, "repositories", false},
		"narrow with a permission not in the role":  {up, tok, map[string]any{"permissions": "contents=read,bogus=read"}, forbidden, "bogus", false},
		"narrow with 10,000 permissions":            {up, tok, map[string]any{"permissions": manyPerms}, bad, "permissions", false},
		"narrow with repository_ids text":           {up, tok, map[string]any{"repository_ids": "abc"}, bad, "repository_ids", false},

		// Ad-hoc tokens take the role fields and their checks.
		"ad-hoc no selector":          {up, adhoc, map[string]any{"repositories": "widgets"}, bad, "installation_id, owner, repository", false},
		"ad-hoc two selectors":        {up, adhoc, map[string]any{"owner": "acme", "repository": "acme/widgets"}, bad, "owner, repository", false},
		"ad-hoc 501 repositories":     {up, adhoc, role(map[string]any{"repositories": list(501, "repo-%d")}), bad, "repositories", false},
		"ad-hoc unknown level":        {up, adhoc, role(map[string]any{"permissions": "contents=all"}), bad, "permissions", false},
		"ad-hoc 10,000 permissions":   {up, adhoc, role(map[string]any{"permissions": manyPerms}), bad, "permissions", false},
		"ad-hoc ttl over 1h":          {up, adhoc, role(map[string]any{"ttl": 3601}), bad, "ttl", false},
		"ad-hoc other owner's repo":   {up, adhoc, role(map[string]any{"repositories": "evil/x"}), bad, "repositories", false},
		"ad-hoc installation_id text": {up, adhoc, map[string]any{"installation_id": "1e3"}, bad, "installation_id", false},
	}
}

// boundaryStatus is the HTTP status a real Vault answers for what the
// backend returned: the error crosses the plugin's gRPC boundary (which
// keeps only logical.HTTPCodedError, errutil.UserError and the bare
// sentinels), then Vault's HTTP layer maps it.
func boundaryStatus(req *logical.Request, resp *logical.Response, err error) int {
	err = pb.ProtoErrToErr(pb.ErrToProtoErr(err))
	status, err := logical.RespondErrorCommon(req, resp, err)
	if err != nil {
		logical.AdjustErrorStatusCode(&status, err)
	}
	return status
}

// TestHostileInput runs the hostile table through the backend: every case
// is refused with its status and a message naming the field; storage is
// unchanged; nothing is minted; bad config input never reaches GitHub; no
// message carries key material or echoes an oversized value.
func TestHostileInput(t *testing.T) {
	// One App key for every case: each case gets its own double and
	// storage, without generating a key each time.
	base := newTestBackend(t)
	goodKey := string(base.gh.KeyPEM())
	keys := makeHostileKeys(t, goodKey)
	keyLines := strings.Split(strings.TrimSpace(goodKey), "\n")
	keyLines = keyLines[1 : len(keyLines)-1]

	cases := hostileCases(keys)
	if len(cases) < 40 {
		t.Fatalf("%d hostile cases, want at least 40", len(cases))
	}
	statuses := map[int]int{}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newTestBackend(t, githubtest.WithKey(base.gh.Key))
			e.configure(nil)
			e.writeRole("web", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "permissions": "contents=read,pull_requests=write"})
			e.writeRole("ids", map[string]any{"owner": "acme", "repository_ids": []any{e.acme.Repositories[0].ID}})
			data := tc.data
			if tc.path == "config" {
				// A complete, valid config with the case's field changed.
				data = map[string]any{"app_id": e.gh.AppID, "private_key": goodKey, "base_url": e.gh.URL}
				maps.Copy(data, tc.data)
			}
			before := e.snapshot()
			tokens := len(e.gh.Tokens())
			e.gh.ResetCalls()

			req := &logical.Request{Operation: tc.op, Path: tc.path, Data: data, Storage: e.storage}
			resp, err := e.b.HandleRequest(context.Background(), req)

			var text string
			switch tc.status {
			case http.StatusForbidden:
				if !errors.Is(err, logical.ErrPermissionDenied) {
					t.Fatalf("want logical.ErrPermissionDenied, got err=%v resp=%v", err, errData(resp))
				}
				text = err.Error()
			case http.StatusBadRequest:
				var userErr errutil.UserError
				switch {
				case err == nil && resp != nil && resp.IsError():
					text = resp.Error().Error()
				case errors.As(err, &userErr):
					text = err.Error()
				default:
					t.Fatalf("want an error response (400), got err=%v resp=%v", err, errData(resp))
				}
			}
			if got := boundaryStatus(req, resp, err); got != tc.status {
				t.Errorf("a real Vault would answer HTTP %d, want %d: %s", got, tc.status, clip(text))
			}
			statuses[tc.status]++
			if !strings.Contains(text, tc.field) {
				t.Errorf("error does not name %q: %s", tc.field, clip(text))
			}
			// The SDK's own field parsing ("Field validation failed: ...")
			// echoes the raw value whatever its size; the engine's messages
			// must not.
			if len(text) > 1024 && !strings.HasPrefix(text, "Field validation failed") {
				t.Errorf("error is %d bytes long: it echoes the oversized input: %s", len(text), clip(text))
			}
			for _, line := range keyLines {
				if strings.Contains(text, line) {
					t.Fatalf("error carries private key material: %s", clip(text))
				}
			}
			if strings.Contains(text, "PRIVATE KEY-----") || strings.Contains(text, "MII") {
				t.Fatalf("error carries key material: %s", clip(text))
			}
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Errorf("storage changed:\nbefore %v\nafter  %v", clipMap(before), clipMap(after))
			}
			// Only the probe that resolves repository ids to names
			// (scope.go) may mint: metadata=read, revoked at once (in
			// the background).
			e.b.revocations.wait()
			for _, tk := range e.gh.Tokens()[tokens:] {
				if !reflect.DeepEqual(tk.Permissions, map[string]string{"metadata": "read"}) || tk.RevokedAt.IsZero() {
					t.Errorf("a refused request minted a token: %v, revoked %v", tk.Permissions, !tk.RevokedAt.IsZero())
				}
			}
			if calls := e.gh.Calls(); !tc.github && len(calls) != 0 {
				t.Errorf("refused input reached GitHub: %+v", calls)
			}
		})
	}
	t.Logf("%d hostile cases: %d answered 400, %d answered 403", len(cases), statuses[http.StatusBadRequest], statuses[http.StatusForbidden])
}

func clip(s string) string {
	if len(s) > 300 {
		return fmt.Sprintf("%s…[%d bytes]", s[:300], len(s))
	}
	return s
}

func clipMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = clip(v)
	}
	return out
}
