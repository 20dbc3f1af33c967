package node

import (
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
)

// SizeFromBudget sets the memory-sized fields of m and s that are unset
// (zero, or not positive where that means the default) to b's split (see
// ops.MemoryBudget); set fields are explicit and win. Without a budget it
// changes nothing, so the components keep their defaults.
func SizeFromBudget(b ops.MemoryBudget, m *materialize.Config, s *pagestore.Options) {
	if b.Total <= 0 {
		return
	}
	if m != nil {
		if m.CachePages <= 0 {
			m.CachePages = b.CachePages
		}
		if m.SpillPages == 0 { // negative: disabled
			m.SpillPages = b.SpillPages
		}
		if m.ReadCachePages == 0 { // negative: disabled
			m.ReadCachePages = b.ReadCachePages
		}
		if m.BatchBytes <= 0 {
			m.BatchBytes = b.BatchBytes
		}
		if m.EvictImageAfter <= 0 {
			m.EvictImageAfter = b.EvictImageAfter
		}
	}
	if s != nil {
		if s.MemTableSize == 0 {
			s.MemTableSize = b.MemTableSize
		}
		if s.BlockCacheSize == 0 {
			s.BlockCacheSize = b.BlockCacheSize
		}
		if s.IndexCacheSize == 0 {
			s.IndexCacheSize = b.IndexCacheSize
		}
	}
}
