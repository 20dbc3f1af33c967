package ops

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroups is a cgroup tree in a temporary directory: the process's
// /proc/self/cgroup, a v2 hierarchy and a v1 memory hierarchy.
type fakeCgroups struct {
	t  *testing.T
	fs CgroupFS
}

func newFakeCgroups(t *testing.T, procSelfCgroup string) *fakeCgroups {
	dir := t.TempDir()
	f := &fakeCgroups{t: t, fs: CgroupFS{
		ProcSelfCgroup: filepath.Join(dir, "proc-self-cgroup"),
		V2Root:         filepath.Join(dir, "unified"),
		V1MemoryRoot:   filepath.Join(dir, "memory"),
	}}
	if procSelfCgroup != "" {
		f.write(f.fs.ProcSelfCgroup, procSelfCgroup)
	}
	return f
}

func (f *fakeCgroups) write(name, content string) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// v2 sets memory.max of the v2 cgroup at path.
func (f *fakeCgroups) v2(path, max string) string {
	name := filepath.Join(f.fs.V2Root, path, "memory.max")
	f.write(name, max+"\n")
	return name
}

// v1 sets memory.limit_in_bytes of the v1 memory cgroup at path.
func (f *fakeCgroups) v1(path, limit string) string {
	name := filepath.Join(f.fs.V1MemoryRoot, path, "memory.limit_in_bytes")
	f.write(name, limit+"\n")
	return name
}

func (f *fakeCgroups) limit() CgroupLimit {
	f.t.Helper()
	lim, err := f.fs.MemoryLimit()
	if err != nil {
		f.t.Fatalf("MemoryLimit: %v", err)
	}
	return lim
}

// cgroupFile is one limit file of a fake tree: hierarchy "v1" or "v2",
// the cgroup's path, the file's content.
type cgroupFile struct{ hier, path, value string }

// TestCgroupMemoryLimit: the smallest limit on the process's cgroup path,
// in either hierarchy, from the file that set it; none when nothing is
// set, mounted or readable as a limit.
func TestCgroupMemoryLimit(t *testing.T) {
	const unlimitedV1 = "9223372036854771712"
	for _, tc := range []struct {
		name  string
		proc  string
		files []cgroupFile
		want  int64
		from  int // index in files of the one that sets the limit
	}{
		{"v2", "0::/system.slice/pagemill.service\n",
			[]cgroupFile{{"v2", "/system.slice", "max"}, {"v2", "/system.slice/pagemill.service", "536870912"}}, 512 << 20, 1},
		{"v2 max", "0::/a/b\n", []cgroupFile{{"v2", "/a", "max"}, {"v2", "/a/b", "max"}}, 0, -1},
		// A limit on an ancestor bounds the cgroup; the smallest on the
		// path wins, wherever it is.
		{"nested: parent smaller", "0::/a/b/c\n",
			[]cgroupFile{{"v2", "/a", "max"}, {"v2", "/a/b", "1073741824"}, {"v2", "/a/b/c", "2147483648"}}, 1 << 30, 1},
		{"nested: own smaller", "0::/a/b/c\n",
			[]cgroupFile{{"v2", "/a", "4294967296"}, {"v2", "/a/b", "max"}, {"v2", "/a/b/c", "268435456"}}, 256 << 20, 2},
		{"nested: root-most smaller", "0::/a/b/c\n",
			[]cgroupFile{{"v2", "/a", "134217728"}, {"v2", "/a/b", "max"}, {"v2", "/a/b/c", "max"}}, 128 << 20, 0},
		// A hybrid machine lists the unified hierarchy as well.
		{"v1", "12:pids:/user.slice\n4:memory:/process_api/abc\n3:cpu,cpuacct:/\n1:name=systemd:/user.slice\n0::/\n",
			[]cgroupFile{{"v1", "/", unlimitedV1}, {"v1", "/process_api", unlimitedV1}, {"v1", "/process_api/abc", "805306368"}}, 768 << 20, 2},
		{"v1 unlimited", "9:memory:/x\n", []cgroupFile{{"v1", "/", unlimitedV1}, {"v1", "/x", "9223372036854775807"}}, 0, -1},
		// Memory may share a hierarchy with other controllers.
		{"v1 controllers", "5:cpu,memory:/lxc/c1\n", []cgroupFile{{"v1", "/lxc", "1073741824"}, {"v1", "/lxc/c1", "2147483648"}}, 1 << 30, 0},
		// A container without a cgroup namespace sees its host path but
		// its own cgroup mounted at the root; walking up finds the root's.
		{"mounted at its own cgroup", "7:memory:/docker/0123abcd\n", []cgroupFile{{"v1", "/", "536870912"}}, 512 << 20, 0},
		{"both hierarchies: the smaller", "4:memory:/a\n0::/a\n", []cgroupFile{{"v1", "/a", "1073741824"}, {"v2", "/a", "536870912"}}, 512 << 20, 1},
		{"no /proc/self/cgroup", "", nil, 0, -1},
		{"no hierarchy mounted", "0::/a/b\n4:memory:/a/b\n", nil, 0, -1},
		{"no memory controller", "3:cpu:/a\n", []cgroupFile{{"v1", "/a", "1048576"}}, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCgroups(t, tc.proc)
			var names []string
			for _, c := range tc.files {
				if c.hier == "v1" {
					names = append(names, f.v1(c.path, c.value))
				} else {
					names = append(names, f.v2(c.path, c.value))
				}
			}
			got := f.limit()
			if tc.from < 0 {
				if got.Bytes != 0 {
					t.Fatalf("limit %+v, want none", got)
				}
				return
			}
			if want := (CgroupLimit{Bytes: tc.want, File: names[tc.from]}); got != want {
				t.Fatalf("limit %+v, want %+v", got, want)
			}
		})
	}
}

// TestCgroupMemoryLimitZeroRoots: without roots nothing is read.
func TestCgroupMemoryLimitZeroRoots(t *testing.T) {
	f := newFakeCgroups(t, "0::/a\n")
	f.v2("/a", "1048576")
	f.fs.V2Root, f.fs.V1MemoryRoot = "", ""
	if got := f.limit(); got.Bytes != 0 {
		t.Fatalf("limit %+v, want none", got)
	}
}

func TestCgroupMemoryLimitGarbage(t *testing.T) {
	f := newFakeCgroups(t, "0::/a\n")
	f.v2("/a", "lots")
	if _, err := f.fs.MemoryLimit(); err == nil {
		t.Fatal("no error for an unparsable memory.max")
	}
}

func TestSplitMemoryNone(t *testing.T) {
	for _, total := range []int64{0, -1} {
		if b := SplitMemory(total); b != (MemoryBudget{}) {
			t.Fatalf("SplitMemory(%d) = %+v, want the zero budget (every size its default)", total, b)
		}
	}
	if got := (MemoryBudget{}).HeapLimitSize(""); got != DefaultMemoryLimit {
		t.Fatalf("heap limit without a budget %q, want %q", got, DefaultMemoryLimit)
	}
	if got := SplitMemory(512 << 20).HeapLimitSize("1GiB"); got != "1GiB" {
		t.Fatalf("explicit heap limit lost: %q", got)
	}
}

// budgetParts is every size of a split, in bytes.
func budgetParts(b MemoryBudget) map[string]int64 {
	return map[string]int64{
		"HeapLimit": b.HeapLimit, "PageCache": b.PageCache,
		"CachePages": int64(b.CachePages) * pageBytes, "SpillPages": int64(b.SpillPages) * pageBytes, "ReadCachePages": int64(b.ReadCachePages) * pageBytes,
		"BatchBytes":   int64(b.BatchBytes),
		"MemTableSize": b.MemTableSize, "BlockCacheSize": b.BlockCacheSize, "IndexCacheSize": b.IndexCacheSize,
	}
}

func TestSplitMemory(t *testing.T) {
	var prev MemoryBudget
	for total := int64(MinMemoryBudget); total <= 64<<30; total += total / 4 {
		b := SplitMemory(total)
		if b.Total != total || b.HeapLimit+b.PageCache != total {
			t.Fatalf("%d: total %d, heap %d + page cache %d", total, b.Total, b.HeapLimit, b.PageCache)
		}
		if 3*b.PageCache < total {
			t.Errorf("%d: page cache %d is less than a third", total, b.PageCache)
		}
		// The caches leave at least a third of the heap limit to the rest
		// (the memtables' arenas are about 1.3 times their size).
		heap := int64(b.CachePages)*pageBytes + int64(b.ReadCachePages)*pageBytes +
			3*b.MemTableSize*13/10 + int64(b.BatchBytes)
		if heap > b.HeapLimit/3*2 {
			t.Errorf("%d: caches %d take more than two thirds of the heap limit %d", total, heap, b.HeapLimit)
		}
		for name, v := range budgetParts(b) {
			if v <= 0 {
				t.Errorf("%d: %s = %d", total, name, v)
			}
			if p := budgetParts(prev)[name]; v < p {
				t.Errorf("%d: %s = %d is less than %d at the smaller total %d (not monotone)", total, name, v, p, prev.Total)
			}
		}
		prev = b
	}
}

// TestSplitMemoryAt1GiB: 1 GiB, what Badger's and the batch's defaults
// were sized for, gives those; the current pages get an eighth and their
// spill files a quarter, the read cache half its default.
func TestSplitMemoryAt1GiB(t *testing.T) {
	b := SplitMemory(1 << 30)
	if b.CachePages != 16384 || b.SpillPages != 32768 || b.ReadCachePages != 4096 || b.MemTableSize != 16<<20 ||
		b.BlockCacheSize != 64<<20 || b.IndexCacheSize != 32<<20 || b.BatchBytes != 8<<20 {
		t.Fatalf("1 GiB split %+v, want 16384 current pages, 32768 spilled, 4096 read pages and the default Badger and batch sizes", b)
	}
}

func TestSplitMemorySmall(t *testing.T) {
	b := SplitMemory(64 << 20)
	if b.CachePages < 1024 || b.MemTableSize < 4<<20 || b.BatchBytes < 1<<20 {
		t.Fatalf("64 MiB split below the minimums: %+v", b)
	}
	var buf bytes.Buffer
	b.Log(slog.New(slog.NewTextHandler(&buf, nil)))
	if !strings.Contains(buf.String(), "below") {
		t.Fatalf("no warning for a budget below the minimum:\n%s", buf.String())
	}
}

func TestParseMemoryBudget(t *testing.T) {
	f := newFakeCgroups(t, "0::/a\n")
	file := f.v2("/a", "536870912")
	b, err := ParseMemoryBudget("auto", f.fs)
	if err != nil || b.Total != 512<<20 || b.Source != "cgroup "+file {
		t.Fatalf("auto: %+v, %v", b, err)
	}
	if b.HeapLimitSize("") == DefaultMemoryLimit {
		t.Fatal("auto in a cgroup kept the default heap limit")
	}
	for _, s := range []string{"none", "off", "0"} {
		if b, err := ParseMemoryBudget(s, f.fs); err != nil || b != (MemoryBudget{}) {
			t.Fatalf("%s: %+v, %v", s, b, err)
		}
	}
	if b, err := ParseMemoryBudget("2GiB", f.fs); err != nil || b.Total != 2<<30 || b.Source != "--memory-budget" {
		t.Fatalf("2GiB: %+v, %v", b, err)
	}
	if _, err := ParseMemoryBudget("lots", f.fs); err == nil {
		t.Fatal("no error for a bad size")
	}
	// Without a cgroup limit, auto is no budget.
	none := newFakeCgroups(t, "0::/\n")
	if b, err := ParseMemoryBudget("auto", none.fs); err != nil || b != (MemoryBudget{}) {
		t.Fatalf("auto without a limit: %+v, %v", b, err)
	}
}

func TestMemoryBudgetLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	SplitMemory(512 << 20).Log(log)
	for _, want := range []string{"memory budget", "total=512MiB", "heap_limit=", "cache_pages=", "memtable="} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
	if strings.Contains(buf.String(), "below") {
		t.Errorf("512 MiB warned: %s", buf.String())
	}
}
