package node

import (
	"testing"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
)

// TestSizeFromBudgetNone: without a budget nothing changes, so every
// component keeps its default.
func TestSizeFromBudgetNone(t *testing.T) {
	m := materialize.Config{ImageEvery: 8}
	s := pagestore.Options{Dir: "x"}
	SizeFromBudget(ops.MemoryBudget{}, &m, &s)
	if m != (materialize.Config{ImageEvery: 8}) || s != (pagestore.Options{Dir: "x"}) {
		t.Fatalf("no budget changed the configuration: %+v %+v", m, s)
	}
}

func TestSizeFromBudget(t *testing.T) {
	b := ops.SplitMemory(512 << 20)
	var m materialize.Config
	var s pagestore.Options
	SizeFromBudget(b, &m, &s)
	if m.CachePages != b.CachePages || m.SpillPages != b.SpillPages || m.ReadCachePages != b.ReadCachePages || m.BatchMessages != 0 ||
		m.BatchBytes != b.BatchBytes || m.EvictImageAfter != b.EvictImageAfter || s.MemTableSize != b.MemTableSize || s.BlockCacheSize != b.BlockCacheSize ||
		s.IndexCacheSize != b.IndexCacheSize {
		t.Fatalf("budget %+v gave %+v %+v", b, m, s)
	}
	// Explicit settings win; a disabled read cache stays disabled.
	m = materialize.Config{CachePages: 100, SpillPages: -1, ReadCachePages: -1, BatchMessages: 7, BatchBytes: 1 << 20, EvictImageAfter: 5}
	s = pagestore.Options{MemTableSize: 1 << 20, BlockCacheSize: 2 << 20, IndexCacheSize: 3 << 20}
	SizeFromBudget(b, &m, &s)
	if m != (materialize.Config{CachePages: 100, SpillPages: -1, ReadCachePages: -1, BatchMessages: 7, BatchBytes: 1 << 20, EvictImageAfter: 5}) ||
		s != (pagestore.Options{MemTableSize: 1 << 20, BlockCacheSize: 2 << 20, IndexCacheSize: 3 << 20}) {
		t.Fatalf("explicit settings overridden: %+v %+v", m, s)
	}
}
