package bench

import (
	"flag"
	"strings"
	"time"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Every benchmark's configuration and flags, in the order of Scenarios;
// the benchmarks themselves are in <name>.go.

// decodeConfig is what `decode` measures with.
type decodeConfig struct {
	Path, Start, End string // the WAL to decode; Path "": generated
	SizeMB           int    // WAL to generate without Path
	Scale            int    // pgbench -i scale of the generated WAL
	PgbenchSeconds   int    // -T of each pgbench round
	Runs             int    // repetitions; the best is reported
	Keep             string // copy the generated WAL here
}

// Flags registers decode's flags.
func (cfg *decodeConfig) Flags(fs *flag.FlagSet) {
	fs.StringVar(&cfg.Path, "path", "", "WAL directory to decode (default: make pgbench WAL in a scratch cluster)")
	fs.StringVar(&cfg.Start, "start", "", "start LSN (with --path)")
	fs.StringVar(&cfg.End, "end", "", "end LSN (with --path)")
	fs.IntVar(&cfg.SizeMB, "size-mb", 300, "WAL to generate with pgbench when --path is not given")
	fs.IntVar(&cfg.Scale, "scale", 10, "pgbench -i scale of the generated WAL")
	fs.IntVar(&cfg.PgbenchSeconds, "pgbench-seconds", 10, "-T of each pgbench round of the generated WAL")
	fs.IntVar(&cfg.Runs, "runs", 3, "repetitions; the best is reported")
	fs.StringVar(&cfg.Keep, "keep", "", "copy the generated WAL here and print the range, for later runs")
}

// ingestConfig is what `ingest` measures with.
type ingestConfig struct {
	SizeMB         int           // WAL to generate while pagemill is stopped, in 1e6 bytes
	Shards         int           // streams.Config.Shards
	RoundBytes     int           // ingest.Config.RoundBytes
	RoundInterval  time.Duration // ingest.Config.RoundInterval
	Scale          int           // pgbench -i -s; 0 derives it from SizeMB
	PgbenchSeconds int           // -T of each pgbench loop; 0 derives it from SizeMB
	ReceiveWAL     string        // pg_receivewal variants to time, comma-separated (receivewalVariant)
	Runs           int           // pg_receivewal runs per variant; the best is reported
	CPUProfile     string        // write a CPU profile of the catch-up here
}

// Flags registers ingest's flags.
func (cfg *ingestConfig) Flags(fs *flag.FlagSet) {
	fs.IntVar(&cfg.SizeMB, "size-mb", 1000, "WAL to generate with pgbench while pagemill is stopped (MB)")
	fs.IntVar(&cfg.Shards, "shards", streams.DefaultShards, "shards (WAL subjects) of the stream")
	fs.IntVar(&cfg.RoundBytes, "round-bytes", 4<<20, "publish a round once it holds this much WAL (ingest's RoundBytes)")
	fs.DurationVar(&cfg.RoundInterval, "round-interval", 0, "rounds begin at most this often (ingest's RoundInterval; 0: its default, negative: no wait)")
	fs.IntVar(&cfg.Scale, "scale", 0, "pgbench -i scale (0: size-mb/50, from 1 to 20)")
	fs.IntVar(&cfg.PgbenchSeconds, "pgbench-seconds", 0, "-T of each pgbench round (0: size-mb/100, from 1 to 10)")
	fs.StringVar(&cfg.ReceiveWAL, "receivewal", "default,synchronous,no-sync", "pg_receivewal variants to time (default, synchronous, no-sync; empty: none)")
	fs.IntVar(&cfg.Runs, "runs", 3, "pg_receivewal runs per variant; the best is reported (the ingest runs once)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed catch-up to this file")
}

// redoConfig is what `redo` measures with.
type redoConfig struct {
	SizeMB         int    // WAL to generate, in 1e6 bytes
	Workload       string // pgbench, or an index-heavy workload (indexAMWorkload)
	Scale          int    // pgbench -i -s; 0 derives it from SizeMB
	PgbenchSeconds int    // -T of each pgbench round; 0 derives it from SizeMB
	Workers        []int  // page-parallel worker counts to time (besides the serial run)
	Runs           int    // repetitions of every timing; the best is reported
	Keep           string // copy the generated WAL here
	// Settle: before timing, wait up to this long for the 1-minute load
	// average to fall below 1 (the WAL generation raises it).
	Settle time.Duration
	// With Path, the WAL is taken from there ([Start, End); End 0: to the
	// end of valid WAL) and PostgreSQL's recovery is not measured.
	Path       string
	Start, End schema.LSN
	Timeline   schema.TimeLineID
	flags      struct {
		start, end, workers string
		timeline            uint
	} // as given
}

// Flags registers redo's flags.
func (cfg *redoConfig) Flags(fs *flag.FlagSet) {
	fs.StringVar(&cfg.Path, "path", "", "directory holding WAL segment files (default: generate the WAL)")
	fs.StringVar(&cfg.flags.start, "start", "", "LSN to start at, X/X (with --path)")
	fs.StringVar(&cfg.flags.end, "end", "", "LSN to stop at, X/X (with --path; default: the end of valid WAL)")
	fs.UintVar(&cfg.flags.timeline, "timeline", 0, "timeline of the segment files (with --path; default: the highest one holding --start)")
	fs.IntVar(&cfg.SizeMB, "size-mb", 300, "WAL to generate when --path is not given (MB)")
	fs.StringVar(&cfg.Workload, "workload", "pgbench", "what generates the WAL: "+strings.Join(workloadNames(), ", ")+
		" (indexam: inserts, deletes and vacuums of hash, GIN, GiST, SP-GiST, BRIN and bloom indexes; or one of them)")
	fs.IntVar(&cfg.Scale, "scale", 0, "pgbench -i scale (0: size-mb/30, from 1 to 10)")
	fs.IntVar(&cfg.PgbenchSeconds, "pgbench-seconds", 0, "-T of each pgbench round (0: size-mb/30, from 1 to 10)")
	fs.StringVar(&cfg.flags.workers, "workers", "1,2", "page-parallel worker counts to time, besides the serial run")
	fs.IntVar(&cfg.Runs, "runs", 3, "repetitions of every timing; the best is reported")
	fs.DurationVar(&cfg.Settle, "settle", time.Minute, "before timing, wait up to this long for the 1-minute load average to fall below 1")
	fs.StringVar(&cfg.Keep, "keep", "", "copy the generated WAL here and print its range, for runs with --path")
}

// materializeConfig is what `materialize` measures with.
type materializeConfig struct {
	SizeMB      int
	Scale       int
	Shards      int
	LiveSeconds int
	CPUProfile  string
	HeapProfile string
	Trace       string // an execution trace of the materialize phase
	ImageEvery  int
	CachePages  int
	Backlog     bool   // the WAL accumulates in the slot while ingest is stopped
	Repeat      int    // materialize runs on the same stream
	Fixture     string // keep the run's inputs here, or start from those kept
	MemoryLimit string
	memLimit    int64 // the Go heap soft limit in effect (0: none)
	// MemoryBudget sizes the caches and the heap limit (see
	// ops.MemoryBudget); memory is its split, set by heapLimit.
	MemoryBudget string
	memory       ops.MemoryBudget
}

// Flags registers materialize's flags.
func (cfg *materializeConfig) Flags(fs *flag.FlagSet) {
	fs.IntVar(&cfg.SizeMB, "size-mb", 500, "pgbench WAL to materialize (MB)")
	fs.IntVar(&cfg.Scale, "scale", 10, "pgbench -i scale")
	fs.IntVar(&cfg.Shards, "shards", streams.DefaultShards, "shard subjects of the stream (the redo shards are materialize.DefaultShards of it)")
	fs.IntVar(&cfg.LiveSeconds, "live-seconds", 10, "pgbench seconds for the live lag measurement (0: skip)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the materialize phase here")
	fs.StringVar(&cfg.CPUProfile, "cpu-profile", "", "the same as --cpuprofile")
	fs.StringVar(&cfg.HeapProfile, "heap-profile", "", "write a heap profile at the end of the materialize phase here")
	fs.StringVar(&cfg.Trace, "trace", "", "write an execution trace of the materialize phase here (go tool trace)")
	fs.StringVar(&cfg.MemoryLimit, "memory-limit", "",
		"soft limit of the Go heap (e.g. 512MiB, 1GiB; 0: none; default: the --memory-budget's share, without a budget "+ops.DefaultMemoryLimit+"); GOMEMLIMIT in the environment wins")
	cfg.MemoryBudget = "auto"
	fs.Func("memory-budget", "memory the process may use, page cache included, the caches and the Go heap limit are sized from "+
		"(e.g. 512MiB; auto, the default: the memory cgroup's limit when there is one; none: the default sizes)", cfg.setMemoryBudget)
	fs.IntVar(&cfg.ImageEvery, "image-every", 0, "write a full page image after this many records of a page (0: the materializer's default)")
	fs.IntVar(&cfg.CachePages, "cache-pages", 0, "current pages the redo shards keep in memory (0: the --memory-budget's share, without a budget the materializer's default)")
	fs.BoolVar(&cfg.Backlog, "backlog", false, "stop the ingest while the WAL is generated (it accumulates in the slot), then publish it at once in large rounds")
	fs.IntVar(&cfg.Repeat, "repeat", 1, "materialize this many times from the same stream, each into a new page store")
	fs.StringVar(&cfg.Fixture, "fixture", "", "keep the generated WAL, stream and crashed cluster in this directory, "+
		"or, when it holds them, start from copies of those instead of generating (the flags that shape the WAL must match)")
}

// restoreConfig is what `restore` measures with.
type restoreConfig struct {
	CPUProfile   string // written while pagemill writes the data directory
	Scale        int
	SizeMB       int
	Shards       int
	CheckpointMB int
	Rebuild      bool
}

// Flags registers restore's flags.
func (cfg *restoreConfig) Flags(fs *flag.FlagSet) {
	fs.IntVar(&cfg.Scale, "scale", 100, "pgbench -i scale")
	fs.IntVar(&cfg.SizeMB, "size-mb", 1000, "pgbench WAL after the base backups (MB)")
	fs.IntVar(&cfg.Shards, "shards", streams.DefaultShards, "shard subjects of the stream (the redo shards are materialize.DefaultShards of it)")
	fs.IntVar(&cfg.CheckpointMB, "checkpoint-mb", 0, "CHECKPOINT the source every N MB of WAL during the load (0: none, so both restores replay all of it)")
	fs.BoolVar(&cfg.Rebuild, "rebuild", true, "also time rebuilding a fresh page store from the streams")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of pagemill writing the data directory to this file")
}
