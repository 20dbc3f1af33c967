package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/redo/rebuild"
)

// TestMarkIfDamaged: a materializer that stopped on a damaged page store
// leaves the store marked, and the next OpenStore moves it aside and opens
// an empty one; any other error leaves the store alone.
func TestMarkIfDamaged(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	open := func(dir string) (*pagestore.Store, bool) {
		t.Helper()
		s, fresh, err := rebuild.OpenStore(pagestore.Options{Dir: dir, Shards: 1}, log, rebuild.NewMetrics(prometheus.NewRegistry()))
		if err != nil {
			t.Fatal(err)
		}
		return s, fresh
	}
	for _, tc := range []struct {
		name    string
		err     error
		rebuilt bool
	}{
		{"damaged", fmt.Errorf("shard 1: load page 1663/5/16384 blk 0: %w", pagestore.ErrDamaged), true},
		{"other", errors.New("shard 1: consumer deleted"), false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pages")
			s, _ := open(dir)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := markIfDamaged(dir, tc.err, log); got != tc.err {
				t.Fatalf("returned %v, want %v", got, tc.err)
			}
			s, _ = open(dir)
			defer s.Close()
			moved, _ := filepath.Glob(dir + ".broken-*")
			if (len(moved) == 1) != tc.rebuilt {
				t.Fatalf("moved aside: %v, want a move: %v", moved, tc.rebuilt)
			}
			if _, err := os.Stat(filepath.Join(dir, "DAMAGED")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the store in use is marked damaged (%v)", err)
			}
		})
	}
}
