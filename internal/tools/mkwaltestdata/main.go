// Command mkwaltestdata regenerates schema/testdata/wal: a few segments of
// real PostgreSQL 15 WAL and pg_waldump's output for them, the golden data of
// schema/golden_test.go and the seeds of schema/fuzz_test.go.
//
// Run it by hand from the module root (it needs the PostgreSQL 15 binaries,
// see internal/pgtest):
//
//	go run ./internal/tools/mkwaltestdata
//
// It starts a scratch cluster with 1 MiB segments, switches to a fresh
// segment and runs a small workload whose WAL holds heap and btree records
// (single and multi inserts, HOT and non-HOT updates, deletes, vacuum, page
// splits), full-page images uncompressed and compressed with pglz, lz4 and
// zstd, images for wal_consistency_checking, a sequence and a little DDL,
// commits, aborts and a subtransaction, a logical message that spans a
// segment boundary, and an XLOG_SWITCH followed by a few more records.
//
// It writes into the output directory:
//
//   - <segment name>.gz for each segment of the range, gzip-compressed. The
//     bytes after the range's end in the last segment are zeroed (as if the
//     WAL ended there), which also keeps the file small.
//   - range.txt: "start <LSN>" and "end <LSN>", the first byte of the first
//     segment and the end of the last record (its EndRecPtr).
//   - waldump.txt.gz: TZ=UTC pg_waldump -p DIR -s START -e END, standard
//     output only, over exactly those segment files.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/tools/waltools"
)

func main() {
	out := flag.String("out", filepath.Join("schema", "testdata", "wal"), "output directory (replaced)")
	verbose := flag.Bool("v", false, "log the cluster's progress")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("mkwaltestdata: ")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *out, *verbose); err != nil {
		log.Fatal(err)
	}
}

// setup runs before the range starts: the DDL whose catalog changes would
// otherwise fill the range with catalog page images.
var setup = []string{
	`CREATE TABLE gt (id int PRIMARY KEY, v int NOT NULL, pad text)`,
	`CREATE TABLE gt_copy (a int, b text)`,
	`CREATE TABLE gt_small (id int PRIMARY KEY, note text)`,
}

// workload runs inside the range, one Exec (one session) per entry, so a
// SET applies to the statements after it in the same entry.
var workload = []string{
	// Heap INSERT and btree INSERT_LEAF/INSERT_UPPER/SPLIT, commits.
	`INSERT INTO gt SELECT g, g % 100, 'row ' || g FROM generate_series(1, 1500) g`,
	// Heap2 MULTI_INSERT.
	`COPY gt_copy (a) FROM PROGRAM 'seq 1 400'`,
	// A little DDL and sequence traffic, images (if any) zstd-compressed.
	`SET wal_compression = zstd; CREATE SEQUENCE gt_seq CACHE 1; SELECT nextval('gt_seq') FROM generate_series(1, 20)`,
	// Aborts, a subtransaction rolled back, a transactional message.
	`BEGIN; INSERT INTO gt_small VALUES (1, 'aborted'); ROLLBACK`,
	`BEGIN; INSERT INTO gt_small VALUES (2, 'kept'); SAVEPOINT s; INSERT INTO gt_small VALUES (3, 'undone'); ROLLBACK TO s; INSERT INTO gt_small VALUES (4, 'kept too'); COMMIT`,
	`BEGIN; SELECT pg_logical_emit_message(true, 'p', 'transactional'); UPDATE gt_small SET note = 'x' WHERE id = 2; ROLLBACK`,
	// Heap DELETE, then VACUUM: PRUNE, VACUUM, VISIBLE, btree VACUUM.
	`DELETE FROM gt WHERE id % 10 = 0`,
	`VACUUM gt`,
	// Uncompressed images: the first change of each page after a checkpoint.
	`CHECKPOINT; UPDATE gt SET v = v + 1 WHERE id % 97 = 0`,
	`SET wal_compression = pglz; CHECKPOINT; UPDATE gt SET v = v + 1 WHERE id % 89 = 1`,
	`SET wal_compression = lz4; CHECKPOINT; UPDATE gt SET v = v + 1 WHERE id % 83 = 2; UPDATE gt_copy SET b = 'lz4' WHERE a % 50 = 0`,
	// Non-HOT updates: btree images too.
	`SET wal_compression = zstd; CHECKPOINT; UPDATE gt SET id = id + 200000 WHERE id % 149 = 3`,
	// Images for wal_consistency_checking, uncompressed and compressed.
	`SET wal_consistency_checking = 'heap,btree'; UPDATE gt SET v = v + 1 WHERE id <= 3; INSERT INTO gt VALUES (100010, 1, 'checked')`,
	`SET wal_compression = lz4; SET wal_consistency_checking = 'heap,btree'; UPDATE gt SET v = v + 1 WHERE id BETWEEN 500 AND 502; INSERT INTO gt VALUES (100011, 1, 'checked lz4')`,
	// A record that spans (at least) one segment boundary.
	`SELECT pg_logical_emit_message(false, 'p', repeat('x', 1500000))`,
	`INSERT INTO gt_small VALUES (5, 'before switch')`,
	`SELECT pg_switch_wal()`,
	`INSERT INTO gt_small VALUES (6, 'after switch')`,
	`BEGIN; INSERT INTO gt_small VALUES (7, 'aborted after switch'); ROLLBACK`,
	`INSERT INTO gt_small VALUES (8, 'last')`,
}

func run(ctx context.Context, outDir string, verbose bool) error {
	c, err := waltools.NewCluster(ctx, pgtest.Options{}, nil, verbose)
	if err != nil {
		return err
	}
	defer waltools.Close(c)
	start, err := waltools.Begin(ctx, c, "mkwaltestdata", setup)
	if err != nil {
		return err
	}
	if err := waltools.Exec(ctx, c, workload); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mkwaltestdata-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r, err := waltools.Cut(ctx, c, start, tmp)
	if err != nil {
		return err
	}
	log.Printf("range %s..%s: %d records", r.Start, r.End, r.Records)

	// The golden: pg_waldump's standard output over exactly these files.
	dump, err := waldump(ctx, c, "-p", r.Dir, "-s", r.Start.Short(), "-e", r.End.Short())
	if err != nil {
		return err
	}
	if lines := strings.Count(string(dump), "\n"); lines != r.Records {
		return fmt.Errorf("pg_waldump printed %d lines, the reader found %d records", lines, r.Records)
	}
	stats, err := waldump(ctx, c, "-p", r.Dir, "-s", r.Start.Short(), "-e", r.End.Short(), "--stats=record")
	if err != nil {
		return err
	}
	if err := write(outDir, r, dump); err != nil {
		return err
	}
	fmt.Print(string(stats))
	log.Printf("wrote %d segments, %d records to %s", len(r.Names), r.Records, outDir)
	return nil
}

// write replaces outDir with the range's segments, range.txt and
// waldump.txt.gz.
func write(outDir string, r *waltools.Range, dump []byte) error {
	if err := waltools.ReplaceDir(outDir); err != nil {
		return err
	}
	if _, err := r.WriteSegments(outDir); err != nil {
		return err
	}
	z, err := waltools.Gzip(dump)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "waldump.txt.gz"), z, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "range.txt"), r.RangeText(), 0o644)
}

// waldump runs pg_waldump with TZ=UTC and returns its standard output.
func waldump(ctx context.Context, c *pgtest.Cluster, args ...string) ([]byte, error) {
	cmd := c.Command(ctx, "pg_waldump", args...)
	cmd.Env = append(cmd.Env, "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pg_waldump %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if stderr.Len() > 0 {
		log.Printf("pg_waldump %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
