package ops

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the Go heap's soft limit when none is configured:
// three quarters of the 1 GiB a small pagemill process is budgeted,
// leaving the rest for what the Go runtime does not manage (thread stacks;
// the kernel's page cache behind Badger's memory-mapped files is
// reclaimable). Not lower: a catch-up's live heap (Badger's table
// builders, NATS's message-block cache, the shard caches) comes close to
// it, and a limit below what is live makes the collector run without
// pause (see PERFORMANCE.md).
const DefaultMemoryLimit = "768MiB"

// ParseBytes parses a size: a number of bytes with an optional unit
// (B, KB, MB, GB: powers of 1000; KiB, MiB, GiB: powers of 1024; case
// does not matter), "0" or "off" for none.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	if t == "off" || t == "none" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*mult > math.MaxInt64 {
		return 0, fmt.Errorf("size %q: want a non-negative number of bytes with an optional unit (e.g. 512MiB, 1GiB)", s)
	}
	return int64(f * mult), nil
}

// ApplyMemoryLimit sets the Go runtime's soft memory limit (the garbage
// collector works harder as the heap approaches it; it is not a cap) to
// the configured size, so a process stays in its memory budget instead of
// letting the heap grow to twice what is live. GOMEMLIMIT in the
// environment wins over the configuration. size is as ParseBytes takes
// it; "0" leaves the runtime's default (no limit). It returns the limit
// in effect.
func ApplyMemoryLimit(size string, log *slog.Logger) (int64, error) {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		limit := debug.SetMemoryLimit(-1) // read only
		log.Info("memory limit from GOMEMLIMIT", "gomemlimit", env, "bytes", limit)
		return limit, nil
	}
	n, err := ParseBytes(size)
	if err != nil {
		return 0, fmt.Errorf("memory limit: %w", err)
	}
	if n == 0 {
		return debug.SetMemoryLimit(-1), nil
	}
	debug.SetMemoryLimit(n)
	log.Debug("memory limit set", "bytes", n)
	return n, nil
}
