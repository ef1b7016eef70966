package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
)

// registry holds the live runs' scopes and, per chunk, the newest attempt
// this gateway has seen: a gateway writes only where a live run says, and
// never data of an attempt older than one it already has.
type registry struct {
	mu       sync.Mutex
	runs     map[string][]control.Scope
	attempts map[chunk.ID]int
}

func (r *registry) register(j control.JobRegistration) error {
	if j.Run == "" || len(j.Scopes) == 0 {
		return errors.New("job registration needs a run id and at least one scope")
	}
	for _, s := range j.Scopes {
		if s.Bucket.URL == "" {
			return fmt.Errorf("run %s: a scope has no store URL", j.Run)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string][]control.Scope{}
	}
	r.runs[j.Run] = append(r.runs[j.Run], j.Scopes...)
	return nil
}

// end forgets a run; once no run is live, the attempt record goes too.
func (r *registry) end(run string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.runs, run)
	if len(r.runs) == 0 {
		r.attempts = nil
	}
}

// live reports whether run is registered and not ended.
func (r *registry) live(run string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.runs[run]
	return ok
}

// allows reports whether run is live and may write d. A frame is judged by
// its own run's scopes only: a late frame of an ended run must not write
// under a later run that happens to cover the same keys.
func (r *registry) allows(run string, d chunk.Dest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.runs[run] {
		if s.Allows(d) {
			return true
		}
	}
	return false
}

// anyAllowed: some destination of req is still wanted by its run.
func (r *registry) anyAllowed(req chunk.Request) bool {
	for _, d := range req.Dests {
		if r.allows(req.Run, d) {
			return true
		}
	}
	return false
}

// see records attempt for id and reports whether it is the newest so far
// (or ties with it): older attempts are stale.
func (r *registry) see(id chunk.ID, attempt int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempts == nil {
		r.attempts = map[chunk.ID]int{}
	}
	if seen, ok := r.attempts[id]; ok && attempt < seen {
		return false
	}
	r.attempts[id] = attempt
	return true
}

// current reports whether attempt is still the newest seen for id.
func (r *registry) current(id chunk.ID, attempt int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen, ok := r.attempts[id]
	return !ok || attempt >= seen
}

func (g *Gateway) jobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+control.PathJobs, func(w http.ResponseWriter, r *http.Request) {
		var j control.JobRegistration
		if !readJSON(w, r, &j) {
			return
		}
		if err := g.jobs.register(j); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		g.log.Info("job registered", "run", j.Run, "scopes", len(j.Scopes))
		writeJSON(w, http.StatusOK, map[string]string{"state": "registered"})
	})
	mux.HandleFunc("POST "+control.PathRunEnd, func(w http.ResponseWriter, r *http.Request) {
		var e control.RunEnd
		if !readJSON(w, r, &e) {
			return
		}
		g.jobs.end(e.Run)
		g.log.Info("run ended", "run", e.Run)
		writeJSON(w, http.StatusOK, map[string]string{"state": "ended"})
	})
}
