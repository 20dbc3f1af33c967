package redo

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/testwal"
	"github.com/pagemill/pagemill/schema"
)

// reportCPU reports the process's CPU time (user and system, GC workers
// included) per operation since start (cpuTime's value then) as cpu-ns/op:
// on a shared machine it varies less than the wall-clock ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReplayWALDir is `pagemill-bench redo`'s serial run on a kept WAL: read,
// CRC, decode and Apply into MemPages on one goroutine.
func BenchmarkReplayWALDir(b *testing.B) { benchWALDir(b, false, true) }

// BenchmarkReplayWALDirReuse is BenchmarkReplayWALDir as a serial redo
// loop can run it: the reader reuses its records (ReuseRecords) and Apply
// its Result (ApplyTo).
func BenchmarkReplayWALDirReuse(b *testing.B) { benchWALDir(b, true, true) }

// BenchmarkReadWALDir is the reading half of BenchmarkReplayWALDir: read,
// CRC and decode only.
func BenchmarkReadWALDir(b *testing.B) { benchWALDir(b, false, false) }

// BenchmarkReadWALDirReuse is BenchmarkReadWALDir with ReuseRecords.
func BenchmarkReadWALDirReuse(b *testing.B) { benchWALDir(b, true, false) }

// benchWALDir reads the kept WAL once an iteration (reusing records if
// reuse) and, if apply, replays it into fresh MemPages. The read and
// replay benchmarks share the loop so that reading is timed the same way
// in both; it stays a plain Next loop, as an iterator would add
// allocations to allocs/op.
func benchWALDir(b *testing.B, reuse, apply bool) {
	dir, opts := testwal.KeptWAL(b)
	opts.ReuseRecords = reuse
	var eng *Engine
	if apply {
		var err error
		if eng, err = NewEngine(); err != nil {
			b.Fatal(err)
		}
		defer eng.Restorer.Close()
	}
	var res Result
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		d, err := schema.OpenWALDir(os.DirFS(dir), opts)
		if err != nil {
			b.Fatal(err)
		}
		var pages *MemPages
		if apply {
			pages = NewMemPages()
		}
		for {
			rec, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if !apply {
				continue
			}
			if reuse {
				err = eng.ApplyTo(&res, rec, pages)
			} else {
				res, err = eng.Apply(rec, pages)
			}
			if res.Truncate != nil {
				pages.Truncate(res.Truncate)
			}
			if err != nil {
				var uns *Unsupported
				if !errors.As(err, &uns) {
					b.Fatal(err)
				}
			}
		}
		d.Close()
	}
}
