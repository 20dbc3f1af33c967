package cli

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pipetest"
)

// TestBenchMaterialize runs `bench materialize` on a little WAL: it prints
// MB/s for pagemill and for PostgreSQL's crash recovery, their ratio, the
// peak RSS and the live lag.
func TestBenchMaterialize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var errb pipetest.SyncBuffer
	args := []string{"--size-mb", "15", "--scale", "1", "--shards", "2", "--live-seconds", "2", "--dir", t.TempDir()}
	if code := benchMaterialize(ctx, Env{Stdout: &out, Stderr: &errb}, args); code != 0 {
		t.Fatalf("bench materialize exited %d: %s\n%s", code, errb.String(), out.String())
	}
	t.Logf("\n%s", out.String())
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", errb.String())
		}
	}()
	for _, re := range []string{
		`(?m)^pagemill materialize .*?\s(\d+\.\d+)\s+(\d+\.\d)\s`,
		`(?m)^PostgreSQL crash recovery .*?\s(\d+\.\d+)\s+(\d+\.\d)\s`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no row %s:\n%s", re, out.String())
		}
		if mbps, _ := strconv.ParseFloat(m[2], 64); mbps <= 0 {
			t.Errorf("row %q: %s MB/s", m[0], m[2])
		}
	}
	for _, want := range []string{`ratio pagemill/PostgreSQL \(MB/s\): \d`, `peak RSS .*: \d+ MiB`, `live lag .* p99 \d`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("missing %q:\n%s", want, out.String())
		}
	}
}
