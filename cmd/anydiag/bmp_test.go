package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/flap"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/gobgptest"
	"github.com/anydiag/anydiag/lab"
	api "github.com/osrg/gobgp/v3/api"
)

// poll waits for cond (a state, not a time) with lab.WaitFor's deadline;
// cond's string says what it saw, for the failure message.
func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	err := lab.WaitFor(context.Background(), 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		ok, s := cond()
		if ok {
			return true, nil
		}
		return false, errors.New(s)
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestBMPServeTracksFlaps: `anydiag bmp serve` (run in-process) receives BMP
// from a GoBGP router whose neighbor flaps a prefix; `anydiag flaps` against
// it reports the flaps under a built-in and a custom profile (given to the
// station with --flap-profile FILE). A 404 from a server without the
// tracker says who serves it.
func TestBMPServeTracksFlaps(t *testing.T) {
	dir := t.TempDir()
	strict := filepath.Join(dir, "strict.yaml")
	if err := os.WriteFile(strict, []byte("name: strict\nwithdrawal_penalty: 1000\nreadvertisement_penalty: 500\nattribute_change_penalty: 500\nsuppress_threshold: 1500\nreuse_threshold: 750\nhalf_life: 15m\nmax_suppress: 60m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bmpPort, httpPort := gobgptest.FreePort(t, "127.0.0.1"), gobgptest.FreePort(t, "127.0.0.1")
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() {
		code, _, _ := runCLIContext(ctx, "bmp", "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", bmpPort), "--http", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"--flap-profile", "cisco", "--flap-profile", strict, "--own-prefix", "203.0.113.0/24")
		served <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-served; code != exitOK {
			t.Errorf("bmp serve exited %d", code)
		}
	})
	cl := &bmp.Client{BaseURL: base}
	poll(t, "the station's HTTP API", func() (bool, string) {
		_, err := cl.Routers(context.Background())
		return err == nil, fmt.Sprint(err)
	})

	// A (AS65001) originates the prefix; B (AS65002) monitors its session
	// with A over BMP to the station.
	a := gobgptest.Start(t, 65001, "127.0.0.2")
	b := gobgptest.Start(t, 65002, "127.0.0.3")
	if err := b.S.AddBmp(context.Background(), &api.AddBmpRequest{Address: "127.0.0.1", Port: uint32(bmpPort),
		Policy: api.AddBmpRequest_PRE, StatisticsTimeout: 1, SysName: "gobgp-b"}); err != nil {
		t.Fatal(err)
	}
	a.Peer(t, b, gobgptest.PeerOptions{Passive: true})
	b.Peer(t, a, gobgptest.PeerOptions{})
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	held := func() int {
		rs, err := cl.Routes(context.Background(), bmp.RouteQuery{Prefix: pfx, Table: "adj-rib-in-pre"})
		if err != nil {
			return -1
		}
		return len(rs)
	}
	for i := 0; i < 3; i++ {
		a.Originate(t, pfx, false)
		poll(t, "the route at the station", func() (bool, string) { return held() == 1, fmt.Sprint(held()) })
		a.Originate(t, pfx, true)
		poll(t, "the withdrawal at the station", func() (bool, string) { return held() == 0, fmt.Sprint(held()) })
	}

	var rep flap.Report
	poll(t, "three flaps in the report", func() (bool, string) {
		code, out, errs := runCLI(t, "flaps", "--collector", base, "--json")
		if err := json.Unmarshal([]byte(out), &rep); err != nil || (code != exitOK && code != exitFindings) {
			return false, fmt.Sprintf("exit %d: %s %s", code, out, errs)
		}
		return len(rep.Entries) == 1 && rep.Entries[0].Flaps >= 3, out
	})
	e := rep.Entries[0]
	if rep.Profile.Name != "cisco" || e.Prefix != pfx || e.Router != "127.0.0.1" || e.Peer != "127.0.0.2" || e.Penalty < 2000 || !e.Suppressed {
		t.Fatalf("cisco report %+v", rep)
	}
	// The custom profile reaches the station's tracker: the client's file
	// and the station's agree.
	code, out, errs := runCLI(t, "flaps", "--collector", base, "--profile", strict, "--json")
	if code != exitFindings || json.Unmarshal([]byte(out), &rep) != nil || rep.Profile.Name != "strict" || len(rep.Entries) != 1 ||
		!rep.Entries[0].Suppressed || rep.Entries[0].Penalty <= e.Penalty {
		t.Fatalf("strict: exit %d %s %s", code, out, errs)
	}
	resp, err := http.Get(base + "/api/v1/findings")
	if err != nil {
		t.Fatal(err)
	}
	var fs []map[string]any
	json.NewDecoder(resp.Body).Decode(&fs)
	resp.Body.Close()
	if len(fs) == 0 || fs[0]["code"] != "bgp.prefix_dampened" {
		t.Fatalf("station findings %v", fs)
	}
	// A profile the station does not track: the 404 says how to track it.
	if code, _, errs := runCLI(t, "flaps", "--collector", base, "--profile", "juniper"); code != exitRuntime ||
		!strings.Contains(errs, "not tracked here") || !strings.Contains(errs, "--flap-profile") {
		t.Fatalf("juniper: exit %d: %s", code, errs)
	}

	// Servers that do not track flaps.
	bare := httptest.NewServer(http.NotFoundHandler())
	defer bare.Close()
	if code, _, errs := runCLI(t, "flaps", "--collector", bare.URL); code != exitRuntime ||
		!strings.Contains(errs, "404 from "+bare.URL) || !strings.Contains(errs, "collectors.bmp.enabled") || !strings.Contains(errs, "anydiag bmp serve") {
		t.Fatalf("bare 404: exit %d: %s", code, errs)
	}
	off := httptest.NewServer(flap.NotTracked("collectors.bmp.enabled is false in this agent's configuration"))
	defer off.Close()
	if code, _, errs := runCLI(t, "flaps", "--collector", off.URL); code != exitRuntime ||
		!strings.Contains(errs, "this station does not track flaps: collectors.bmp.enabled is false") {
		t.Fatalf("agent without BMP: exit %d: %s", code, errs)
	}
	if _, err := (&bmp.Client{BaseURL: bare.URL}).Peers(context.Background()); err == nil || !strings.Contains(err.Error(), "collectors.bmp.enabled") {
		t.Fatalf("bgp client on a bare 404: %v", err)
	}
}

// TestBMPServeConfig: --config's collectors.bmp (limits, flap profiles)
// reaches the station, and flags win.
func TestBMPServeConfig(t *testing.T) {
	cmd := newBMPServeCmd()
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	os.WriteFile(prof, []byte("name: p\nwithdrawal_penalty: 1000\nsuppress_threshold: 2000\nreuse_threshold: 750\nhalf_life: 15m\nmax_suppress: 60m\n"), 0o600)
	if err := cmd.ParseFlags([]string{"--listen", "127.0.0.1:1", "--flap-profile", prof, "--allow-router", "192.0.2.1", "--allow-router", "198.51.100.0/24", "--idle-timeout", "90s"}); err != nil {
		t.Fatal(err)
	}
	sc, fc, err := bmpServeConfig(cmd, "", "127.0.0.1:1", nil, []string{prof}, nil, []string{"192.0.2.1", "198.51.100.0/24"}, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Listen != "127.0.0.1:1" || len(sc.Limits.AllowRouters) != 2 || sc.Limits.AllowRouters[0].Prefix != netip.MustParsePrefix("192.0.2.1/32") ||
		sc.Limits.IdleTimeout.D() != 90*time.Second {
		t.Fatalf("station config %+v", sc)
	}
	if len(fc.CustomProfiles) != 1 || fc.CustomProfiles[0].Name != "p" || len(fc.Profiles) != 2 {
		t.Fatalf("flap config %+v", fc)
	}
	if _, _, err := bmpServeConfig(cmd, "", "", nil, nil, nil, []string{"not-an-address"}, 0); err == nil || !strings.Contains(err.Error(), "--allow-router") {
		t.Fatalf("bad allow-router: %v", err)
	}
}

// runCLIContext runs the CLI until ctx ends (for long-running commands).
func runCLIContext(ctx context.Context, args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}
