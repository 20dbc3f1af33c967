// Command mkredotestdata regenerates redo/testdata/verify: for each case a
// little real PostgreSQL 15 WAL written with wal_consistency_checking=all,
// the redo.Verify report over it, and a list of single records whose
// consistency images redo must reproduce. They are the golden data of
// redo/testdata_test.go, which runs without PostgreSQL.
//
// Run it by hand from the module root (it needs the PostgreSQL 15 binaries,
// see internal/pgtest):
//
//	go run ./internal/tools/mkredotestdata [-case NAME]
//
// Each case starts a scratch cluster with 1 MiB segments, creates its
// tables, switches to a fresh segment, checkpoints (so that the first change
// of every page carries an image to start from) and runs a compact workload
// that reaches the record types with native redo: Heap INSERT, UPDATE (HOT,
// cross-page, +INIT), DELETE, LOCK (with multixacts), INPLACE, CONFIRM;
// Heap2 PRUNE, VACUUM, FREEZE_PAGE, VISIBLE, MULTI_INSERT, LOCK_UPDATED;
// Btree inserts, splits at every level, NEWROOT, DEDUP, INSERT_POST, DELETE,
// VACUUM, page deletion; Sequence LOG. Index keys are wide but stored
// uncompressed (STORAGE PLAIN) and made of repeated characters, so a few
// dozen rows build a tree of several levels while the page images, which
// every record carries, stay small once gzip'd.
//
// It writes into <out>/<case>/:
//
//   - <segment name>.gz for each segment of the range, gzip-compressed; the
//     bytes after the range's end in the last segment are zeroed.
//   - range.txt: "start <LSN>" and "end <LSN>": the first byte of the first
//     segment and the end of the last record.
//   - report.json: redo.Verify's report over the range (the golden of
//     TestVerifyTestdata; `go test ./redo -run TestVerifyTestdata -update`
//     rewrites it from the WAL).
//   - records.txt: per record type a few records whose blocks carry
//     consistency images and whose pages redo holds before the record (the
//     cases of TestRedoCases), with the blocks to check and whether the
//     record changes the masked page.
//
// It refuses to write a case whose replay has a mismatch.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/tools/waltools"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// testCase is one directory of redo/testdata/verify.
type testCase struct {
	name string
	opts pgtest.Options
}

var cases = []testCase{
	{"plain", pgtest.Options{}},
	{"checksums", pgtest.Options{DataChecksums: true}},
	{"pglz", pgtest.Options{WALCompression: "pglz"}},
}

// perType is how many records of each type records.txt lists.
const perType = 3

func main() {
	out := flag.String("out", filepath.Join("redo", "testdata", "verify"), "output directory; each case's subdirectory is replaced")
	only := flag.String("case", "", "regenerate only this case")
	verbose := flag.Bool("v", false, "log the cluster's progress")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("mkredotestdata: ")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	done := 0
	for _, tc := range cases {
		if *only != "" && tc.name != *only {
			continue
		}
		if err := run(ctx, tc, filepath.Join(*out, tc.name), *verbose); err != nil {
			log.Fatalf("%s: %v", tc.name, err)
		}
		done++
	}
	if done == 0 {
		log.Fatalf("no case named %q", *only)
	}
}

// setup runs before the range: the DDL, whose catalog changes would
// otherwise fill the range with catalog page images, and the initial rows.
var setup = []string{
	// rt: HOT and non-HOT updates, deletes, locks, freezing.
	`CREATE TABLE rt (id int PRIMARY KEY, k int, pad text) WITH (fillfactor = 60, autovacuum_enabled = off)`,
	`ALTER TABLE rt ALTER COLUMN pad SET STORAGE PLAIN`,
	`INSERT INTO rt SELECT g, g, repeat('p', 60) FROM generate_series(1, 150) g`,
	// rw: wide keys, 3 or 4 to a page, stored uncompressed: a deep btree
	// from few rows.
	`CREATE TABLE rw (id int, k text) WITH (autovacuum_enabled = off)`,
	`ALTER TABLE rw ALTER COLUMN k SET STORAGE PLAIN`,
	`CREATE INDEX rw_k ON rw (k)`,
	// rm: the same keys, for the fast root.
	`CREATE TABLE rm (id int, k text) WITH (autovacuum_enabled = off)`,
	`ALTER TABLE rm ALTER COLUMN k SET STORAGE PLAIN`,
	`CREATE INDEX rm_k ON rm (k)`,
	// rk: few distinct values. rk_v is built with posting lists; rk_w full
	// and without them, deduplication turned on afterwards.
	`CREATE TABLE rk (id int, v int, w int) WITH (autovacuum_enabled = off)`,
	`INSERT INTO rk SELECT g, g % 3, g / 500 FROM generate_series(1, 2000) g`,
	`CREATE INDEX rk_v ON rk (v)`,
	`CREATE INDEX rk_w ON rk (w) WITH (deduplicate_items = off, fillfactor = 100)`,
	`ALTER INDEX rk_w SET (deduplicate_items = on)`,
	// rc: COPY; roc: INSERT … ON CONFLICT; rl: LOCK_UPDATED.
	`CREATE TABLE rc (a int, b text) WITH (autovacuum_enabled = off)`,
	`CREATE TABLE roc (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off)`,
	`CREATE TABLE rl (id int, v text) WITH (autovacuum_enabled = off)`,
	`INSERT INTO rl SELECT g, 'l' || g FROM generate_series(1, 10) g`,
	`CREATE SEQUENCE rs CACHE 1`,
	`VACUUM rk`,
}

// wideKey is rw's key for row i: random order, 1,900 bytes.
const wideKey = `md5(i::text) || repeat('w', 1868)`

// workload runs inside the range, one session per entry.
var workload = []string{
	// Heap INSERT, btree INSERT_LEAF, SPLIT_L/R, INSERT_UPPER, NEWROOT of
	// levels 0 to 2 (3 or 4 keys per page, leaf and internal).
	`INSERT INTO rw SELECT i, ` + wideKey + ` FROM generate_series(1, 60) i`,
	// HOT updates, non-HOT updates, updates to another page.
	`UPDATE rt SET k = k + 1 WHERE id % 3 = 0`,
	`UPDATE rt SET id = id + 1000 WHERE id % 23 = 0`,
	`UPDATE rt SET pad = repeat('q', 900) WHERE id % 31 = 0`,
	`UPDATE rt SET pad = repeat('r', 5000) WHERE id = 2`, // a new page: +INIT
	// Heap2 MULTI_INSERT (+INIT).
	`COPY rc (a) FROM PROGRAM 'seq 1 600'`,
	`COPY rc (a) FROM PROGRAM 'seq 1 20'`,
	// Speculative insertion: INSERT with the flag, CONFIRM; DO UPDATE.
	`INSERT INTO roc SELECT g, 0 FROM generate_series(1, 20) g ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO roc SELECT g, 1 FROM generate_series(15, 25) g ON CONFLICT (id) DO UPDATE SET v = excluded.v`,
	// Sequence LOG.
	`SELECT nextval('rs') FROM generate_series(1, 40)`,
	`SELECT setval('rs', 500)`,
	// Btree DELETE: dead rows an index scan marks LP_DEAD, on rk_w's full
	// leaf, deleted by the next insert into it.
	`DELETE FROM rk WHERE w = 0 AND id > 440 AND id % 4 = 0`,
	`SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM rk WHERE w = 0`,
	`INSERT INTO rk VALUES (2001, 1, 0)`,
	// DEDUP: inserts fill rk_w's rightmost leaf (w = 3 and 4), then
	// deduplicate it.
	`INSERT INTO rk SELECT g, g % 3, 3 FROM generate_series(2002, 2046) g`,
	// Heap DELETE, then VACUUM: PRUNE, VACUUM, VISIBLE, btree VACUUM with
	// posting list updates, INPLACE (pg_class).
	`DELETE FROM rk WHERE id % 13 = 0 AND id <= 1000`,
	`VACUUM rk`,
	// New rows in the freed slots: their TIDs fall inside rk_v's posting
	// lists (INSERT_POST).
	`INSERT INTO rk SELECT g, g % 3, 4 FROM generate_series(2010, 2024) g`,
	// Btree page deletion: MARK_PAGE_HALFDEAD, UNLINK_PAGE, META_CLEANUP.
	`DELETE FROM rw WHERE k < '8'`,
	`VACUUM rw`,
	// Once the deleting vacuum's safexid is old, a second vacuum puts the
	// deleted pages in the FSM and splits reuse them (REUSE_PAGE).
	`SELECT txid_current()`,
	`SELECT txid_current()`,
	`VACUUM rw`,
	`INSERT INTO rw SELECT i, ` + wideKey + ` FROM generate_series(61, 80) i`,
	// Two leaves under a root; emptying the left one makes the right one
	// the fast root (UNLINK_PAGE_META); its splits then go up to the true
	// root and fix the fast root (INSERT_META).
	`INSERT INTO rm SELECT i, lpad(i::text, 4, '0') || repeat('y', 1880) FROM generate_series(1, 7) i`,
	`DELETE FROM rm WHERE id <= 5`,
	`VACUUM (INDEX_CLEANUP ON) rm`,
	`INSERT INTO rm SELECT i, lpad(i::text, 4, '0') || repeat('y', 1880) FROM generate_series(8, 20) i`,
	// FREEZE_PAGE, VISIBLE with ALL_FROZEN.
	`VACUUM FREEZE rt`,
}

// sessions runs after workload: row locks from two sessions (Heap LOCK,
// multixacts, a lock clearing an all-frozen bit) and LOCK_UPDATED (a
// FOR KEY SHARE following the update chain of an update in progress).
func sessions(ctx context.Context, c *pgtest.Cluster) error {
	a, err := c.Connect(ctx, "")
	if err != nil {
		return err
	}
	defer a.Close(context.Background())
	b, err := c.Connect(ctx, "")
	if err != nil {
		return err
	}
	defer b.Close(context.Background())
	conns := [2]*pgx.Conn{a, b}
	for _, step := range []struct {
		conn int
		sql  string
	}{
		{0, "BEGIN"}, {1, "BEGIN"},
		{0, "SELECT * FROM rt WHERE id < 20 FOR SHARE"},
		{1, "SELECT * FROM rt WHERE id < 20 FOR KEY SHARE"},
		{0, "COMMIT"}, {1, "COMMIT"},
		{0, "SELECT * FROM rt WHERE id BETWEEN 40 AND 45 FOR UPDATE"},
		{0, "BEGIN"},
		{0, "UPDATE rl SET v = v || '!' WHERE id <= 3"},
		{1, "SELECT * FROM rl WHERE id <= 3 FOR KEY SHARE"},
		{0, "COMMIT"},
	} {
		if _, err := conns[step.conn].Exec(ctx, step.sql); err != nil {
			return fmt.Errorf("session %d: %q: %w", step.conn, step.sql, err)
		}
	}
	return nil
}

func run(ctx context.Context, tc testCase, outDir string, verbose bool) error {
	opts := tc.opts
	opts.WALConsistencyChecking = "all"
	c, err := waltools.NewCluster(ctx, opts, map[string]string{
		// Hint bits and LP_DEAD marks log an image (FPI_FOR_HINT) on a
		// page's first change after the checkpoint, as with checksums: the
		// btree DELETE then finds its page known.
		"wal_log_hints": "on",
	}, verbose)
	if err != nil {
		return err
	}
	defer waltools.Close(c)
	tmp, err := os.MkdirTemp("", "mkredotestdata-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r, err := generate(ctx, c, tmp)
	if err != nil {
		return err
	}
	log.Printf("%s: range %s..%s: %d records", tc.name, r.Start, r.End, r.Records)

	rep, err := verify(ctx, r)
	if err != nil {
		return err
	}
	if rep.Mismatches != 0 {
		return fmt.Errorf("%d mismatches, first %+v", rep.Mismatches, rep.FirstMismatches)
	}
	records, err := pickRecords(r)
	if err != nil {
		return err
	}
	total, err := write(outDir, r, rep, records)
	if err != nil {
		return err
	}
	logReport(rep)
	log.Printf("%s: wrote %d segments (%d bytes gzip'd), %d records, %d compared, to %s",
		tc.name, len(r.Names), total, rep.Records, rep.Compared, outDir)
	return nil
}

// generate runs setup, a checkpoint at the start of the range (so that the
// first change of every page carries an image), the workload and the
// sessions, and cuts the range out of the cluster's WAL into tmp.
func generate(ctx context.Context, c *pgtest.Cluster, tmp string) (*waltools.Range, error) {
	start, err := waltools.Begin(ctx, c, "mkredotestdata", setup)
	if err != nil {
		return nil, err
	}
	if err := c.CheckpointContext(ctx); err != nil {
		return nil, err
	}
	if err := waltools.Exec(ctx, c, workload); err != nil {
		return nil, err
	}
	if err := sessions(ctx, c); err != nil {
		return nil, err
	}
	return waltools.Cut(ctx, c, start, tmp)
}

// write replaces outDir with the range's segments, range.txt, report.json
// and records.txt, and returns the bytes of the gzip'd segments.
func write(outDir string, r *waltools.Range, rep *redo.VerifyReport, records []byte) (int, error) {
	reportJSON, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := waltools.ReplaceDir(outDir); err != nil {
		return 0, err
	}
	total, err := r.WriteSegments(outDir)
	if err != nil {
		return 0, err
	}
	files := map[string][]byte{
		"range.txt":   r.RangeText(),
		"report.json": append(reportJSON, '\n'),
		"records.txt": records,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), b, 0o644); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// logReport logs the report's counts per record type.
func logReport(rep *redo.VerifyReport) {
	for _, n := range slices.Sorted(maps.Keys(rep.ByType)) {
		s := rep.ByType[n]
		log.Printf("  %-26s records %5d applied %5d compared %5d unsupported %d", n, s.Records, s.Applied, s.Compared, s.Unsupported)
	}
}

// verify runs redo.Verify over the range.
func verify(ctx context.Context, r *waltools.Range) (*redo.VerifyReport, error) {
	d, err := r.Open()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return redo.Verify(ctx, d)
}

// candidate is a record whose consistency-checked blocks all had a page
// before it.
type candidate struct {
	lsn     schema.LSN
	typ     string
	blocks  []uint8
	changed []bool // the masked page differs from the masked image before redo
	anyDiff bool
}

// pickRecords replays the range and lists, per record type, up to perType
// records whose every consistency-checked block had an available page
// before the record: preferably records that change the masked page, spread
// over the range (first, middle, last).
func pickRecords(r *waltools.Range) ([]byte, error) {
	byType, err := candidates(r)
	if err != nil {
		return nil, err
	}
	return formatRecords(pick(byType)), nil
}

// replay is the state of one replay of the range looking for candidates.
type replay struct {
	eng    *redo.Engine
	pages  *redo.MemPages
	image  []byte
	byType map[string][]candidate
}

// candidates replays the range and returns its candidates by record type.
func candidates(r *waltools.Range) (map[string][]candidate, error) {
	d, err := r.Open()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	eng, err := redo.NewEngine()
	if err != nil {
		return nil, err
	}
	defer eng.Restorer.Close()
	rp := &replay{eng: eng, pages: redo.NewMemPages(), image: make([]byte, schema.BLCKSZ), byType: map[string][]candidate{}}
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := rp.record(rec); err != nil {
			return nil, err
		}
	}
	return rp.byType, nil
}

// record applies rec and, if every consistency-checked block of it had a
// page before, records it as a candidate after checking its pages against
// its images.
func (rp *replay) record(rec *schema.DecodedRecord) error {
	var checked []int
	var before [][]byte
	ok := true
	for i := range rec.Blocks {
		if !redo.ConsistencyCheckBlock(rec, &rec.Blocks[i]) {
			continue
		}
		p, avail := rp.pages.Get(rec.Blocks[i].Tag)
		if !avail {
			ok = false
			break
		}
		checked = append(checked, i)
		before = append(before, append([]byte(nil), p...))
	}
	res, err := rp.eng.Apply(rec, rp.pages)
	if err != nil {
		var uns *redo.Unsupported
		if !errors.As(err, &uns) {
			return err
		}
		ok = false
	}
	if res.Truncate != nil {
		rp.pages.Truncate(res.Truncate)
	}
	if !ok || len(checked) == 0 {
		return nil
	}
	cand := candidate{lsn: rec.LSN, typ: schema.RecordTypeName(rec.Rmgr(), rec.Info())}
	for j, i := range checked {
		blk := &rec.Blocks[i]
		if err := rp.eng.Restorer.Restore(rp.image, rec, blk); err != nil {
			return err
		}
		after, avail := rp.pages.Get(blk.Tag)
		if !avail {
			return fmt.Errorf("%s at %s: %s unavailable after redo", cand.typ, rec.LSN, blk.Tag)
		}
		if _, equal, err := redo.CompareMasked(rec.Rmgr(), blk.Tag.Block, rp.image, after); !equal || err != nil {
			return fmt.Errorf("%s at %s: %s differs from its image (%v)", cand.typ, rec.LSN, blk.Tag, err)
		}
		_, same, _ := redo.CompareMasked(rec.Rmgr(), blk.Tag.Block, rp.image, before[j])
		cand.blocks = append(cand.blocks, blk.ID)
		cand.changed = append(cand.changed, !same)
		cand.anyDiff = cand.anyDiff || !same
	}
	rp.byType[cand.typ] = append(rp.byType[cand.typ], cand)
	return nil
}

// pick chooses per type up to perType candidates, preferably ones that
// change a masked page, first, middle and last; it returns them in LSN
// order.
func pick(byType map[string][]candidate) []candidate {
	var picked []candidate
	for _, t := range slices.Sorted(maps.Keys(byType)) {
		all := byType[t]
		var pool []candidate
		for _, c := range all {
			if c.anyDiff {
				pool = append(pool, c)
			}
		}
		if len(pool) == 0 {
			pool = all
		}
		idx := []int{0, len(pool) / 2, len(pool) - 1}
		seen := map[int]bool{}
		for _, i := range idx[:min(perType, len(idx))] {
			if !seen[i] {
				seen[i] = true
				picked = append(picked, pool[i])
			}
		}
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].lsn < picked[j].lsn })
	return picked
}

// formatRecords is records.txt.
func formatRecords(picked []candidate) []byte {
	var b bytes.Buffer
	b.WriteString("# Records whose consistency images redo must reproduce from the pages it\n" +
		"# holds before them (TestRedoCases). Written by internal/tools/mkredotestdata.\n" +
		"# lsn type blocks: block ids checked; * marks a block whose masked page the\n" +
		"# record changes.\n")
	for _, c := range picked {
		var bl []string
		for i, id := range c.blocks {
			s := fmt.Sprint(id)
			if c.changed[i] {
				s += "*"
			}
			bl = append(bl, s)
		}
		fmt.Fprintf(&b, "%s %s %s\n", c.lsn, c.typ, strings.Join(bl, ","))
	}
	return b.Bytes()
}
