package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
)

func TestVerifyUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), Env{Stdout: &out, Stderr: &errOut}, []string{"verify"}); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "Usage: pagemill verify") {
		t.Fatalf("stderr %q", errOut.String())
	}
	if code := Main(context.Background(), Env{Stdout: &out, Stderr: &errOut}, []string{"verify", "--path", t.TempDir(), "--start", "zz"}); code != 2 {
		t.Fatalf("bad --start: exit %d, want 2", code)
	}
}

func TestVerifyCommandPgbench(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{WALConsistencyChecking: "all"})
	start := c.CreatePhysicalSlot(t, "keep")
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Checkpoint(t)
	c.Pgbench(t, "-T", "2", "-c", "2")
	end := c.CurrentWALLSN(t)
	dir := t.TempDir()
	c.CopyWAL(t, dir)

	var out, errOut bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errOut}
	if code := Main(context.Background(), env, []string{"verify", "--path", dir, "--start", start, "--end", end, "--json"}); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	var rep map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	counters := []string{"records", "applied", "compared", "mismatches", "unsupported"}
	for _, k := range counters {
		var n int
		if err := json.Unmarshal(rep[k], &n); err != nil {
			t.Fatalf("key %q: %v (%s)", k, err, rep[k])
		}
	}
	var total struct{ Records, Applied, Compared, Mismatches, Unsupported int }
	json.Unmarshal(out.Bytes(), &total)
	// pgbench's WAL is all native redo: everything applied, images compared.
	if total.Records == 0 || total.Applied != total.Records || total.Compared == 0 || total.Mismatches != 0 || total.Unsupported != 0 {
		t.Fatalf("totals %+v", total)
	}
	var byType map[string]map[string]int
	if err := json.Unmarshal(rep["by_type"], &byType); err != nil {
		t.Fatal(err)
	}
	hot, ok := byType["Heap/HOT_UPDATE"]
	if !ok {
		t.Fatalf("no Heap/HOT_UPDATE in by_type: %v", byType)
	}
	for _, k := range counters {
		if _, ok := hot[k]; !ok {
			t.Fatalf("by_type entry lacks %q: %v", k, hot)
		}
	}
	if hot["unsupported"] != 0 || hot["compared"] == 0 || hot["applied"] != hot["records"] {
		t.Fatalf("Heap/HOT_UPDATE %v", hot)
	}

	// The table form.
	out.Reset()
	if code := Main(context.Background(), env, []string{"verify", "--path", dir, "--start", start, "--end", end}); code != 0 {
		t.Fatalf("table: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"records", "unsupported", "Heap/HOT_UPDATE", "total", "native"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, out.String())
		}
	}
	// Per resource manager: Heap all native, nothing unsupported.
	if !regexp.MustCompile(`(?m)^Heap\s+(\d+)\s+(\d+)\s+100\.00%\s+[1-9]\d*\s+0\s+0$`).MatchString(out.String()) {
		t.Fatalf("no all-native Heap row:\n%s", out.String())
	}
	var byRmgr map[string]map[string]int
	if err := json.Unmarshal(rep["by_rmgr"], &byRmgr); err != nil || byRmgr["Heap"]["records"] == 0 {
		t.Fatalf("by_rmgr: %v %v", byRmgr, err)
	}
	t.Logf("\n%s", out.String())
}
