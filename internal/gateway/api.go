package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
)

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+control.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		state := "idle"
		select {
		case <-g.progSet:
			state = "running"
		default:
		}
		writeJSON(w, http.StatusOK, control.StatusReply{State: state, Stats: g.Stats()})
	})
	mux.HandleFunc("GET "+control.PathServers, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"data": g.dataLn.Addr().String(), "routes": g.prog.Routes})
	})
	mux.HandleFunc("POST "+control.PathProgram, func(w http.ResponseWriter, r *http.Request) {
		var p control.Program
		if !readJSON(w, r, &p) {
			return
		}
		if err := g.install(p); err != nil {
			g.recordError("install program: %v", err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"state": "running"})
	})
	mux.HandleFunc("POST "+control.PathChunks, func(w http.ResponseWriter, r *http.Request) {
		var b control.ChunkBatch
		if !readJSON(w, r, &b) {
			return
		}
		n, err := g.enqueue(b.Requests)
		reply := control.ChunkAccepted{Accepted: n}
		status := http.StatusOK
		if err != nil {
			reply.Error = err.Error()
			status = http.StatusConflict
		}
		writeJSON(w, status, reply)
	})
	mux.HandleFunc("GET "+control.PathStatusLog, func(w http.ResponseWriter, r *http.Request) {
		since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		waitMS, _ := strconv.Atoi(r.URL.Query().Get("wait_ms"))
		wait := min(time.Duration(max(waitMS, 0))*time.Millisecond, 30*time.Second)
		events := g.status.Since(r.Context(), since, wait)
		if events == nil {
			events = []control.Event{}
		}
		writeJSON(w, http.StatusOK, events)
	})
	mux.HandleFunc("GET "+control.PathErrors, func(w http.ResponseWriter, r *http.Request) {
		g.errMu.Lock()
		errs := append([]string{}, g.errs...)
		g.errMu.Unlock()
		writeJSON(w, http.StatusOK, errs)
	})
	mux.HandleFunc("POST "+control.PathShutdown, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"state": "stopping"})
		go g.Shutdown()
	})
	g.jobRoutes(mux)
	return g.authenticate(mux)
}

// authenticate requires "Authorization: Bearer <secret>": 401 without it,
// 403 with a wrong one. The compare is constant-time.
func (g *Gateway) authenticate(next http.Handler) http.Handler {
	secret := []byte(g.boot.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="skyplane-gateway"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing bearer token"})
			return
		}
		if subtle.ConstantTimeCompare([]byte(token), secret) != 1 {
			g.log.Warn("control call with a wrong secret", "from", r.RemoteAddr, "path", r.URL.Path)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "wrong bearer token"})
			return
		}
		g.lastControl.Store(time.Now().UnixNano())
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, control.MaxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request body: " + err.Error()})
		return false
	}
	return true
}
