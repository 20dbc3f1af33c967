package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// The contract of `pagemill waldump`: every line equals pg_waldump's on the
// same WAL. These tests make WAL with real PostgreSQL 15 clusters under
// several settings and compare the two tools line by line.

type waldumpCase struct {
	name string
	opts pgtest.Options
	load func(t *testing.T, c *pgtest.Cluster)
}

func pgbenchLoad(t *testing.T, c *pgtest.Cluster) {
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Checkpoint(t) // first touches after a checkpoint carry images
	c.Pgbench(t, "-T", "2", "-c", "4", "-j", "2")
}

// twoPhaseLoad makes every Transaction record type with the parts each can
// carry: PREPARE with relations and statistics dropped on commit and on
// abort, subtransactions and invalidations; COMMIT_PREPARED and
// ABORT_PREPARED with and without dropped relations; ASSIGNMENT (more
// than PGPROC_MAX_CACHED_SUBXIDS subtransactions); INVALIDATIONS
// (wal_level logical); ABORT of a transaction that created a relation.
func twoPhaseLoad(t *testing.T, c *pgtest.Cluster) {
	for _, sql := range []string{
		`CREATE TABLE tp_a (a int)`,
		`CREATE TABLE tp_b (a int)`,
		`BEGIN; CREATE TABLE tp_c (a int); INSERT INTO tp_a SELECT generate_series(1, 100); SAVEPOINT s; INSERT INTO tp_a VALUES (0); RELEASE s; PREPARE TRANSACTION 'tp1'`,
		`COMMIT PREPARED 'tp1'`,
		`BEGIN; DROP TABLE tp_b; PREPARE TRANSACTION 'tp2'`,
		`ROLLBACK PREPARED 'tp2'`,
		`BEGIN; DROP TABLE tp_c; PREPARE TRANSACTION 'tp3'`,
		`COMMIT PREPARED 'tp3'`,
		`DO $$ BEGIN FOR i IN 1..80 LOOP BEGIN INSERT INTO tp_a VALUES (i); EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$`,
		`BEGIN; CREATE TABLE tp_d (a int); INSERT INTO tp_d VALUES (1); ROLLBACK`,
		`ALTER TABLE tp_a ADD COLUMN b int`,
	} {
		c.Exec(t, sql)
	}
}

func TestWaldumpMatchesPgWaldump(t *testing.T) {
	cases := []waldumpCase{
		{"pgbench", pgtest.Options{}, func(t *testing.T, c *pgtest.Cluster) {
			pgbenchLoad(t, c)
			// A record larger than a 16 MiB segment.
			c.Exec(t, `SELECT pg_logical_emit_message(false, 'big', repeat('x', 17 * 1024 * 1024))`)
		}},
		{"ddl_1MB_segments", pgtest.Options{WALSegSizeMB: 1}, func(t *testing.T, c *pgtest.Cluster) {
			c.RunDDLWorkload(t)
		}},
		{"pglz", pgtest.Options{WALCompression: "pglz"}, pgbenchLoad},
		{"lz4", pgtest.Options{WALCompression: "lz4", DataChecksums: true}, pgbenchLoad},
		{"zstd", pgtest.Options{WALCompression: "zstd"}, pgbenchLoad},
		{"two_phase_logical", pgtest.Options{WALLevel: "logical", ExtraConf: map[string]string{"max_prepared_transactions": "5"}}, twoPhaseLoad},
		{"consistency_checking", pgtest.Options{WALConsistencyChecking: "all", WALSegSizeMB: 4}, func(t *testing.T, c *pgtest.Cluster) {
			c.Pgbench(t, "-i", "-s", "1", "-q")
			c.Pgbench(t, "-T", "1", "-c", "2")
			c.RunDDLWorkload(t)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := pgtest.Start(t, tc.opts)
			start := c.CreatePhysicalSlot(t, "keep") // keeps every segment from here
			tc.load(t, c)
			end := c.CurrentWALLSN(t)
			dir := t.TempDir()
			c.CopyWAL(t, dir)
			compareWithPgWaldump(t, c, dir, start, end, false)
			compareWithPgWaldump(t, c, dir, start, end, true)
		})
	}
}

// compareWithPgWaldump dumps [start, end) with both tools from a copy of
// pg_wal and requires identical lines; detailed adds pg_waldump's -b.
func compareWithPgWaldump(t *testing.T, c *pgtest.Cluster, dir, start, end string, detailed bool) {
	t.Helper()
	pgArgs := []string{"-p", dir, "-s", start, "-e", end}
	ourArgs := []string{"--path", dir, "--start", start, "--end", end}
	if detailed {
		pgArgs = append(pgArgs, "--bkp-details")
		ourArgs = append(ourArgs, "--bkp-details")
	}
	want, err := c.RunBin(context.Background(), "pg_waldump", pgArgs...)
	if err != nil {
		t.Fatalf("pg_waldump: %v\n%s", err, want)
	}
	var got, stderr bytes.Buffer
	if code := Waldump(context.Background(), Env{Stdout: &got, Stderr: &stderr}, ourArgs); code != 0 {
		t.Fatalf("pagemill waldump exited %d: %s", code, stderr.String())
	}
	wantLines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	gotLines := strings.Split(strings.TrimSuffix(got.String(), "\n"), "\n")
	if len(wantLines) < 100 {
		t.Fatalf("pg_waldump printed only %d lines; the workload made too little WAL", len(wantLines))
	}
	differ := 0
	types := map[string]int{}
	for i := 0; i < max(len(wantLines), len(gotLines)); i++ {
		var w, g string
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if w != g {
			differ++
			if differ <= 10 {
				t.Errorf("line %d differs:\n  pg_waldump: %s\n  pagemill:   %s", i+1, w, g)
			}
		}
		if strings.HasPrefix(w, "rmgr: ") {
			types[recordType(w)]++
		}
	}
	if differ > 0 {
		t.Fatalf("%d of %d lines differ", differ, len(wantLines))
	}
	fpw := strings.Count(string(want), " FPW")
	if detailed {
		fpw = strings.Count(string(want), " (FPW")
	}
	t.Logf("%s..%s (bkp-details %v): %d identical lines (%d record types, %d block images)", start, end, detailed, len(wantLines), len(types), fpw)
}

// recordType extracts "Rmgr/TYPE" from a pg_waldump line.
func recordType(line string) string {
	rm := strings.Fields(strings.TrimPrefix(line, "rmgr: "))
	_, after, ok := strings.Cut(line, "desc: ")
	if !ok || len(rm) == 0 {
		return "?"
	}
	typ, _, _ := strings.Cut(after, " ")
	return rm[0] + "/" + typ
}

func TestWaldumpArguments(t *testing.T) {
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Waldump(context.Background(), Env{Stdout: &out, Stderr: &errb}, args)
		return code, out.String() + errb.String()
	}
	if code, _ := run(); code != 2 {
		t.Fatalf("no arguments: exit %d, want 2", code)
	}
	if code, msg := run("--path", t.TempDir(), "--start", "zz"); code != 2 || !strings.Contains(msg, "invalid LSN") {
		t.Fatalf("bad LSN: exit %d %q", code, msg)
	}
	if code, msg := run("--path", t.TempDir(), "--start", "0/1000000"); code != 1 || !strings.Contains(msg, "no WAL segment files") {
		t.Fatalf("empty dir: exit %d %q", code, msg)
	}
}

// TestWaldumpCorruptSegment damages a copy of real WAL and checks that the
// command stops with an error naming the LSN and segment, after printing
// only records before the damage.
func TestWaldumpCorruptSegment(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{WALSegSizeMB: 1})
	start := c.CreatePhysicalSlot(t, "keep")
	c.Pgbench(t, "-i", "-s", "1", "-q")
	end := c.CurrentWALLSN(t)
	dir := t.TempDir()
	c.CopyWAL(t, dir)
	startLSN, _ := schema.ParseLSN(start)

	var clean bytes.Buffer
	if code := Waldump(context.Background(), Env{Stdout: &clean, Stderr: &clean}, []string{"--path", dir, "--start", start, "--end", end}); code != 0 {
		t.Fatalf("clean dump failed: %s", clean.String())
	}
	// Damage one byte in the middle of the second segment.
	seg := startLSN.SegNo(1<<20) + 1
	name := schema.XLogFileName(1, seg, 1<<20)
	damageAt := int64(300_000)
	flipByte(t, dir+"/"+name, damageAt)
	damaged := schema.SegmentStart(seg, 1<<20) + schema.LSN(damageAt)

	var out, errb bytes.Buffer
	code := Waldump(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"--path", dir, "--start", start, "--end", end})
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, errb.String())
	}
	msg := errb.String()
	if !strings.Contains(msg, "corrupt WAL at ") || !strings.Contains(msg, name) {
		t.Fatalf("error does not name the position: %s", msg)
	}
	if !strings.HasPrefix(clean.String(), out.String()) {
		t.Fatal("output before the damage differs from the clean dump")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	_, lsnText, _ := strings.Cut(last, "lsn: ")
	lsnText, _, _ = strings.Cut(lsnText, ",")
	lastLSN, err := schema.ParseLSN(lsnText)
	if err != nil || lastLSN >= damaged {
		t.Fatalf("last record printed at %s, damage at %s (%v)", lsnText, damaged, err)
	}
	t.Logf("damage at %s: %d records printed, then: %s", damaged, len(lines), strings.TrimSpace(msg))
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := writeFile(path, b); err != nil {
		t.Fatal(err)
	}
}

var _ = fmt.Sprintf

func readFile(p string) ([]byte, error)  { return os.ReadFile(p) }
func writeFile(p string, b []byte) error { return os.WriteFile(p, b, 0o644) }
