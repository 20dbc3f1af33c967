package bench

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchMaterialize runs `materialize` on a little WAL: it prints
// MB/s for pagemill and for PostgreSQL's crash recovery, their ratio, the
// peak RSS and the live lag. The first run keeps its inputs as a fixture;
// the second starts from it and replays the same WAL.
func TestBenchMaterialize(t *testing.T) {
	fx := filepath.Join(t.TempDir(), "fixture")
	args := []string{"materialize", "--size-mb", "15", "--scale", "1", "--shards", "2", "--live-seconds", "2", "--fixture", fx}
	first := runBench(t, 3*time.Minute, append(args, "--dir", t.TempDir())...)
	checkMaterializeReport(t, first)
	if strings.Contains(first, "from the fixture") {
		t.Errorf("the first run says it started from a fixture:\n%s", first)
	}
	second := runBench(t, 3*time.Minute, append(args, "--dir", t.TempDir())...)
	checkMaterializeReport(t, second)
	if !strings.Contains(second, "come from the fixture in "+fx) {
		t.Errorf("the second run does not say it started from the fixture:\n%s", second)
	}
	walRange := regexp.MustCompile(`(?m)^pgbench WAL (\S+ \.\. \S+) `)
	if a, b := walRange.FindStringSubmatch(first), walRange.FindStringSubmatch(second); a == nil || b == nil || a[1] != b[1] {
		t.Errorf("WAL ranges %q and %q: the fixture's run should replay the first run's WAL", a, b)
	}
	// A fixture made with other workload flags is refused.
	var out, errb bytes.Buffer
	bad := []string{"materialize", "--size-mb", "16", "--scale", "1", "--shards", "2", "--fixture", fx, "--dir", t.TempDir()}
	if code := Main(t.Context(), &out, &errb, bad); code != 2 || !strings.Contains(errb.String(), "--size-mb 15 --scale 1 --shards 2") {
		t.Errorf("a fixture of other flags: exit %d, want 2 and the fixture's flags named:\n%s", code, errb.String())
	}
}

func checkMaterializeReport(t *testing.T, out string) {
	t.Helper()
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
