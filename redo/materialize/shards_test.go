package materialize

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/streams"
)

// TestShardLayouts: a stream with one subject fits any number of redo
// shards, a stream with more only as many; a page store keeps the redo
// shard count it was made with.
func TestShardLayouts(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	store, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: 3}, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		streamShards int
		ok           bool
	}{{1, true}, {3, true}, {2, false}, {8, false}} {
		_, err := New(Config{Layout: streams.Layout{SystemID: 1, Timeline: 1, Shards: tc.streamShards}}, nil, nil, store, prometheus.NewRegistry(), log)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrShardLayout)) {
			t.Errorf("%d stream shards over 3 redo shards: %v", tc.streamShards, err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: 2}, log); !errors.Is(err, pagestore.ErrShardsMismatch) {
		t.Fatalf("reopened with another count: %v", err)
	}
	s, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: 2, AdoptShards: true}, log)
	if err != nil || s.Shards() != 3 {
		t.Fatalf("reopened adopting the count: %v", err)
	}
	s.Close()
	if n := DefaultShards(4); n != 4 {
		t.Errorf("DefaultShards(4) = %d", n)
	}
	if n := DefaultShards(1); n < 2 {
		t.Errorf("DefaultShards(1) = %d", n)
	}
}
