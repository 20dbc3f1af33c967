package bench

import (
	"encoding/json"
	"testing"
	"time"
)

// TestBenchDecode runs `decode --json` on a little pgbench WAL: every way
// of reading it has a positive time and rate, the decoders count the same
// records, and pg_waldump's rows are there beside pagemill's.
func TestBenchDecode(t *testing.T) {
	out := runBench(t, 3*time.Minute, "decode", "--size-mb", "3", "--scale", "1", "--pgbench-seconds", "1", "--runs", "2",
		"--log-level", "warn", "--json", "--dir", t.TempDir())
	var rep struct {
		Scenario string
		Sections []struct {
			Table *struct {
				Columns []struct{ Name string }
				Rows    []struct {
					Name   string
					Values []*float64
				}
			}
		}
		Figures map[string]float64
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if rep.Scenario != "decode" || len(rep.Sections) != 2 || rep.Sections[1].Table == nil {
		t.Fatalf("want the decode report with a head line and a table")
	}
	if rep.Figures["mb"] < 3 || rep.Figures["records"] < 1000 {
		t.Errorf("figures %v: want at least 3 MB and 1000 records", rep.Figures)
	}
	want := []string{"pagemill decode (read, CRC, decode)", "pagemill decode + restore every image", "pagemill waldump > /dev/null",
		"pg_waldump > /dev/null", "pg_waldump --stats=record"}
	rows := rep.Sections[1].Table.Rows
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if r.Name != want[i] {
			t.Errorf("row %d is %q, want %q", i, r.Name, want[i])
		}
		if len(r.Values) != 3 {
			t.Fatalf("row %q: %d values", r.Name, len(r.Values))
		}
		for j, v := range r.Values {
			if v == nil || *v <= 0 {
				t.Errorf("row %q: %s is %v", r.Name, rep.Sections[1].Table.Columns[j].Name, v)
			}
		}
	}
}
