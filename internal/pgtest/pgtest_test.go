package pgtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
)

func TestBinDir(t *testing.T) {
	t.Setenv(pgtest.BinDirEnv, "")
	if got := pgtest.BinDir(); got != pgtest.DefaultBinDir {
		t.Errorf("BinDir() = %q, want %q", got, pgtest.DefaultBinDir)
	}
	for _, prog := range []string{"initdb", "pg_ctl", "postgres", "psql", "pgbench", "pg_waldump"} {
		if _, err := os.Stat(filepath.Join(pgtest.BinDir(), prog)); err != nil {
			t.Errorf("%s: %v", prog, err)
		}
	}
	t.Setenv(pgtest.BinDirEnv, "/opt/pg/bin")
	if got := pgtest.BinDir(); got != "/opt/pg/bin" {
		t.Errorf("BinDir() with %s set = %q", pgtest.BinDirEnv, got)
	}
}

func TestLSN(t *testing.T) {
	for _, s := range []string{"0/0", "0/16B3748", "1/0", "FFFFFFFF/FFFFFFFF"} {
		v, err := pgtest.ParseLSN(s)
		if err != nil {
			t.Fatalf("ParseLSN(%q): %v", s, err)
		}
		if got := pgtest.FormatLSN(v); got != s {
			t.Errorf("FormatLSN(ParseLSN(%q)) = %q", s, got)
		}
	}
	if v, _ := pgtest.ParseLSN("1/10"); v != 1<<32|0x10 {
		t.Errorf("ParseLSN(1/10) = %#x", v)
	}
	for _, s := range []string{"", "0", "x/0", "0/", "100000000/0"} {
		if _, err := pgtest.ParseLSN(s); err == nil {
			t.Errorf("ParseLSN(%q) succeeded", s)
		}
	}
	for name, want := range map[string]bool{
		"000000010000000000000001":         true,
		"00000001000000000000000A":         true,
		"00000001000000000000000a":         false,
		"000000010000000000000001.partial": false,
		"00000002.history":                 false,
		"archive_status":                   false,
	} {
		if got := pgtest.IsWALSegmentName(name); got != want {
			t.Errorf("IsWALSegmentName(%q) = %v", name, got)
		}
	}
}

func mustLSN(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := pgtest.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func show(t *testing.T, c *pgtest.Cluster, name string) string {
	t.Helper()
	rows := c.Query(t, "SHOW "+name)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("SHOW %s: %v", name, rows)
	}
	return rows[0][0]
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})

	for name, want := range map[string]string{
		"wal_level":               "replica",
		"full_page_writes":        "on",
		"wal_compression":         "off",
		"data_checksums":          "off",
		"wal_segment_size":        "16MB",
		"max_wal_senders":         "10",
		"max_replication_slots":   "10",
		"wal_keep_size":           "1GB",
		"shared_buffers":          "32MB",
		"fsync":                   "on",
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": filepath.Dir(c.DataDir()),
	} {
		if got := show(t, c, name); got != want {
			t.Errorf("SHOW %s = %q, want %q", name, got, want)
		}
	}
	if got, want := show(t, c, "port"), c.Port(); got != strconv.Itoa(want) {
		t.Errorf("SHOW port = %q, want %d", got, want)
	}
	if got, want := c.WALDir(), filepath.Join(c.DataDir(), "pg_wal"); got != want {
		t.Errorf("WALDir() = %q, want %q", got, want)
	}
	if c.WALSegmentSize() != 16<<20 {
		t.Errorf("WALSegmentSize() = %d", c.WALSegmentSize())
	}
	wantConn := "host=127.0.0.1 port=" + strconv.Itoa(c.Port()) + " user=postgres dbname=app sslmode=disable"
	if got := c.ConnString("app"); got != wantConn {
		t.Errorf("ConnString(app) = %q, want %q", got, wantConn)
	}

	// Several statements at once, text results, NULL as "".
	c.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one'), (2, NULL)")
	rows := c.Query(t, "SELECT id, v, id * 1.5 FROM t ORDER BY id")
	if len(rows) != 2 || strings.Join(rows[0], ",") != "1,one,1.5" || strings.Join(rows[1], ",") != "2,,3.0" {
		t.Errorf("rows = %q", rows)
	}
	rows = c.Query(t, "SELECT v FROM t WHERE id = $1", 1)
	if len(rows) != 1 || rows[0][0] != "one" {
		t.Errorf("query with argument: %q", rows)
	}
	if err := c.ExecContext(context.Background(), "SELECT * FROM missing_table"); err == nil {
		t.Error("ExecContext on a missing table succeeded")
	}

	// pgx on ConnString, as other packages will use it.
	conn, err := c.Connect(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("count = %d, %v", n, err)
	}
	conn.Close(context.Background())
}

func TestWorkload(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})

	slotLSN := c.CreatePhysicalSlot(t, "keep")
	if _, err := pgtest.ParseLSN(slotLSN); err != nil {
		t.Errorf("slot restart LSN %q: %v", slotLSN, err)
	}
	rows := c.Query(t, "SELECT slot_type, restart_lsn FROM pg_replication_slots WHERE slot_name = 'keep'")
	if len(rows) != 1 || rows[0][0] != "physical" || rows[0][1] == "" {
		t.Errorf("pg_replication_slots = %q", rows)
	}

	before := mustLSN(t, c.CurrentWALLSN(t))
	c.Pgbench(t, "-i", "-s", "1")
	out := c.Pgbench(t, "-T", "2", "-c", "4")
	if !strings.Contains(out, "number of transactions actually processed") {
		t.Errorf("pgbench output:\n%s", out)
	}
	after := mustLSN(t, c.CurrentWALLSN(t))
	if after <= before {
		t.Errorf("LSN did not advance: %s -> %s", pgtest.FormatLSN(before), pgtest.FormatLSN(after))
	}
	if rows := c.Query(t, "SELECT count(*) FROM pgbench_accounts"); rows[0][0] != "100000" {
		t.Errorf("pgbench_accounts rows = %q", rows)
	}
	// The slot holds WAL back.
	rows = c.Query(t, "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'keep'")
	if got := mustLSN(t, rows[0][0]); got > before {
		t.Errorf("slot restart_lsn moved to %s, past %s", rows[0][0], pgtest.FormatLSN(before))
	}

	if _, err := c.PgbenchContext(context.Background(), "--no-such-flag"); err == nil ||
		!strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("bad pgbench run: error %v does not quote the output", err)
	}

	c.Checkpoint(t)
	switched := mustLSN(t, c.SwitchWAL(t))
	if switched < after {
		t.Errorf("pg_switch_wal() = %s, before %s", pgtest.FormatLSN(switched), pgtest.FormatLSN(after))
	}
	c.DropSlot(t, "keep")
	if rows := c.Query(t, "SELECT count(*) FROM pg_replication_slots"); rows[0][0] != "0" {
		t.Errorf("slots after drop: %q", rows)
	}
}

func TestCopyWAL(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{WALSegSizeMB: 1})
	c.CreatePhysicalSlot(t, "keep")
	c.Exec(t, "CREATE TABLE t AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g")
	c.SwitchWAL(t)

	dst := filepath.Join(t.TempDir(), "wal")
	files := c.CopyWAL(t, dst)
	if len(files) < 3 {
		t.Fatalf("copied %d segment files, want several: %v", len(files), files)
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Errorf("dst holds %d entries, copied %d", len(entries), len(files))
	}
	for _, f := range files {
		if !pgtest.IsWALSegmentName(filepath.Base(f)) {
			t.Errorf("copied %s", f)
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(c.WALSegmentSize()) {
			t.Errorf("%s: size %d, want %d", f, fi.Size(), c.WALSegmentSize())
		}
		fd, err := os.Open(f) // readable by the current user
		if err != nil {
			t.Fatal(err)
		}
		fd.Close()
	}

	// pg_waldump reads a copy in the test's own (0700) temp dir.
	out, err := c.RunBin(context.Background(), "pg_waldump", "--stats", files[0])
	if !strings.Contains(string(out), "XLOG") {
		t.Errorf("pg_waldump %s: %v\n%s", files[0], err, out)
	}
	// And finds $PGDATA/pg_wal by itself.
	out, err = c.RunBin(context.Background(), "pg_waldump", "-n", "5", "-s", c.Query(t, "SELECT redo_lsn FROM pg_control_checkpoint()")[0][0])
	if err != nil || !strings.Contains(string(out), "rmgr:") {
		t.Errorf("pg_waldump from PGDATA: %v\n%s", err, out)
	}
	if _, err := c.RunBin(context.Background(), "../bin/pg_waldump"); err == nil {
		t.Error("RunBin accepted a path")
	}
	out, err = c.RunBin(context.Background(), "pg_controldata")
	if err != nil || !strings.Contains(string(out), "Bytes per WAL segment:                1048576") {
		t.Errorf("pg_controldata: %v\n%s", err, out)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	off := false
	c := pgtest.Start(t, pgtest.Options{
		WALLevel:               "logical",
		FullPageWrites:         &off,
		WALCompression:         "lz4",
		WALConsistencyChecking: "all",
		DataChecksums:          true,
		WALSegSizeMB:           4,
		ExtraConf: map[string]string{
			"work_mem":                   "8MB",
			"shared_buffers":             "16MB",
			"fsync":                      "off",
			"application_name":           "it's a test",
			"max_replication_slots":      "4",
			"log_min_duration_statement": "-1",
		},
	})
	for name, want := range map[string]string{
		"wal_level":                "logical",
		"full_page_writes":         "off",
		"wal_compression":          "lz4",
		"wal_consistency_checking": "all",
		"data_checksums":           "on",
		"wal_segment_size":         "4MB",
		"work_mem":                 "8MB",
		"shared_buffers":           "16MB",
		"fsync":                    "off",
		"max_replication_slots":    "4",
	} {
		if got := show(t, c, name); got != want {
			t.Errorf("SHOW %s = %q, want %q", name, got, want)
		}
	}
	rows := c.Query(t, "SELECT setting FROM pg_settings WHERE name = 'application_name' AND source = 'configuration file'")
	if len(rows) != 1 || rows[0][0] != "it's a test" {
		t.Errorf("application_name from the configuration file = %q", rows)
	}
	c.Exec(t, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)")

	for _, comp := range []string{"zstd", "pglz"} {
		c2 := pgtest.Start(t, pgtest.Options{WALCompression: comp, ExtraConf: map[string]string{"max_connections": "20"}})
		if got := show(t, c2, "wal_compression"); got != comp {
			t.Errorf("SHOW wal_compression = %q, want %q", got, comp)
		}
		if c2.Port() == c.Port() {
			t.Errorf("two clusters on port %d", c.Port())
		}
	}
}

func TestWALLevelMinimal(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{WALLevel: "minimal"})
	if got := show(t, c, "wal_level"); got != "minimal" {
		t.Errorf("SHOW wal_level = %q", got)
	}
	if got := show(t, c, "max_wal_senders"); got != "0" {
		t.Errorf("SHOW max_wal_senders = %q", got)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	c.Exec(t, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
	port := c.Port()
	startTime := c.Query(t, "SELECT pg_postmaster_start_time()")[0][0]

	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Errorf("port changed from %d to %d", port, c.Port())
	}
	if got := c.Query(t, "SELECT pg_postmaster_start_time()")[0][0]; got == startTime {
		t.Errorf("postmaster start time unchanged (%s) after Restart", got)
	}
	c.Exec(t, "INSERT INTO t VALUES (2)")

	// A crash and its recovery.
	if err := c.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Error("Running() after StopImmediate")
	}
	if err := c.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("query succeeded on a stopped server")
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := c.Query(t, "SELECT count(*) FROM t")[0][0]; got != "2" {
		t.Errorf("rows after crash recovery = %s", got)
	}
	log, err := os.ReadFile(c.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "not properly shut down; automatic recovery in progress") {
		t.Errorf("server log shows no crash recovery:\n%s", log)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if !c.Running() {
		t.Error("not Running() after Restart")
	}
}

func TestNewClose(t *testing.T) {
	t.Parallel()
	var logs []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgtest.New(ctx, pgtest.Options{Logf: func(format string, args ...any) {
		logs = append(logs, format)
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(c.DataDir())
	if !strings.HasPrefix(filepath.Base(dir), "pgtest-") {
		t.Errorf("cluster dir %s", dir)
	}
	if rows, err := c.QueryContext(ctx, "SELECT 1 + 1"); err != nil || rows[0][0] != "2" {
		t.Errorf("QueryContext = %v, %v", rows, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Close: %v", dir, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Restart(); err == nil {
		t.Error("Restart after Close succeeded")
	}
	if len(logs) == 0 {
		t.Error("nothing was logged through Options.Logf")
	}
}

func TestStartFailure(t *testing.T) {
	t.Parallel()
	_, err := pgtest.New(context.Background(), pgtest.Options{ExtraConf: map[string]string{"shared_buffers": "lots"}})
	if err == nil {
		t.Fatal("New with a bad setting succeeded")
	}
	if !strings.Contains(err.Error(), `invalid value for parameter "shared_buffers"`) {
		t.Errorf("error does not quote the server log: %v", err)
	}

	if _, err := pgtest.New(context.Background(), pgtest.Options{WALSegSizeMB: 3}); err == nil {
		t.Error("WALSegSizeMB 3 accepted")
	}
	if _, err := pgtest.New(context.Background(), pgtest.Options{BinDir: "/nonexistent"}); err == nil {
		t.Error("a missing bin dir was accepted")
	}
}
