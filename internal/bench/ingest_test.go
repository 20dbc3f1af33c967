package bench

import (
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchIngest runs `ingest` on a little WAL: it prints an MB/s
// figure for pagemill and for pg_receivewal.
func TestBenchIngest(t *testing.T) {
	out := runBench(t, 2*time.Minute, "ingest", "--size-mb", "20", "--shards", "4", "--receivewal", "default,no-sync", "--runs", "1",
		"--log-level", "warn", "--dir", t.TempDir())
	row := regexp.MustCompile(`(?m)^(pagemill ingest|pg_receivewal)\b.*?\s+(\d+\.\d)\s+(\d+\.\d{3})\s+(\d+\.\d)\s+(\d+|-)\s`)
	seen := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(out, -1) {
		mb, _ := strconv.ParseFloat(m[2], 64)
		mbps, _ := strconv.ParseFloat(m[4], 64)
		if mb < 20 || mbps <= 0 {
			t.Errorf("row %q: %v MB at %v MB/s", m[0], mb, mbps)
		}
		seen[m[1]]++
	}
	if seen["pagemill ingest"] != 1 || seen["pg_receivewal"] != 2 {
		t.Fatalf("want one pagemill row and two pg_receivewal rows with MB/s, got %v:\n%s", seen, out)
	}
	if !regexp.MustCompile(`pagemill: \d+ rounds`).MatchString(out) {
		t.Errorf("no round count:\n%s", out)
	}
}

func TestBenchIngestQuantile(t *testing.T) {
	// 10 observations ≤ 1, 10 more ≤ 2, none above.
	b := []histogramBucket{{1, 10}, {2, 20}, {4, 20}, {math.Inf(1), 20}}
	for _, c := range []struct{ q, want float64 }{{0.25, 0.5}, {0.5, 1}, {0.75, 1.5}, {1, 2}} {
		if got := bucketQuantile(c.q, b, 20); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", c.q, got, c.want)
		}
	}
	// Everything above the last finite bucket: its bound.
	if got := bucketQuantile(0.5, []histogramBucket{{1, 0}, {math.Inf(1), 5}}, 5); got != 1 {
		t.Errorf("overflow = %v, want 1", got)
	}
	if got := bucketQuantile(0.5, nil, 0); !math.IsNaN(got) {
		t.Errorf("empty = %v, want NaN", got)
	}
}
