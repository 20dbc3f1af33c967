package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// CheckFunc reports a component's health: nil when healthy.
type CheckFunc func(ctx context.Context) error

// Health is a set of named checks served on /healthz.
type Health struct {
	mu     sync.Mutex
	checks map[string]CheckFunc
}

// NewHealth returns an empty set; with no checks the process is healthy.
func NewHealth() *Health { return &Health{checks: map[string]CheckFunc{}} }

// Register adds or replaces a named check.
func (h *Health) Register(name string, check CheckFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// CheckResult is one check's outcome.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Run evaluates every check; the lock is not held while checks run.
func (h *Health) Run(ctx context.Context) (ok bool, results []CheckResult) {
	h.mu.Lock()
	names := make([]string, 0, len(h.checks))
	funcs := make(map[string]CheckFunc, len(h.checks))
	for n, f := range h.checks {
		names = append(names, n)
		funcs[n] = f
	}
	h.mu.Unlock()
	sort.Strings(names)
	ok = true
	for _, n := range names {
		r := CheckResult{Name: n, OK: true}
		if err := funcs[n](ctx); err != nil {
			r.OK, r.Error, ok = false, err.Error(), false
		}
		results = append(results, r)
	}
	return ok, results
}

// ServeHTTP answers 200 when every check passes, 503 otherwise, with the
// results as JSON.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	ok, results := h.Run(ctx)
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	status := "ok"
	if !ok {
		status = "unhealthy"
	}
	_ = json.NewEncoder(w).Encode(struct {
		Status string        `json:"status"`
		Checks []CheckResult `json:"checks"`
	}{status, results})
}
