package flap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/finding"
)

// Tracking is a flap Set fed from a BMP station's events and the handler of
// GET /api/v1/flaps: the one wiring the agent and `anydiag bmp serve` share,
// so that both answer the same.
type Tracking struct {
	Set *Set
	// Own are the node's anycast prefixes.
	Own []netip.Prefix
	// Handler serves GET /api/v1/flaps.
	Handler http.Handler

	stop func()
	wg   sync.WaitGroup
}

// Track builds the trackers c asks for and feeds them from st until ctx is
// done or Stop is called. now is the clock the penalties are decayed to
// (time.Now when nil).
func Track(ctx context.Context, st *bmp.Station, c Config, now func() time.Time) (*Tracking, error) {
	set, err := NewSetFromConfig(c)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	events, unsubscribe := st.Subscribe(4096)
	fctx, cancel := context.WithCancel(ctx)
	t := &Tracking{Set: set, Own: c.OwnPrefixes, Handler: &Handler{Set: set, Now: now, Own: c.OwnPrefixes}}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		Feed(fctx, events, set, FeedOptions{})
	}()
	var once sync.Once
	t.stop = func() {
		once.Do(func() {
			cancel()
			unsubscribe()
			t.wg.Wait()
		})
	}
	return t, nil
}

// Stop ends the feed and waits for it; the Set keeps its state.
func (t *Tracking) Stop() { t.stop() }

// Findings returns every tracker's findings at now.
func (t *Tracking) Findings(now time.Time) []finding.Finding {
	var fs []finding.Finding
	for _, tr := range t.Set.Trackers() {
		fs = append(fs, tr.Findings(now, t.Own)...)
	}
	return fs
}

// NotTracked answers GET /api/v1/flaps where no tracker runs, with a 404
// whose body says why and what would serve it (a bare 404 leaves the
// operator guessing whether the URL, the port or the configuration is wrong).
func NotTracked(why string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("this station does not track flaps: %s", why)})
	})
}

// ServedBy says which components serve GET /api/v1/flaps, for a client
// that got a bare 404.
const ServedBy = "the agent serves it when collectors.bmp.enabled is true in its configuration, and `anydiag bmp serve --http ADDR:PORT` serves it (a station older than its flap tracking answers 404: upgrade it)"
