package redo

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagemill/pagemill/schema"
)

// replayWALEnv names a kept WAL directory and range for the replay
// benchmarks: "DIR START END" (as `pagemill-bench redo --keep` logs
// them). The benchmarks are skipped when it is unset.
const replayWALEnv = "PAGEMILL_REPLAY_WAL"

func replayWAL(b *testing.B) (string, schema.DirOptions) {
	b.Helper()
	f := strings.Fields(os.Getenv(replayWALEnv))
	if len(f) != 3 {
		b.Skipf("set %s to \"DIR START END\" to replay a kept WAL", replayWALEnv)
	}
	start, err := schema.ParseLSN(f[1])
	if err != nil {
		b.Fatal(err)
	}
	end, err := schema.ParseLSN(f[2])
	if err != nil {
		b.Fatal(err)
	}
	return f[0], schema.DirOptions{Start: start, End: end}
}

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
func BenchmarkReplayWALDir(b *testing.B) { benchReplayWALDir(b, false) }

// BenchmarkReplayWALDirReuse is BenchmarkReplayWALDir as a serial redo
// loop can run it: the reader reuses its records (ReuseRecords) and Apply
// its Result (ApplyTo).
func BenchmarkReplayWALDirReuse(b *testing.B) { benchReplayWALDir(b, true) }

func benchReplayWALDir(b *testing.B, reuse bool) {
	dir, opts := replayWAL(b)
	opts.ReuseRecords = reuse
	eng, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Restorer.Close()
	var res Result
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		d, err := schema.OpenWALDir(os.DirFS(dir), opts)
		if err != nil {
			b.Fatal(err)
		}
		pages := NewMemPages()
		for {
			rec, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
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

// BenchmarkReadWALDir is the reading half of BenchmarkReplayWALDir: read,
// CRC and decode only.
func BenchmarkReadWALDir(b *testing.B) { benchReadWALDir(b, false) }

// BenchmarkReadWALDirReuse is BenchmarkReadWALDir with ReuseRecords.
func BenchmarkReadWALDirReuse(b *testing.B) { benchReadWALDir(b, true) }

func benchReadWALDir(b *testing.B, reuse bool) {
	dir, opts := replayWAL(b)
	opts.ReuseRecords = reuse
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		d, err := schema.OpenWALDir(os.DirFS(dir), opts)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		d.Close()
	}
}
