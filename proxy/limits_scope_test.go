package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestScopeInspectionLimits: a body over the inspection limit is a 413
// that says so, sized or chunked, and never reaches GitHub; while the
// proxy-wide budget is held, a write that needs inspection gets a 503;
// the budget comes back after each request.
func TestScopeInspectionLimits(t *testing.T) {
	e := scopedEnv(t, testScope)
	big := append([]byte(`{"branch":"agent/x","content":"`), bytes.Repeat([]byte("A"), inspectLimit)...)
	big = append(big, `"}`...)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = io.MultiReader(bytes.NewReader(big))
		}
		req, _ := http.NewRequest("PUT", api+"/contents/big.bin", body)
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || !strings.Contains(string(got), "has a body over 10 MiB, more than github-token-proxy inspects") || !strings.Contains(string(got), "(rule request_too_large)") {
			t.Errorf("chunked %v: %d %s", chunked, resp.StatusCode, got)
		}
	}
	for _, r := range e.github.requests() {
		if r.Method == "PUT" {
			t.Errorf("an oversized body reached GitHub")
		}
	}
	if !e.p.scope.budget.take(inspectBudget) {
		t.Fatalf("the budget was not returned: %d held", e.p.scope.budget.held)
	}
	status, got, _ := e.send("POST", api+"/git/refs", []byte(`{"ref":"refs/heads/agent/x"}`), nil)
	if status != 503 || !strings.Contains(got, "holds 64 MiB of request bodies for inspection already; retry") {
		t.Errorf("with the budget held: %d %s", status, got)
	}
	status, _, _ = e.send("POST", "https://github.com/o/r.git/git-receive-pack", pushBody(" report-status", oidA+" "+oidB+" refs/heads/agent/x"), nil)
	if status != 503 {
		t.Errorf("a push with the budget held: %d", status)
	}
	e.p.scope.budget.give(inspectBudget)
	if status, _, _ := e.send("POST", api+"/git/refs", []byte(`{"ref":"refs/heads/agent/x"}`), nil); status != 200 {
		t.Errorf("after the budget came back: %d", status)
	}
}

// TestScopeRefusalMetrics: refusals count by rule on the metrics
// listener, every rule listed from zero.
func TestScopeRefusalMetrics(t *testing.T) {
	e := scopedEnv(t, testScope)
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.p.ServeMetrics(ml)
	e.send("PATCH", api+"/git/refs/heads/main", []byte(`{`+sha+`}`), nil)
	e.send("POST", "https://github.com/o/r.git/git-receive-pack", pushBody(" report-status", oidA+" "+oidB+" refs/heads/main"), nil)
	e.send("POST", api+"/keys", []byte(`{}`), nil)
	resp, err := http.Get("http://" + ml.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`github_token_proxy_refused_total{reason="branch_not_in_scope"} 2`,
		`github_token_proxy_refused_total{reason="write_not_listed"} 1`,
		`github_token_proxy_refused_total{reason="not_a_branch"} 0`,
		`github_token_proxy_refused_total{reason="malformed_request"} 0`,
		`github_token_proxy_refused_total{reason="request_too_large"} 0`,
		`github_token_proxy_refused_total{reason="ref_lookup_failed"} 0`,
	} {
		if !strings.Contains(string(text), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	l := e.lineFor("POST", "/o/r.git/git-receive-pack")
	if l["refused"] != ruleOutOfScope || l["ref"] != "refs/heads/main" || l["status"] != float64(200) {
		t.Errorf("the push's audit line: %v", l)
	}
}

// TestScopeSerialises: a deletion waits while a lookup-based write holds
// the proxy (here: the lock held by the test), so GitHub cannot retarget
// a pull request between a merge's lookup and the merge; writes that
// neither look up nor change a lookup's answer do not wait.
func TestScopeSerialises(t *testing.T) {
	e := scopedEnv(t, testScope)
	unlock, ok := e.p.scope.serial.lock(t.Context())
	if !ok {
		t.Fatal("lock")
	}
	done := make(chan int, 1)
	go func() {
		status, _, _ := e.send("DELETE", api+"/git/refs/heads/agent/x", nil, nil)
		done <- status
	}()
	if status, _, _ := e.send("POST", api+"/git/refs", []byte(`{"ref":"refs/heads/agent/new"}`), nil); status != 200 {
		t.Errorf("a create waited or failed: %d", status)
	}
	select {
	case s := <-done:
		t.Fatalf("the delete finished (%d) while the lock was held", s)
	default:
	}
	if e.reached("DELETE", "/repos/o/r/git/refs/heads/agent/x", nil) {
		t.Fatal("the delete reached GitHub while the lock was held")
	}
	unlock()
	if s := <-done; s != 200 || !e.reached("DELETE", "/repos/o/r/git/refs/heads/agent/x", nil) {
		t.Errorf("after the lock: %d", s)
	}
}
