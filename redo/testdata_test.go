package redo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// The data-driven tests below run without PostgreSQL, over WAL captured by
// internal/tools/mkredotestdata with wal_consistency_checking=all.
var update = flag.Bool("update", false, "rewrite redo/testdata/verify/*/report.json from the WAL")

const testdataVerify = "testdata/verify"

// testdataCase is one directory of testdata/verify, its WAL unpacked.
type testdataCase struct {
	name, src  string
	wal        string // directory of gunzipped segments
	start, end schema.LSN
}

// testdataCases unpacks every case of testdata/verify.
func testdataCases(t *testing.T) []testdataCase {
	t.Helper()
	entries, err := os.ReadDir(testdataVerify)
	if err != nil {
		t.Fatal(err)
	}
	var cases []testdataCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := testdataCase{name: e.Name(), src: filepath.Join(testdataVerify, e.Name())}
		rng, err := os.ReadFile(filepath.Join(c.src, "range.txt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(rng)), "\n") {
			k, v, _ := strings.Cut(line, " ")
			lsn, err := schema.ParseLSN(v)
			if err != nil {
				t.Fatalf("%s/range.txt: %q: %v", c.name, line, err)
			}
			switch k {
			case "start":
				c.start = lsn
			case "end":
				c.end = lsn
			}
		}
		if c.start == 0 || c.end <= c.start {
			t.Fatalf("%s/range.txt: bad range %s..%s", c.name, c.start, c.end)
		}
		c.wal = pgtest.UnpackWAL(t, c.src)
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		t.Fatalf("no cases in %s", testdataVerify)
	}
	return cases
}

func (c testdataCase) open(t *testing.T) *schema.DirReader {
	t.Helper()
	d, err := schema.OpenWALDir(os.DirFS(c.wal), schema.DirOptions{Start: c.start, End: c.end})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestVerifyTestdata replays each case's WAL with Verify and holds the
// report, per record type, to the golden report.json: a redo change that
// alters any count, or makes a page mismatch, fails here. With -update it
// rewrites the goldens instead.
func TestVerifyTestdata(t *testing.T) {
	for _, c := range testdataCases(t) {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Verify(context.Background(), c.open(t))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Start < c.start || rep.End != c.end {
				t.Errorf("replayed %s..%s, range %s..%s", rep.Start, rep.End, c.start, c.end)
			}
			golden := filepath.Join(c.src, "report.json")
			if *update {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			var want VerifyReport
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("%s: %v", golden, err)
			}
			if rep.VerifyStats != want.VerifyStats {
				t.Errorf("total %+v, golden %+v", rep.VerifyStats, want.VerifyStats)
			}
			names := map[string]bool{}
			for n := range rep.ByType {
				names[n] = true
			}
			for n := range want.ByType {
				names[n] = true
			}
			sorted := make([]string, 0, len(names))
			for n := range names {
				sorted = append(sorted, n)
			}
			sort.Strings(sorted)
			for _, n := range sorted {
				got, exp := rep.ByType[n], want.ByType[n]
				switch {
				case got == nil:
					t.Errorf("%s: no records, golden %+v", n, *exp)
				case exp == nil:
					t.Errorf("%s: %+v, not in the golden", n, *got)
				case *got != *exp:
					t.Errorf("%s: %+v, golden %+v", n, *got, *exp)
				}
			}
			if got, exp := mismatchKeys(rep.FirstMismatches), mismatchKeys(want.FirstMismatches); !reflect.DeepEqual(got, exp) {
				t.Errorf("first mismatches %v, golden %v", got, exp)
			}

			// Whatever the golden says: the native resource managers
			// replay every record, every compared page matches, and the
			// workload compared something of every page-changing type.
			if rep.Mismatches != 0 {
				t.Errorf("%d mismatches", rep.Mismatches)
			}
			for n, s := range rep.ByType {
				for _, p := range inScope {
					if strings.HasPrefix(n, p) && (s.Unsupported != 0 || s.Mismatches != 0) {
						t.Errorf("%s: %+v", n, *s)
					}
				}
			}
			for _, n := range testdataComparedTypes {
				if s := rep.ByType[n]; s == nil || s.Compared == 0 {
					t.Errorf("%s: nothing compared (%+v)", n, s)
				}
			}
		})
	}
}

// testdataComparedTypes are the record types every case must compare at
// least one page of (see internal/tools/mkredotestdata's workload).
var testdataComparedTypes = []string{
	"Heap/INSERT", "Heap/INSERT+INIT", "Heap/DELETE", "Heap/UPDATE", "Heap/UPDATE+INIT", "Heap/HOT_UPDATE",
	"Heap/LOCK", "Heap/INPLACE", "Heap/HEAP_CONFIRM",
	"Heap2/PRUNE", "Heap2/VACUUM", "Heap2/FREEZE_PAGE", "Heap2/VISIBLE", "Heap2/MULTI_INSERT",
	"Heap2/MULTI_INSERT+INIT", "Heap2/LOCK_UPDATED",
	"Btree/INSERT_LEAF", "Btree/INSERT_UPPER", "Btree/INSERT_META", "Btree/SPLIT_L", "Btree/SPLIT_R",
	"Btree/INSERT_POST", "Btree/DEDUP", "Btree/DELETE", "Btree/VACUUM", "Btree/MARK_PAGE_HALFDEAD",
	"Btree/UNLINK_PAGE", "Btree/UNLINK_PAGE_META", "Btree/NEWROOT", "Btree/META_CLEANUP",
	"Sequence/LOG",
}

func mismatchKeys(ms []Mismatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s %s %s @%d %s", m.At, m.Record, m.Block, m.Offset, m.Err))
	}
	return out
}

// redoCase is one line of records.txt: a record and the blocks of it whose
// consistency image redo must reproduce from the page it holds before.
type redoCase struct {
	lsn    schema.LSN
	typ    string
	blocks []uint8
	change []bool // the record changes the masked page of the block
	line   int
}

func readRedoCases(t *testing.T, path string) map[schema.LSN]*redoCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases := map[schema.LSN]*redoCase{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("%s:%d: want \"lsn type blocks\": %q", path, n, line)
		}
		lsn, err := schema.ParseLSN(fields[0])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		rc := &redoCase{lsn: lsn, typ: fields[1], line: n}
		for _, b := range strings.Split(fields[2], ",") {
			changed := strings.HasSuffix(b, "*")
			var id uint8
			if _, err := fmt.Sscanf(strings.TrimSuffix(b, "*"), "%d", &id); err != nil {
				t.Fatalf("%s:%d: block %q: %v", path, n, b, err)
			}
			rc.blocks = append(rc.blocks, id)
			rc.change = append(rc.change, changed)
		}
		if cases[lsn] != nil {
			t.Fatalf("%s:%d: %s listed twice", path, n, lsn)
		}
		cases[lsn] = rc
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return cases
}

// TestRedoCases replays each case's WAL with Engine.Apply and, at every
// record records.txt lists, checks that the listed blocks had a page before
// the record and that Apply turned it into the record's consistency image
// (masked); and that the record changes the masked page exactly where
// records.txt says so, so a redo that leaves the page alone cannot pass.
func TestRedoCases(t *testing.T) {
	for _, c := range testdataCases(t) {
		t.Run(c.name, func(t *testing.T) {
			want := readRedoCases(t, filepath.Join(c.src, "records.txt"))
			e := newTestEngine(t)
			pages := NewMemPages()
			d := c.open(t)
			image := make([]byte, schema.BLCKSZ)
			found := map[schema.LSN]bool{}
			types := map[string]bool{}
			for rec := range walRecords(t, d) {
				rc := want[rec.LSN]
				if rc == nil {
					if res, err := e.Apply(rec, pages); err != nil {
						t.Fatalf("%s at %s: %v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
					} else if res.Truncate != nil {
						pages.Truncate(res.Truncate)
					}
					continue
				}
				found[rec.LSN] = true
				types[rc.typ] = true
				t.Run(fmt.Sprintf("%s@%s", strings.ReplaceAll(rc.typ, "/", "_"), rec.LSN), func(t *testing.T) {
					checkRedoCase(t, e, pages, rec, rc, image)
				})
			}
			for lsn, rc := range want {
				if !found[lsn] {
					t.Errorf("records.txt:%d: no record starts at %s", rc.line, lsn)
				}
			}
			t.Logf("%d records checked, of %d types", len(found), len(types))
		})
	}
}

// checkRedoCase applies rec, which must be the record rc lists, to pages
// (always, so that the replay goes on whatever fails).
func checkRedoCase(t *testing.T, e *Engine, pages *MemPages, rec *schema.DecodedRecord, rc *redoCase, image []byte) {
	if name := schema.RecordTypeName(rec.Rmgr(), rec.Info()); name != rc.typ {
		t.Errorf("records.txt:%d: the record at %s is %s, not %s", rc.line, rec.LSN, name, rc.typ)
	}
	blocks := make([]*schema.DecodedBkpBlock, len(rc.blocks))
	before := make([][]byte, len(rc.blocks))
	for i, id := range rc.blocks {
		blk := rec.Block(id)
		if blk == nil || !ConsistencyCheckBlock(rec, blk) {
			t.Errorf("records.txt:%d: block %d has no consistency image", rc.line, id)
			continue
		}
		blocks[i] = blk
		if p, ok := pages.Get(blk.Tag); ok {
			before[i] = append([]byte(nil), p...)
		} else {
			t.Errorf("block %d (%s): no page before the record (unavailable: %v)", id, blk.Tag, pages.Unavailable(blk.Tag))
		}
	}
	res, err := e.Apply(rec, pages)
	if res.Truncate != nil {
		pages.Truncate(res.Truncate)
	}
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for i, blk := range blocks {
		if blk == nil || before[i] == nil {
			continue
		}
		if err := e.Restorer.Restore(image, rec, blk); err != nil {
			t.Fatal(err)
		}
		after, ok := pages.Get(blk.Tag)
		if !ok {
			t.Errorf("block %d (%s): unavailable after redo", blk.ID, blk.Tag)
			continue
		}
		if off, equal, err := CompareMasked(rec.Rmgr(), blk.Tag.Block, image, after); !equal || err != nil {
			t.Errorf("block %d (%s): differs from the consistency image at offset %d (%v)", blk.ID, blk.Tag, off, err)
		}
		_, same, _ := CompareMasked(rec.Rmgr(), blk.Tag.Block, image, before[i])
		if same == rc.change[i] {
			t.Errorf("block %d (%s): the record changes the masked page: %v; records.txt says %v", blk.ID, blk.Tag, !same, rc.change[i])
		}
		// A page redo changes carries the record's end as its LSN.
		if rc.change[i] && after.LSN() != rec.EndLSN {
			t.Errorf("block %d (%s): page LSN %s after redo, want %s", blk.ID, blk.Tag, after.LSN(), rec.EndLSN)
		}
	}
}
