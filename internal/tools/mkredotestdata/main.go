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
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagemill/pagemill/internal/pgtest"
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
	opts.WALSegSizeMB = 1
	opts.WALConsistencyChecking = "all"
	opts.ExtraConf = map[string]string{
		// Nothing but the workload should write WAL.
		"autovacuum":         "off",
		"checkpoint_timeout": "1h",
		"max_wal_size":       "1GB",
		// Hint bits and LP_DEAD marks log an image (FPI_FOR_HINT) on a
		// page's first change after the checkpoint, as with checksums: the
		// btree DELETE then finds its page known.
		"wal_log_hints": "on",
	}
	if verbose {
		opts.Logf = log.Printf
	}
	c, err := pgtest.New(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Close(); err != nil {
			log.Print(err)
		}
	}()
	segSize := uint32(c.WALSegmentSize())
	if _, err := c.CreatePhysicalSlotContext(ctx, "mkredotestdata"); err != nil {
		return err
	}
	for _, s := range setup {
		if err := c.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	sw, err := c.SwitchWALContext(ctx)
	if err != nil {
		return err
	}
	swLSN, err := schema.ParseLSN(sw)
	if err != nil {
		return err
	}
	start := schema.SegmentStart((swLSN + schema.LSN(segSize) - 1).SegNo(segSize), segSize)
	if err := c.CheckpointContext(ctx); err != nil {
		return err
	}
	for _, s := range workload {
		if err := c.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	if err := sessions(ctx, c); err != nil {
		return err
	}
	flushed, err := c.QueryContext(ctx, "SELECT pg_current_wal_flush_lsn()")
	if err != nil {
		return err
	}
	flushLSN, err := schema.ParseLSN(flushed[0][0])
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "mkredotestdata-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	all := filepath.Join(tmp, "all")
	if _, err := c.CopyWALFiles(all); err != nil {
		return err
	}
	end, n, err := lastRecordEnd(all, start, flushLSN)
	if err != nil {
		return err
	}
	log.Printf("%s: range %s..%s: %d records", tc.name, start, end, n)

	// The range's segments, with what follows its end zeroed.
	wal := filepath.Join(tmp, "wal")
	if err := os.MkdirAll(wal, 0o755); err != nil {
		return err
	}
	segs := map[string][]byte{}
	for seg := start.SegNo(segSize); seg <= (end - 1).SegNo(segSize); seg++ {
		name := schema.XLogFileName(1, seg, segSize)
		b, err := os.ReadFile(filepath.Join(all, name))
		if err != nil {
			return err
		}
		if seg == (end - 1).SegNo(segSize) {
			if off := end.SegOffset(segSize); off != 0 {
				clear(b[off:])
			}
		}
		if err := os.WriteFile(filepath.Join(wal, name), b, 0o644); err != nil {
			return err
		}
		segs[name] = b
	}

	rep, err := verify(ctx, wal, start, end)
	if err != nil {
		return err
	}
	if rep.Mismatches != 0 {
		return fmt.Errorf("%d mismatches, first %+v", rep.Mismatches, rep.FirstMismatches)
	}
	reportJSON, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	records, err := pickRecords(wal, start, end)
	if err != nil {
		return err
	}

	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	total := 0
	for name, b := range segs {
		z, err := gzipBytes(b)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, name+".gz"), z, 0o644); err != nil {
			return err
		}
		total += len(z)
	}
	files := map[string][]byte{
		"range.txt":   fmt.Appendf(nil, "start %s\nend %s\n", start, end),
		"report.json": append(reportJSON, '\n'),
		"records.txt": records,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), b, 0o644); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(rep.ByType))
	for n := range rep.ByType {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := rep.ByType[n]
		log.Printf("  %-26s records %5d applied %5d compared %5d unsupported %d", n, s.Records, s.Applied, s.Compared, s.Unsupported)
	}
	log.Printf("%s: wrote %d segments (%d bytes gzip'd), %d records, %d compared, to %s",
		tc.name, len(segs), total, rep.Records, rep.Compared, outDir)
	return nil
}

func verify(ctx context.Context, dir string, start, end schema.LSN) (*redo.VerifyReport, error) {
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: start, End: end})
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
func pickRecords(dir string, start, end schema.LSN) ([]byte, error) {
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: start, End: end})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	eng, err := redo.NewEngine()
	if err != nil {
		return nil, err
	}
	defer eng.Restorer.Close()
	pages := redo.NewMemPages()
	image := make([]byte, schema.BLCKSZ)
	byType := map[string][]candidate{}
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var checked []int
		var before [][]byte
		ok := true
		for i := range rec.Blocks {
			if !redo.ConsistencyCheckBlock(rec, &rec.Blocks[i]) {
				continue
			}
			p, avail := pages.Get(rec.Blocks[i].Tag)
			if !avail {
				ok = false
				break
			}
			checked = append(checked, i)
			before = append(before, append([]byte(nil), p...))
		}
		res, err := eng.Apply(rec, pages)
		if err != nil {
			var uns *redo.Unsupported
			if !errors.As(err, &uns) {
				return nil, err
			}
			ok = false
		}
		if res.Truncate != nil {
			pages.Truncate(res.Truncate)
		}
		if !ok || len(checked) == 0 {
			continue
		}
		cand := candidate{lsn: rec.LSN, typ: schema.RecordTypeName(rec.Rmgr(), rec.Info())}
		for j, i := range checked {
			blk := &rec.Blocks[i]
			if err := eng.Restorer.Restore(image, rec, blk); err != nil {
				return nil, err
			}
			after, avail := pages.Get(blk.Tag)
			if !avail {
				return nil, fmt.Errorf("%s at %s: %s unavailable after redo", cand.typ, rec.LSN, blk.Tag)
			}
			if _, equal, err := redo.CompareMasked(rec.Rmgr(), blk.Tag.Block, image, after); !equal || err != nil {
				return nil, fmt.Errorf("%s at %s: %s differs from its image (%v)", cand.typ, rec.LSN, blk.Tag, err)
			}
			_, same, _ := redo.CompareMasked(rec.Rmgr(), blk.Tag.Block, image, before[j])
			cand.blocks = append(cand.blocks, blk.ID)
			cand.changed = append(cand.changed, !same)
			cand.anyDiff = cand.anyDiff || !same
		}
		byType[cand.typ] = append(byType[cand.typ], cand)
	}

	var b bytes.Buffer
	b.WriteString("# Records whose consistency images redo must reproduce from the pages it\n" +
		"# holds before them (TestRedoCases). Written by internal/tools/mkredotestdata.\n" +
		"# lsn type blocks: block ids checked; * marks a block whose masked page the\n" +
		"# record changes.\n")
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	var picked []candidate
	for _, t := range types {
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
	return b.Bytes(), nil
}

// lastRecordEnd reads the records of dir from start that end at or before
// limit and returns the end of the last one and their number.
func lastRecordEnd(dir string, start, limit schema.LSN) (schema.LSN, int, error) {
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: start, End: limit})
	if err != nil {
		return 0, 0, err
	}
	defer d.Close()
	var end schema.LSN
	n := 0
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("after %d records: %w", n, err)
		}
		end = rec.EndLSN
		n++
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("no records between %s and %s", start, limit)
	}
	return end, n, nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
