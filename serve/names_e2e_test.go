package serve_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve"
)

// psqlScript runs the commands in one psql session (a file, as psql -f
// reads it) and returns its output lines.
func psqlScript(t *testing.T, srv *serve.Server, cmds []string) []string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "script.sql")
	if err := os.WriteFile(file, []byte(strings.Join(cmds, ";\n")+";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimRight(psql(t, srv, "-f", file), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// psqlErr runs one command that must fail and returns psql's stderr.
func psqlErr(t *testing.T, srv *serve.Server, cmd string) string {
	t.Helper()
	host, port, _ := strings.Cut(srv.Addr(), ":")
	c := exec.Command(filepath.Join(pgtest.BinDir(), "psql"), "-h", host, "-p", port, "-U", "tester", "-d", "postgres", "-X", "-q", "-A", "-t", "-c", cmd)
	c.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	out, err := c.CombinedOutput()
	if err == nil {
		t.Fatalf("%s: succeeded: %s", cmd, out)
	}
	return string(out)
}

// relKindWords is pg_class.relkind as the relations command words it.
const relKindWords = `CASE c.relkind WHEN 'r' THEN 'table' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table'
	WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'c' THEN 'composite type' WHEN 'f' THEN 'foreign table'
	WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END`

// testNames: relation names resolved from the catalog pages as of an
// LSN. get_page by name equals get_page by path for every block of
// pgbench_accounts; a table renamed and another dropped after L are found
// by their old names at L and not at the latest LSN; relations at L is
// pg_class as the source had it at L.
func testNames(t *testing.T, w *world) {
	w.c.Exec(t, `CREATE TABLE names_renamed (a int, b text); INSERT INTO names_renamed SELECT g, md5(g::text) FROM generate_series(1, 500) g;
		CREATE TABLE names_dropped (a int); INSERT INTO names_dropped SELECT generate_series(1, 300);
		CREATE SCHEMA other; CREATE TABLE other.pgbench_history (x int); CREATE VIEW names_view AS SELECT 1 AS one;
		CREATE TABLE "Names Quoted" (a int); INSERT INTO "Names Quoted" VALUES (1)`)
	// pg_class as the source has it now, which is as of L: nothing
	// changes the catalogs before the switch that ends at L.
	srcRels := w.c.Query(t, `SELECT c.oid, n.nspname, c.relname, `+relKindWords+`, coalesce(am.amname, ''), c.relpersistence,
			CASE WHEN c.relkind IN ('r','i','S','t','m') THEN pg_relation_filepath(c.oid) ELSE '' END
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_am am ON am.oid = c.relam`)
	renamed, _ := relation(t, w.c, "names_renamed")
	dropped, _ := relation(t, w.c, "names_dropped")
	l := w.p.CatchUp(t, w.c)
	w.c.Exec(t, `ALTER TABLE names_renamed RENAME TO names_new; DROP TABLE names_dropped`)
	latest := w.p.CatchUp(t, w.c)
	ls := l.Short()

	acc, nblocks := checkGetPageByName(t, w, ls, latest)
	checkOldNames(t, w, ls, latest, renamed, dropped)
	checkNameErrors(t, w, latest)
	rows := checkRelationsAt(t, w, srcRels, acc, ls, nblocks)
	later := strings.Join(psqlScript(t, w.srv, []string{"relations db=postgres"}), "\n")
	if !strings.Contains(later, "|names_new|") || strings.Contains(later, "|names_renamed|") || strings.Contains(later, "|names_dropped|") {
		t.Fatal("relations at the latest LSN still lists the old names")
	}
	t.Logf("at %s: %d relations as pg_class had them, %d blocks of pgbench_accounts by name; renamed and dropped found by their old names", ls, len(rows), nblocks)
}

// checkGetPageByName reads every block of pgbench_accounts, by name and by
// path, at ls, and block 7 qualified, folded, with the default fork and
// at the latest LSN. It returns the relation and its size.
func checkGetPageByName(t *testing.T, w *world, ls string, latest schema.LSN) (schema.RelFileNode, int) {
	t.Helper()
	acc, nblocks := relation(t, w.c, "pgbench_accounts")
	var byName, byPath []string
	for b := range nblocks {
		byName = append(byName, fmt.Sprintf("get_page pgbench_accounts %d %s db=postgres", b, ls))
		byPath = append(byPath, fmt.Sprintf("get_page %s main %d %s", acc, b, ls))
	}
	gotName, gotPath := psqlScript(t, w.srv, byName), psqlScript(t, w.srv, byPath)
	if len(gotName) != nblocks || !slices.Equal(gotName, gotPath) {
		t.Fatalf("get_page by name: %d rows, by path %d; equal %v", len(gotName), len(gotPath), slices.Equal(gotName, gotPath))
	}
	// Qualified, folded, default fork and the latest LSN.
	one := psqlScript(t, w.srv, []string{
		fmt.Sprintf("get_page %s main 7 %s", acc, latest.Short()),
		"GET_PAGE Public.PGBENCH_ACCOUNTS MAIN 7 db=postgres",
		`get_page public."pgbench_accounts" 7 latest db=postgres`,
	})
	page := func(row string) string { _, p, _ := strings.Cut(row, "|"); return p }
	if len(one) != 3 || page(one[0]) != page(one[1]) || page(one[1]) != page(one[2]) || page(one[0]) == "" {
		t.Fatalf("get_page block 7 three ways: %d rows, not all equal", len(one))
	}
	return acc, nblocks
}

// checkOldNames reads the renamed and the dropped table at L, by their
// old names, and the renamed one by its new name after the change.
func checkOldNames(t *testing.T, w *world, ls string, latest schema.LSN, renamed, dropped schema.RelFileNode) {
	t.Helper()
	for _, tc := range []struct {
		name string
		rel  schema.RelFileNode
	}{{"names_renamed", renamed}, {"names_dropped", dropped}} {
		got := psqlScript(t, w.srv, []string{
			fmt.Sprintf("get_page %s 0 %s db=postgres", tc.name, ls),
			fmt.Sprintf("get_page %s main 0 %s", tc.rel, ls),
			fmt.Sprintf("nblocks %s %s db=postgres", tc.name, ls),
		})
		if len(got) != 3 || got[0] != got[1] || !strings.HasPrefix(got[2], ls+"|") || got[2] == ls+"|0" {
			t.Fatalf("%s at %s: %.120q", tc.name, ls, got)
		}
		// Not at the latest LSN, nor at the one after the change.
		for _, at := range []string{"", " " + latest.Short()} {
			if msg := psqlErr(t, w.srv, "get_page "+tc.name+" 0"+at); !strings.Contains(msg, `relation "`+tc.name+`" does not exist in database "postgres" at LSN `) {
				t.Fatalf("%s at the latest LSN: %s", tc.name, msg)
			}
		}
	}
	if msg := psqlErr(t, w.srv, "nblocks names_new "+ls); !strings.Contains(msg, `relation "names_new" does not exist`) {
		t.Fatalf("names_new at L: %s", msg)
	}
	if got := psql(t, w.srv, "-c", "nblocks names_new "+latest.Short()+" db=postgres"); got != latest.Short()+"|5\n" {
		t.Fatalf("names_new at %s: %q", latest.Short(), got)
	}
	if got := psql(t, w.srv, "-c", "nblocks names_new db=postgres"); !strings.HasSuffix(got, "|5\n") {
		t.Fatalf("names_new at the latest LSN: %q", got)
	}
}

// checkNameErrors checks ambiguity, quoting, views and databases.
func checkNameErrors(t *testing.T, w *world, latest schema.LSN) {
	t.Helper()
	for cmd, want := range map[string]string{
		"get_page pgbench_history 0":              `relation name "pgbench_history" is ambiguous`,
		`get_page "names quoted" 0`:               `relation "names quoted" does not exist`,
		"get_page names_view 0 db=postgres":       "is a view",
		"get_page pgbench_accounts 0 db=nosuch":   `database "nosuch" does not exist`,
		"get_page pgbench_accounts 0 db=pagemill": `database "pagemill" does not exist`,
	} {
		if !strings.Contains(cmd, "db=") {
			cmd += " db=postgres"
		}
		if msg := psqlErr(t, w.srv, cmd); !strings.Contains(msg, want) {
			t.Fatalf("%s: %s, want %q", cmd, msg, want)
		}
	}
	if got := psql(t, w.srv, "-c", `get_page "Names Quoted" 0 `+latest.Short()+` db=postgres`); !strings.HasPrefix(got, latest.Short()+"|") {
		t.Fatalf("a quoted name: %.80q", got)
	}
}

// checkRelationsAt checks that relations at ls is pg_class as the source
// had it (srcRels), with pgbench_accounts' size, and returns its rows.
func checkRelationsAt(t *testing.T, w *world, srcRels [][]string, acc schema.RelFileNode, ls string, nblocks int) []string {
	t.Helper()
	rows := psqlScript(t, w.srv, []string{"relations " + ls + " db=postgres"})
	dbOID := strconv.FormatUint(uint64(acc.DbNode), 10)
	want := map[string]bool{}
	for _, r := range srcRels {
		path := ""
		if r[6] != "" {
			parts := strings.Split(r[6], "/") // base/DB/REL or global/REL
			path = "1663/" + dbOID + "/" + parts[len(parts)-1]
			if parts[0] == "global" {
				path = "1664/0/" + parts[1]
			}
		}
		persistence := map[string]string{"p": "permanent", "u": "unlogged", "t": "temporary"}[r[5]]
		want[strings.Join([]string{r[0], r[1], r[2], r[3], r[4], persistence, path}, "|")] = true
	}
	got := map[string]bool{}
	sizes := map[string]string{}
	for _, line := range rows {
		f := strings.Split(line, "|")
		if len(f) != 10 || f[0] != ls {
			t.Fatalf("relations row %q", line)
		}
		got[strings.Join(f[1:8], "|")] = true
		sizes[f[3]] = f[8]
	}
	for k := range want {
		if !got[k] {
			t.Errorf("relations at %s lacks %s", ls, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("relations at %s has %s, which pg_class did not", ls, k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if sizes["pgbench_accounts"] != strconv.Itoa(nblocks) || sizes["names_dropped"] == "" {
		t.Fatalf("relations sizes: pgbench_accounts %s (want %d), names_dropped %q", sizes["pgbench_accounts"], nblocks, sizes["names_dropped"])
	}
	return rows
}

// testPageHistory: page_history of pgbench_branches block 0 over a
// pgbench run lists exactly the records pg_waldump shows touching that
// block in the window, with their descriptions and full-page images.
func testPageHistory(t *testing.T, w *world) {
	from := w.p.CatchUp(t, w.c)
	w.c.Pgbench(t, "-n", "-T", "2", "-c", "2")
	to := w.p.CatchUp(t, w.c)
	rel, _ := relation(t, w.c, "pgbench_branches")

	rows := psqlScript(t, w.srv, []string{fmt.Sprintf("page_history pgbench_branches 0 %s %s db=postgres", from.Short(), to.Short())})

	dir := t.TempDir()
	w.c.CopyWAL(t, dir)
	cmd := exec.Command(filepath.Join(pgtest.BinDir(), "pg_waldump"), "-p", dir, "-s", from.String(), "-e", to.String(),
		"-R", rel.String(), "-B", "0", "-F", "main")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pg_waldump: %v\n%s", err, out)
	}
	type rec struct {
		lsn  schema.LSN
		desc string
		fpw  bool
	}
	var want []rec
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		_, rest, ok := strings.Cut(line, ", lsn: ")
		lsnText, _, _ := strings.Cut(rest, ",")
		_, desc, ok2 := strings.Cut(line, ", desc: ")
		if !ok || !ok2 {
			t.Fatalf("pg_waldump line %q", line)
		}
		desc, blkrefs, _ := strings.Cut(desc, ", blkref #")
		lsn, err := schema.ParseLSN(lsnText)
		if err != nil {
			t.Fatal(err)
		}
		fpw := false
		for _, b := range strings.Split(blkrefs, ", blkref #") {
			fpw = fpw || strings.Contains(b, "rel "+rel.String()+" blk 0 FPW") && !strings.Contains(b, "FPW for WAL verification")
		}
		want = append(want, rec{lsn, desc, fpw})
	}
	images := 0
	var got []rec
	for _, line := range rows {
		f := strings.Split(line, "|") // lsn, record_lsn, xid, full_image, stored, rmgr, type, description
		if len(f) != 8 || f[1] == "" {
			t.Fatalf("page_history row without a record: %q", line)
		}
		lsn, err := schema.ParseLSN(f[1])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec{lsn, f[6] + " " + f[7], f[3] == "t"})
		if f[4] == "image" {
			images++
		}
	}
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			t.Fatalf("version %d of %d: page_history %+v, pg_waldump %+v", i, len(want), got[i], want[i])
		}
	}
	if len(got) != len(want) || len(want) < 100 {
		t.Fatalf("page_history: %d versions, pg_waldump %d records", len(got), len(want))
	}
	if images == 0 {
		t.Fatal("no version stored as an image: the records read back from the stream were not tested")
	}
	t.Logf("page_history of %s blk 0 in (%s, %s]: %d records as pg_waldump shows them, %d of them stored as images", rel, from.Short(), to.Short(), len(got), images)
}

// testPageItems: page_items equals pageinspect's heap_page_items and
// bt_page_items on the source for a sample of pages, after CHECKPOINT,
// but for what the server changes without WAL: hint bits (t_infomask
// 0x0F00 and the flags naming them), t_field3 (redo writes command id 0)
// and the dead flag of index items.
func testPageItems(t *testing.T, w *world) {
	w.c.Checkpoint(t)
	lsn := w.p.CatchUp(t, w.c).Short()
	compared := 0
	for _, tc := range []struct {
		rel    string
		blocks []int
		btree  bool
	}{
		{"pgbench_accounts", []int{0, 1, 7, 900}, false},
		{"pgbench_branches", []int{0}, false},
		{"pgbench_tellers", []int{0}, false},
		{"public.pgbench_history", []int{0}, false},
		{"pgbench_accounts_pkey", []int{1, 2, 3, 100}, true},
		{"pgbench_branches_pkey", []int{1}, true},
	} {
		for _, b := range tc.blocks {
			var src [][]string
			if tc.btree {
				src = w.c.Query(t, `SELECT itemoffset, ctid, itemlen, nulls, vars, data, '', coalesce(htid::text, ''), coalesce(tids::text, '')
					FROM bt_page_items($1, $2)`, tc.rel, b)
			} else {
				src = w.c.Query(t, fmt.Sprintf(`SELECT lp, lp_off, lp_flags, lp_len, coalesce(t_xmin::text, ''), coalesce(t_xmax::text, ''), '',
					coalesce(t_ctid::text, ''), coalesce(t_infomask2::text, ''), coalesce((t_infomask & ~%d)::text, ''), coalesce(t_hoff::text, ''),
					coalesce(t_bits, ''), coalesce(t_oid::text, ''), coalesce(t_data::text, '')
					FROM heap_page_items(get_raw_page($1, $2))`, schema.HeapInfomaskHintBits), tc.rel, b)
			}
			got := psqlScript(t, w.srv, []string{fmt.Sprintf("page_items %s %d %s db=postgres", tc.rel, b, lsn)})
			if len(got) != len(src) || len(src) == 0 {
				t.Fatalf("%s block %d: %d items, pageinspect %d", tc.rel, b, len(got), len(src))
			}
			for i, line := range got {
				f := strings.Split(line, "|")
				if f[0] != lsn {
					t.Fatalf("%s block %d: read at %s", tc.rel, b, f[0])
				}
				f = f[1:]
				if tc.btree {
					f[6] = "" // dead: LP_DEAD is a hint on index items
				} else {
					f[6] = "" // t_field3
					if f[9] != "" {
						im, _ := strconv.Atoi(f[9])
						f[9] = strconv.Itoa(im &^ schema.HeapInfomaskHintBits)
					}
					f = f[:14] // the flags: the same bits, named
				}
				if g, w := strings.Join(f, "|"), strings.Join(src[i], "|"); g != w {
					t.Fatalf("%s block %d item %d:\n got %s\nwant %s", tc.rel, b, i+1, g, w)
				}
				compared++
			}
		}
	}
	t.Logf("page_items at %s equal pageinspect's for %d items", lsn, compared)
}
