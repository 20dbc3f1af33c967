package cli

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchIngest runs `bench ingest` on a little WAL: it prints an MB/s
// figure for pagemill and for pg_receivewal.
func TestBenchIngest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	args := []string{"ingest", "--size-mb", "20", "--shards", "4", "--receivewal", "default,no-sync", "--runs", "1", "--log-level", "warn", "--dir", t.TempDir()}
	if code := Bench(ctx, Env{Stdout: &out, Stderr: &errb}, args); code != 0 {
		t.Fatalf("bench ingest exited %d: %s\n%s", code, errb.String(), out.String())
	}
	t.Logf("\n%s", out.String())
	row := regexp.MustCompile(`(?m)^(pagemill ingest|pg_receivewal)\b.*?\s+(\d+\.\d)\s+(\d+\.\d{3})\s+(\d+\.\d)\s+(\d+|-)\s`)
	seen := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(out.String(), -1) {
		mb, _ := strconv.ParseFloat(m[2], 64)
		mbps, _ := strconv.ParseFloat(m[4], 64)
		if mb < 20 || mbps <= 0 {
			t.Errorf("row %q: %v MB at %v MB/s", m[0], mb, mbps)
		}
		seen[m[1]]++
	}
	if seen["pagemill ingest"] != 1 || seen["pg_receivewal"] != 2 {
		t.Fatalf("want one pagemill row and two pg_receivewal rows with MB/s, got %v:\n%s", seen, out.String())
	}
	if !regexp.MustCompile(`pagemill: \d+ rounds`).MatchString(out.String()) {
		t.Errorf("no round count:\n%s", out.String())
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
