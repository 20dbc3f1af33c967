package redo

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

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

// BenchmarkReplayWALDir is `pagemill-bench redo`'s serial run on a kept
// WAL: read, CRC, decode and Apply into MemPages on one goroutine.
func BenchmarkReplayWALDir(b *testing.B) {
	dir, opts := replayWAL(b)
	eng, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Restorer.Close()
	b.ReportAllocs()
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
			res, err := eng.Apply(rec, pages)
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
func BenchmarkReadWALDir(b *testing.B) {
	dir, opts := replayWAL(b)
	b.ReportAllocs()
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
