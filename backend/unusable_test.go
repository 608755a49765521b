package backend

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// withoutExpiry is a transport that takes expires_at out of the double's
// answers to mints: GitHub created the token, and the engine got a 2xx
// answer with the token and no expires_at.
type withoutExpiry struct{ base http.RoundTripper }

func (w withoutExpiry) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/access_tokens") || resp.StatusCode != http.StatusCreated {
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var answer map[string]any
	if err := json.Unmarshal(raw, &answer); err != nil {
		return nil, err
	}
	delete(answer, "expires_at")
	if raw, err = json.Marshal(answer); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	resp.ContentLength = int64(len(raw))
	resp.Header.Set("Content-Length", strconv.Itoa(len(raw)))
	return resp, nil
}

// Issue 22, item 6: a 2xx mint answer with a token and no expires_at was
// reported as ambiguous and the token left alive at GitHub. It is revoked
// (in the background, as other tokens without a lease), the mint is a 502
// that says so, and it is counted as mint_unusable.
func TestMintAnswerWithoutExpiryIsRevoked(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	e.b.httpClient.Transport = withoutExpiry{base: e.b.httpClient.Transport}
	e.b.app(defaultApp).reset() // its client copies the shared one

	resp, err := e.req(logical.ReadOperation, "token/r", nil)
	tokens := e.gh.Tokens()
	if len(tokens) != 1 {
		t.Fatalf("%d tokens minted, want 1 (not sent again)", len(tokens))
	}
	if strings.Contains(errText(resp, err), tokens[0].Value) || strings.Contains(e.logs.String(), tokens[0].Value) {
		t.Fatal("the token reached the answer or the log")
	}
	e.b.revocations.wait()
	if tok, _ := e.gh.LookupToken(tokens[0].Value); tok.RevokedAt.IsZero() {
		t.Fatal("the token GitHub returned without expires_at is still live")
	}
	if status(resp, err) != http.StatusBadGateway || !strings.Contains(errText(resp, err), "revoked") {
		t.Fatalf("mint answered without expires_at: %d %q, want a 502 saying the token is revoked", status(resp, err), errText(resp, err))
	}
	if got := failedCount(e, "mint_unusable"); got != int64(1) {
		t.Fatalf("mint_unusable = %v, want 1", got)
	}
	if got := failedCount(e, "mint_ambiguous"); got != nil {
		t.Fatalf("mint_ambiguous = %v: the outcome is known", got)
	}
}
