package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGhPrintsRefusals: gh (2.23 here) prints the proxy's reason for a
// refused REST write and a refused GraphQL mutation, and exits non-zero.
func TestGhPrintsRefusals(t *testing.T) {
	e := scopedEnv(t, testScope)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"HTTPS_PROXY=http://" + e.addr, "SSL_CERT_FILE=" + e.caFile, "SSL_CERT_DIR=" + filepath.Dir(e.cfg.UpstreamCA),
		"GH_TOKEN=placeholder", "GH_NO_UPDATE_NOTIFIER=1", "GH_PROMPT_DISABLED=1",
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"api", "-X", "PATCH", "repos/o/r/git/refs/heads/main", "-f", "sha=aa218f56b14c9653891f9e74264a383fa43fefbd", "-F", "force=true"},
			`gh: github-token-proxy: refused: PATCH /repos/o/r/git/refs/heads/main would write branch "main" (update, force allowed), which is outside this session's write scope (rule branch_not_in_scope). ` + scopeMsg + " (HTTP 403)"},
		{[]string{"api", "-X", "DELETE", "repos/o/r/git/refs/heads/users-work"},
			`would write branch "users-work" (delete)`},
		{[]string{"api", "graphql", "-f", "query=mutation($n: String!) { createRef(input: {repositoryId: \"R_1\", name: $n, oid: \"aa\"}) { clientMutationId } }", "-f", "n=refs/heads/main"},
			`github-token-proxy: refused: mutation createRef would write branch "main" (create)`},
		{[]string{"api", "graphql", "-f", "query=mutation { a: mergePullRequest(input: {pullRequestId: \"PR_main\"}) { clientMutationId } }"},
			`mutation mergePullRequest would write branch "main" (merge into the pull request's base)`},
	} {
		out, err := runClient(t, t.TempDir(), env, "gh", c.args...)
		t.Logf("gh %s:\n%s", strings.Join(c.args, " "), out)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("gh %s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
	}
	if out, err := runClient(t, t.TempDir(), env, "gh", "api", "repos/o/r/issues", "-f", "title=t"); err != nil {
		t.Errorf("gh api repos/o/r/issues: %v\n%s", err, out)
	}
}
