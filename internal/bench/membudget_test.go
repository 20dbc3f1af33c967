package bench

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/ops"
)

// TestMaterializeMemoryFlags: --memory-budget none keeps today's sizes
// and heap limit, a size splits it (an explicit --memory-limit wins for
// the heap), and a bad value is a usage error when the flags are parsed.
func TestMaterializeMemoryFlags(t *testing.T) {
	parse := func(args ...string) (*materializeConfig, error) {
		var cfg materializeConfig
		fs := flag.NewFlagSet("materialize", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.Flags(fs)
		return &cfg, fs.Parse(args)
	}
	log := slog.New(slog.DiscardHandler)
	cfg, err := parse("--memory-budget", "none")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.heapLimit(log); got != ops.DefaultMemoryLimit || cfg.memory != (ops.MemoryBudget{}) {
		t.Fatalf("none: heap limit %q, budget %+v; want the defaults", got, cfg.memory)
	}
	if cfg, err = parse("--memory-budget", "512MiB"); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.heapLimit(log), ops.SplitMemory(512<<20).HeapLimitSize(""); got != want || cfg.memory.Total != 512<<20 {
		t.Fatalf("512MiB: heap limit %q (want %q), budget %+v", got, want, cfg.memory)
	}
	if cfg, err = parse("--memory-budget", "512MiB", "--memory-limit", "300MiB"); err != nil {
		t.Fatal(err)
	}
	if got := cfg.heapLimit(log); got != "300MiB" || cfg.memory.Total != 512<<20 {
		t.Fatalf("explicit --memory-limit: heap limit %q, budget %+v", got, cfg.memory)
	}
	if _, err := parse("--memory-budget", "lots"); err == nil {
		t.Fatal("--memory-budget lots parsed")
	}
	var out, errb bytes.Buffer
	if code := Main(t.Context(), &out, &errb, []string{"materialize", "--memory-budget", "lots"}); code != 2 || !strings.Contains(errb.String(), "memory-budget") {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
}
