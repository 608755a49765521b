package githubtest_test

import (
	"net/http"
	"testing"
	"time"
)

// TestMintOutage: an armed outage starts at the first mint after arming,
// not at arming; during it every mint answers 503 without side effects while
// other endpoints answer; after it minting works again; MintOutages records
// it.
func TestMintOutage(t *testing.T) {
	s := newServer(t)
	inst := s.AddInstallation("acme", "Organization", "widgets")
	var live tokenAnswer
	mint(t, s, inst.ID, nil, http.StatusCreated).json(t, &live)

	const length = 300 * time.Millisecond
	s.ArmMintOutage(length)
	// Longer than the outage: had it started at arming, it would be over.
	time.Sleep(2 * length)
	if n := len(s.MintOutages()); n != 0 {
		t.Fatalf("%d outages before any mint after arming, want 0", n)
	}
	before := time.Now()
	r := mint(t, s, inst.ID, nil, http.StatusServiceUnavailable)
	if r.message(t) == "" {
		t.Errorf("outage answer without GitHub's error message: %s", r.body)
	}
	mint(t, s, inst.ID, nil, http.StatusServiceUnavailable)
	// Other endpoints answer during the outage.
	wantStatus(t, do(t, http.MethodGet, s.URL+"/app/installations", "Bearer "+appJWT(t, s), nil), http.StatusOK)
	wantStatus(t, do(t, http.MethodDelete, s.URL+"/installation/token", "token "+live.Token, nil), http.StatusNoContent)

	outages := s.MintOutages()
	if len(outages) != 1 {
		t.Fatalf("MintOutages() = %+v, want one", outages)
	}
	o := outages[0]
	if o.Start.Before(before) || o.End.Sub(o.Start) != length || o.Refused != 2 {
		t.Errorf("outage %+v: want a start at the first mint after arming (>= %s), length %s, 2 refused", o, before, length)
	}
	if n := len(s.Tokens()); n != 1 {
		t.Errorf("%d tokens after the refused mints, want 1", n)
	}
	if f := s.Faults(); f.Injected5xx != 2 {
		t.Errorf("Faults() = %+v, want the 2 refused mints counted", f)
	}

	time.Sleep(time.Until(o.End))
	mint(t, s, inst.ID, nil, http.StatusCreated)
	if got := s.MintOutages(); len(got) != 1 || got[0].Refused != 2 {
		t.Errorf("after the outage MintOutages() = %+v", got)
	}

	// Armed and disarmed before a mint: nothing happens.
	s.ArmMintOutage(time.Hour)
	s.ArmMintOutage(0)
	mint(t, s, inst.ID, nil, http.StatusCreated)
	if n := len(s.MintOutages()); n != 1 {
		t.Errorf("a disarmed outage started: %d outages", n)
	}
}
