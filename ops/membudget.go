package ops

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CgroupFS names the files the cgroup memory limit is read from; tests
// point it at fake trees. HostCgroupFS is the real machine's.
type CgroupFS struct {
	// ProcSelfCgroup lists the process's cgroups (/proc/self/cgroup):
	// "0::/path" for cgroup v2, "N:memory:/path" (the controllers are a
	// comma-separated list) for cgroup v1's memory controller.
	ProcSelfCgroup string
	// V2Root is where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup):
	// a cgroup's limit is V2Root/path/memory.max.
	V2Root string
	// V1MemoryRoot is where cgroup v1's memory controller is mounted
	// (/sys/fs/cgroup/memory): a cgroup's limit is
	// V1MemoryRoot/path/memory.limit_in_bytes.
	V1MemoryRoot string
}

// HostCgroupFS is where Linux keeps the files CgroupFS names.
func HostCgroupFS() CgroupFS {
	return CgroupFS{ProcSelfCgroup: "/proc/self/cgroup", V2Root: "/sys/fs/cgroup", V1MemoryRoot: "/sys/fs/cgroup/memory"}
}

// v1Unlimited: cgroup v1 reports "no limit" as the largest page-aligned
// counter (9223372036854771712 on 64-bit kernels); anything this large is
// no limit.
const v1Unlimited = 1 << 62

// CgroupLimit is a cgroup's memory limit and the file it was read from.
type CgroupLimit struct {
	Bytes int64  // 0: no limit
	File  string // the file holding the smallest limit ("" without one)
}

// MemoryLimit is the memory limit of the cgroup the process is in: the
// smallest of the limits set on its cgroup and on every ancestor (a
// limit on a parent bounds its children), in cgroup v2 (memory.max; "max"
// is none) and in cgroup v1's memory controller (memory.limit_in_bytes;
// huge values are none), whichever the process is in (a hybrid machine
// lists both). Missing files are no limit: not Linux, no memory
// controller, or a hierarchy mounted at its own cgroup (a container
// without a cgroup namespace: walking up ends at the mount itself, whose
// limit is then found). A file that cannot be read or parsed is an error.
func (c CgroupFS) MemoryLimit() (CgroupLimit, error) {
	data, err := os.ReadFile(c.ProcSelfCgroup)
	if errors.Is(err, fs.ErrNotExist) {
		return CgroupLimit{}, nil
	}
	if err != nil {
		return CgroupLimit{}, fmt.Errorf("cgroup: %w", err)
	}
	var best CgroupLimit
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(strings.TrimSpace(sc.Text()), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		var lim CgroupLimit
		switch {
		case parts[0] == "0" && parts[1] == "":
			lim, err = smallestOnPath(c.V2Root, parts[2], "memory.max")
		case hasController(parts[1], "memory"):
			lim, err = smallestOnPath(c.V1MemoryRoot, parts[2], "memory.limit_in_bytes")
		default:
			continue
		}
		if err != nil {
			return CgroupLimit{}, err
		}
		best = smaller(best, lim)
	}
	return best, sc.Err()
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// smaller is the smaller limit of a and b (0: none).
func smaller(a, b CgroupLimit) CgroupLimit {
	if a.Bytes == 0 || (b.Bytes != 0 && b.Bytes < a.Bytes) {
		return b
	}
	return a
}

// smallestOnPath reads file in root/cg and in every ancestor directory up
// to root itself, and returns the smallest limit.
func smallestOnPath(root, cg, file string) (CgroupLimit, error) {
	if root == "" {
		return CgroupLimit{}, nil
	}
	var best CgroupLimit
	for dir := path.Clean(cg); ; dir = path.Dir(dir) {
		name := filepath.Join(root, filepath.FromSlash(dir), file)
		n, err := readLimit(name)
		if err != nil {
			return CgroupLimit{}, err
		}
		best = smaller(best, CgroupLimit{Bytes: n, File: name})
		if dir == "/" || dir == "." {
			return best, nil
		}
	}
}

// readLimit reads a memory.max or memory.limit_in_bytes: 0 for "max", a
// huge value, or a missing file.
func readLimit(name string) (int64, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cgroup memory limit: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Larger than an int64 is no limit as well.
		if u, uerr := strconv.ParseUint(s, 10, 64); uerr == nil && u > v1Unlimited {
			return 0, nil
		}
		return 0, fmt.Errorf("cgroup memory limit %s: %q is not a number of bytes", name, s)
	}
	if n <= 0 || n >= v1Unlimited {
		return 0, nil
	}
	return n, nil
}

// MemoryBudget is how much memory a pagemill process may use, page cache
// included (a memory cgroup charges the page cache of the files a
// process reads, writes and maps to it, as well as its heap), and how it
// is split between the sizes that are otherwise fixed defaults. A zero
// budget (Total 0) leaves every size at its default: 0 in every field
// below means "the component's own default".
//
// The split of Total (see SplitMemory), each share in proportion to it
// with the minimums and maximums said:
//
//   - 40% is left to the kernel's page cache, never claimed: the redo
//     shards' spill files of evicted current pages (SpillPages, 1/4 of
//     Total; they are the page cache's to keep or write back), Badger's
//     memory-mapped value log and tables (the value log is read back when
//     a page missing from the redo shards' cache is rebuilt, and written
//     through the mapping; the LSM tables are read on every lookup) and
//     NATS's file store. When it is too small every miss is a major fault
//     and the cgroup reclaims (writes back) continuously; that is why it
//     is more than the third the heap's defaults left it.
//   - 60% is the Go heap's soft limit (HeapLimit). The runtime counts all
//     of its memory against it (heap, stacks, its own structures), and
//     pagemill has no memory outside the Go runtime besides the page
//     cache. Within it:
//   - 1/8 of Total is the redo shards' current pages (CachePages, 8 KiB
//     each; 128 MiB at 1 GiB, where the default without a budget is 192
//     MiB; within a batch up to twice that, see applier.Spill). Pages
//     evicted from it go to the shards' spill files
//     (SpillPages, 1/4 of Total, in the page cache's share below): a
//     miss then costs a pread from the page cache, and the heap, where
//     every byte of current pages is a byte less of the collector's
//     headroom, holds only the hottest.
//   - 1/32 is the read cache (ReadCachePages; 32 MiB at 1 GiB, where the
//     default is 64 MiB), for repeated historical reads: the materializer
//     does not use it.
//   - 1/64 is each of Badger's three memtables (MemTableSize, at least 4
//     MiB and at most 64 MiB, Badger's own default; 16 MiB at 1 GiB, the
//     default): the skiplist arenas are on the heap, about 1.3 times the
//     size each, and their write-ahead files are mapped as well.
//   - BatchBytes (a shard batch, and the bytes pulled from JetStream
//     ahead) is 1/128 of Total, at least 1 MiB and at most 8 MiB, the
//     default (at 1 GiB): the bigger a batch, the fewer segments its
//     records take, but three batches a shard are in memory at once
//     (queued, applying, committing) with their decoded records, and at
//     1/64 they left the collector too little room at 512 MiB.
//   - the remaining quarter or so of Total is the rest of the heap: the
//     records the dispatcher queued ahead of the shards and the batches
//     they apply, NATS (the embedded server's message-block cache, the
//     connection's buffers), Badger's table builders and iterators, the
//     runtime, and the collector's headroom above what is live.
//   - Badger's block cache (1/16, BlockCacheSize) and index cache (1/32,
//     IndexCacheSize; 64 and 32 MiB at 1 GiB, the defaults) are counted in
//     the page cache's share: without compression or encryption, which the
//     page store does not use, a cached block is a view of the mapped table
//     (no copy on the heap) and the index cache is not used at all.
//
// The dispatcher's queue is not sized: its bound, BatchMessages, counts
// messages, and a message is as big as the ingest round it was published
// in (about 25 KB following a source live, up to 4 MiB when ingest
// caught up), so no count bounds its bytes. A count small enough for 4
// MiB messages (8 at 512 MiB) also made every shard batch a few small
// messages: 3624 shard commits instead of 73 for the same 200 MB, four
// times slower. Bounding it needs the dispatcher to count bytes.
//
// Explicit settings win over the budget (a --memory-limit, a
// --cache-pages); GOMEMLIMIT in the environment wins over both.
type MemoryBudget struct {
	Total  int64  // bytes; 0: no budget
	Source string // where Total came from: a cgroup file, or the flag

	HeapLimit      int64 // the Go heap's soft limit
	PageCache      int64 // Total - HeapLimit: left to the kernel's page cache
	CachePages     int   // materialize.Config.CachePages
	SpillPages     int   // materialize.Config.SpillPages
	ReadCachePages int   // materialize.Config.ReadCachePages
	BatchBytes     int   // materialize.Config.BatchBytes
	MemTableSize   int64 // pagestore.Options.MemTableSize
	BlockCacheSize int64 // pagestore.Options.BlockCacheSize
	IndexCacheSize int64 // pagestore.Options.IndexCacheSize
	// DropStreamCache is streams.EmbeddedConfig.DropCacheEvery: the
	// embedded stream's message blocks, written and read about once,
	// would take the page cache the page store's reads need.
	DropStreamCache time.Duration
	// EvictImageAfter is materialize.Config.EvictImageAfter: 1, so that
	// pages evicted when the spill files are full, loaded back from the
	// page store, read one image, not chains spread over a page store that
	// the page cache cannot hold.
	EvictImageAfter int
}

// MinMemoryBudget is the smallest budget the split is meant for: below
// it the minimum sizes take more than their share (SplitMemory still
// splits it, and LogMemoryBudget warns).
const MinMemoryBudget = 256 << 20

// pageBytes is a PostgreSQL page.
const pageBytes = 8192

// SplitMemory splits total bytes as MemoryBudget says; total <= 0 is no
// budget (the zero MemoryBudget: every size its default).
func SplitMemory(total int64) MemoryBudget {
	if total <= 0 {
		return MemoryBudget{}
	}
	b := MemoryBudget{Total: total, HeapLimit: total / 5 * 3}
	b.PageCache = total - b.HeapLimit
	b.CachePages = int(max(1024, total/8/pageBytes))
	b.SpillPages = int(max(1024, total/4/pageBytes))
	b.ReadCachePages = int(max(512, total/32/pageBytes))
	b.BatchBytes = int(clamp(total/128, 1<<20, 8<<20))
	b.MemTableSize = clamp(total/64, 4<<20, 64<<20)
	b.BlockCacheSize = max(8<<20, total/16)
	b.IndexCacheSize = max(4<<20, total/32)
	b.DropStreamCache = time.Second
	b.EvictImageAfter = 1
	return b
}

func clamp(v, lo, hi int64) int64 { return min(hi, max(lo, v)) }

// ParseMemoryBudget reads a --memory-budget: "auto" is the limit of the
// process's cgroup (cg; none without one), "none", "off" or "0" no
// budget, anything else a size as ParseBytes takes it. The budget is
// split by SplitMemory.
func ParseMemoryBudget(s string, cg CgroupFS) (MemoryBudget, error) {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		lim, err := cg.MemoryLimit()
		if err != nil {
			return MemoryBudget{}, err
		}
		b := SplitMemory(lim.Bytes)
		if lim.Bytes > 0 {
			b.Source = "cgroup " + lim.File
		}
		return b, nil
	}
	n, err := ParseBytes(s)
	if err != nil {
		return MemoryBudget{}, fmt.Errorf("memory budget: %w", err)
	}
	b := SplitMemory(n)
	if n > 0 {
		b.Source = "--memory-budget"
	}
	return b, nil
}

// HeapLimitSize is the Go heap's soft limit to apply (for
// ApplyMemoryLimit): explicit when set (a --memory-limit given), else the
// budget's, else DefaultMemoryLimit.
func (b MemoryBudget) HeapLimitSize(explicit string) string {
	switch {
	case explicit != "":
		return explicit
	case b.Total > 0:
		return strconv.FormatInt(b.HeapLimit, 10)
	}
	return DefaultMemoryLimit
}

// Log logs the budget and its split once (nothing without a budget but a
// debug line), with a warning when it is below MinMemoryBudget.
func (b MemoryBudget) Log(log *slog.Logger) {
	if b.Total <= 0 {
		log.Debug("no memory budget: default cache sizes")
		return
	}
	mib := func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 0, 64) + "MiB" }
	log.Info("memory budget", "total", mib(b.Total), "from", b.Source,
		"heap_limit", mib(b.HeapLimit), "page_cache", mib(b.PageCache),
		"cache_pages", b.CachePages, "spill_pages", b.SpillPages, "read_cache_pages", b.ReadCachePages,
		"batch_bytes", mib(int64(b.BatchBytes)),
		"memtable", mib(b.MemTableSize), "block_cache", mib(b.BlockCacheSize), "index_cache", mib(b.IndexCacheSize),
		"evict_image_after", b.EvictImageAfter, "drop_stream_cache", b.DropStreamCache)
	if b.Total < MinMemoryBudget {
		log.Warn("memory budget below what pagemill is sized for: the smallest caches take more than their share",
			"total", mib(b.Total), "min", mib(MinMemoryBudget))
	}
}
