package bench

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchMaterialize runs `materialize` on a little WAL: it prints
// MB/s for pagemill and for PostgreSQL's crash recovery, their ratio, the
// peak RSS and the live lag.
func TestBenchMaterialize(t *testing.T) {
	out := runBench(t, 3*time.Minute, "materialize", "--size-mb", "15", "--scale", "1", "--shards", "2", "--live-seconds", "2", "--dir", t.TempDir())
	for _, re := range []string{
		`(?m)^pagemill materialize .*?\s(\d+\.\d+)\s+(\d+\.\d)\s`,
		`(?m)^PostgreSQL crash recovery .*?\s(\d+\.\d+)\s+(\d+\.\d)\s`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no row %s:\n%s", re, out)
		}
		if mbps, _ := strconv.ParseFloat(m[2], 64); mbps <= 0 {
			t.Errorf("row %q: %s MB/s", m[0], m[2])
		}
	}
	for _, want := range []string{`ratio pagemill/PostgreSQL \(MB/s\): \d`, `peak RSS .*: \d+ MiB`, `live lag .* p99 \d`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("missing %q:\n%s", want, out)
		}
	}
}
