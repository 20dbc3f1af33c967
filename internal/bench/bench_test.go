package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pipetest"
)

// runBench runs pagemill-bench with args and returns what it printed; an
// exit status other than 0 fails the test, and the progress log is
// logged when the test fails.
func runBench(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var out bytes.Buffer
	var errb pipetest.SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", errb.String())
		}
	})
	if code := Main(ctx, &out, &errb, args); code != 0 {
		t.Fatalf("pagemill-bench %s exited %d:\n%s", strings.Join(args, " "), code, out.String())
	}
	t.Logf("\n%s", out.String())
	return out.String()
}

// TestUsage: no benchmark, an unknown one, an unknown flag and a flag out
// of range are usage errors (exit 2) that say what is wrong and print no
// report; help lists every benchmark.
func TestUsage(t *testing.T) {
	var help, errb bytes.Buffer
	if code := Main(t.Context(), &help, &errb, []string{"help"}); code != 0 {
		t.Errorf("help: exit %d", code)
	}
	for _, s := range Scenarios() {
		if !strings.Contains(help.String(), "pagemill-bench "+s.Name+" ") {
			t.Errorf("help does not list %s:\n%s", s.Name, help.String())
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "pagemill-bench decode"},
		{[]string{"nosuch"}, 2, `unknown benchmark "nosuch"`},
		{[]string{"redo", "--nosuch"}, 2, "flag provided but not defined: -nosuch"},
		{[]string{"redo", "--workers", "0"}, 2, `bad --workers entry "0"`},
		{[]string{"redo", "--workload", "btree"}, 2, `unknown workload "btree"`},
		{[]string{"ingest", "--receivewal", "sometimes"}, 2, `unknown --receivewal variant "sometimes"`},
		{[]string{"decode", "--path", "/nonexistent", "--start", "nonsense"}, 2, "--start:"},
		{[]string{"restore", "--shards", "0"}, 2, "must be positive"},
	} {
		var out, errb bytes.Buffer
		code := Main(t.Context(), &out, &errb, c.args)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: exit %d, want %d; stderr does not say %q:\n%s", c.args, code, c.code, c.want, errb.String())
		}
		if out.Len() > 0 {
			t.Errorf("%q printed a report:\n%s", c.args, out.String())
		}
	}
}

// TestReportText: the printer aligns the name column and right-aligns the
// figures, prints "-" for a missing value and a rate over no time,
// indents sub-rows, leaves no trailing blanks and separates sections by
// one blank line.
func TestReportText(t *testing.T) {
	rep := testReport()
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	// As the benchmarks' Printf formats had it.
	want := "head line\n\n" +
		fmt.Sprintf("%-12s %8s %5s  %s\n", "", "seconds", "MB/s", "load") +
		fmt.Sprintf("%-12s %8.3f %5.1f  %s\n", "a long row", 1.5, 100/1.5, "0.1 0.2 0.3") +
		fmt.Sprintf("  %-10s %8.3f\n", "part", 0.25) +
		fmt.Sprintf("%-12s %8.3f %5s\n", "zero", 0.0, "-") +
		"\nratio: 2.00\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestReportJSON: the same report as JSON keeps every figure, null for
// the missing ones, and the headline figures by name.
func TestReportJSON(t *testing.T) {
	var b bytes.Buffer
	if err := testReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sections []struct {
			Lines []string
			Table *struct {
				Columns []struct{ Name string }
				Rows    []struct {
					Name   string
					Sub    bool
					Values []*float64
					Text   string
				}
			}
		}
		Figures map[string]float64
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	if len(got.Sections) != 3 || got.Sections[1].Table == nil || len(got.Sections[1].Table.Rows) != 3 {
		t.Fatalf("sections:\n%s", b.String())
	}
	rows := got.Sections[1].Table.Rows
	if v := rows[0].Values; len(v) != 2 || v[0] == nil || *v[0] != 1.5 || v[1] == nil || *v[1] != 100/1.5 || rows[0].Text != "0.1 0.2 0.3" {
		t.Errorf("row 0: %+v", rows[0])
	}
	if !rows[1].Sub || len(rows[1].Values) != 1 {
		t.Errorf("row 1: %+v", rows[1])
	}
	if v := rows[2].Values; len(v) != 2 || v[1] != nil {
		t.Errorf("row 2: a rate over no time is not null: %+v", rows[2])
	}
	if got.Figures["ratio"] != 2 {
		t.Errorf("figures: %v", got.Figures)
	}
}

func testReport() *Report {
	rep := &Report{}
	rep.Linef("head line")
	rep.Add(Section{Table: &Table{LabelWidth: 12, Text: "load", Columns: []Column{{"seconds", 8, 3}, {"MB/s", 5, 1}}, Rows: []Row{
		{Name: "a long row", Values: []Value{Num(1.5), Rate(100, 1.5)}, Text: "0.1 0.2 0.3"},
		{Name: "part", Sub: true, Values: []Value{Num(0.25)}},
		{Name: "zero", Values: []Value{Num(0), Rate(100, 0)}},
	}}})
	rep.Linef("ratio: %.2f", 2.0)
	rep.Figure("ratio", 2)
	return rep
}
