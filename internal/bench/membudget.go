package bench

import (
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/ops/node"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/streams"
)

// setMemoryBudget is --memory-budget: auto, none or a size, checked when
// the flags are parsed.
func (cfg *materializeConfig) setMemoryBudget(s string) error {
	if !strings.EqualFold(strings.TrimSpace(s), "auto") {
		if _, err := ops.ParseBytes(s); err != nil {
			return err
		}
	}
	cfg.MemoryBudget = s
	return nil
}

// heapLimit reads --memory-budget (auto: the cgroup's limit; a limit that
// cannot be read is logged and taken as no budget), logs its split and
// keeps it for openMat, and returns the Go heap's limit to apply:
// --memory-limit when given, else the budget's share, else
// ops.DefaultMemoryLimit.
func (cfg *materializeConfig) heapLimit(log *slog.Logger) string {
	budget := cfg.MemoryBudget
	if budget == "" {
		budget = "auto"
	}
	b, err := ops.ParseMemoryBudget(budget, ops.HostCgroupFS())
	if err != nil {
		log.Warn("memory budget unknown; default sizes", "memory_budget", budget, "err", err)
		b = ops.MemoryBudget{}
	}
	b.Log(log)
	cfg.memory = b
	return b.HeapLimitSize(cfg.MemoryLimit)
}

// openMat is the package's openMat with the materializer's and the page
// store's memory sized from the budget (settings in mcfg win).
func (cfg *materializeConfig) openMat(js jetstream.JetStream, h *streams.Handles, dir string, mcfg materialize.Config,
	reg *prometheus.Registry, log *slog.Logger) (*runningMat, error) {
	sopts := pagestore.Options{Dir: dir}
	node.SizeFromBudget(cfg.memory, &mcfg, &sopts)
	if cfg.memory.Total > 0 {
		log.Info("materializer sized from the memory budget", "cache_pages", mcfg.CachePages, "spill_pages", mcfg.SpillPages, "read_cache_pages", mcfg.ReadCachePages,
			"batch_bytes", mcfg.BatchBytes, "memtable_bytes", sopts.MemTableSize,
			"block_cache_bytes", sopts.BlockCacheSize, "index_cache_bytes", sopts.IndexCacheSize)
	}
	return openMatStore(js, h, sopts, mcfg, reg, log)
}
