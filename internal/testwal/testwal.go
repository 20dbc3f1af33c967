// Package testwal reads the recorded WAL kept in testdata directories
// (compressed segments and a range.txt) for tests and benchmarks.
package testwal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// Records reads every record of a recorded WAL in a testdata directory:
// its compressed segments (see pgtest.UnpackWAL) and range.txt ("start
// LSN" and "end LSN" lines). Each record owns its bytes.
func Records(tb testing.TB, src string) []*schema.DecodedRecord {
	tb.Helper()
	rng, err := os.ReadFile(filepath.Join(src, "range.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	var start, end schema.LSN
	for _, line := range strings.Split(strings.TrimSpace(string(rng)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		lsn, err := schema.ParseLSN(v)
		if err != nil {
			tb.Fatalf("%s/range.txt: %q: %v", src, line, err)
		}
		if k == "start" {
			start = lsn
		} else {
			end = lsn
		}
	}
	d, err := schema.OpenWALDir(os.DirFS(pgtest.UnpackWAL(tb, src)), schema.DirOptions{Start: start, End: end})
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	var recs []*schema.DecodedRecord
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			tb.Fatalf("%s: %v", src, err)
		}
		recs = append(recs, rec)
	}
}

// KeptWALEnv names a kept WAL directory and range for the replay
// benchmarks: "DIR START END" (as `pagemill-bench redo --keep` logs them).
const KeptWALEnv = "PAGEMILL_REPLAY_WAL"

// KeptWAL returns the directory and range KeptWALEnv names, and skips the
// benchmark when it is unset.
func KeptWAL(tb testing.TB) (string, schema.DirOptions) {
	tb.Helper()
	f := strings.Fields(os.Getenv(KeptWALEnv))
	if len(f) != 3 {
		tb.Skipf("set %s to \"DIR START END\" to replay a kept WAL", KeptWALEnv)
	}
	start, err := schema.ParseLSN(f[1])
	if err != nil {
		tb.Fatal(err)
	}
	end, err := schema.ParseLSN(f[2])
	if err != nil {
		tb.Fatal(err)
	}
	return f[0], schema.DirOptions{Start: start, End: end}
}
