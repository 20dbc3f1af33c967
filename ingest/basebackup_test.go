package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

func TestParseRelationPath(t *testing.T) {
	rel := func(spc, db, relnode uint32, fork schema.ForkNumber, seg uint32) *RelationFile {
		return &RelationFile{RelFileNode: schema.RelFileNode{SpcNode: spc, DbNode: db, RelNode: relnode}, Fork: fork, Segment: seg}
	}
	cases := []struct {
		path string
		want *RelationFile
	}{
		{"global/1262", rel(1664, 0, 1262, schema.MainForkNum, 0)},
		{"global/1262_fsm", rel(1664, 0, 1262, schema.FSMForkNum, 0)},
		{"global/1262_vm", rel(1664, 0, 1262, schema.VisibilityMapFork, 0)},
		{"base/5/16384", rel(1663, 5, 16384, schema.MainForkNum, 0)},
		{"base/5/16384_vm", rel(1663, 5, 16384, schema.VisibilityMapFork, 0)},
		{"base/5/16384.2", rel(1663, 5, 16384, schema.MainForkNum, 2)},
		{"base/5/16384_fsm.1", rel(1663, 5, 16384, schema.FSMForkNum, 1)},
		{"base/5/16384_init", rel(1663, 5, 16384, schema.InitForkNum, 0)},
		{"base/1/4294967295", rel(1663, 1, 4294967295, schema.MainForkNum, 0)},
		{"base/16385/2619.131071", rel(1663, 16385, 2619, schema.MainForkNum, 131071)},
		{"pg_tblspc/16400/PG_15_202209061/5/16401_init", rel(16400, 5, 16401, schema.InitForkNum, 0)},
		{"pg_tblspc/16400/PG_15_202209061/16385/16402", rel(16400, 16385, 16402, schema.MainForkNum, 0)},
		{"pg_tblspc/16400/PG_15_202209061/16385/16402_vm.3", rel(16400, 16385, 16402, schema.VisibilityMapFork, 3)},

		// Not relation data files.
		{"base/5/pg_filenode.map", nil},
		{"base/5/PG_VERSION", nil},
		{"base/5/pg_internal.init", nil},
		{"global/pg_control", nil},
		{"global/pg_filenode.map", nil},
		{"base/5/16384_vm.tmp", nil},
		{"base/5/16384.tmp", nil},
		{"base/5/16384.0", nil},  // segment 0 has no suffix
		{"base/5/16384.01", nil}, // leading zero
		{"base/5/016384", nil},
		{"base/5/0", nil},
		{"base/5/4294967296", nil}, // beyond 32 bits
		{"base/5/16384_main", nil},
		{"base/5/16384_init_fsm", nil},
		{"base/5/16384_", nil},
		{"base/5/16384.", nil},
		{"base/5/16384.1.2", nil},
		{"base/5/-1", nil},
		{"base/5/+1", nil},
		{"base/5/t3_16384", nil}, // temporary relation
		{"base/5/t3_16384_fsm", nil},
		{"base/pgsql_tmp/pgsql_tmp123.0", nil},
		{"base/5/pgsql_tmp/16384", nil},
		{"base/pgsql_tmp", nil},
		{"base/0/16384", nil},
		{"base/05/16384", nil},
		{"base/x/16384", nil},
		{"base/16384", nil},
		{"global/1262/1", nil},
		{"pg_xact/0000", nil},
		{"pg_multixact/offsets/0000", nil},
		{"PG_VERSION", nil},
		{"backup_label", nil},
		{"pg_tblspc/16400/PG_15_202209061/5/PG_VERSION", nil},
		{"pg_tblspc/16400/PG_14_202107181/5/16401", nil}, // another major version
		{"pg_tblspc/16400/PG_15_/5/16401", nil},
		{"pg_tblspc/16400/5/16401", nil},
		{"pg_tblspc/0/PG_15_202209061/5/16401", nil},
		{"pg_tblspc/16400/PG_15_202209061/pgsql_tmp/pgsql_tmp1.0", nil},
		{"/base/5/16384", nil},
		{"./base/5/16384", nil},
		{"base//5/16384", nil},
		{"", nil},
	}
	for _, tc := range cases {
		got := ParseRelationPath(tc.path)
		switch {
		case tc.want == nil && got != nil:
			t.Errorf("ParseRelationPath(%q) = %v, want nil", tc.path, *got)
		case tc.want != nil && got == nil:
			t.Errorf("ParseRelationPath(%q) = nil, want %v", tc.path, *tc.want)
		case tc.want != nil && *got != *tc.want:
			t.Errorf("ParseRelationPath(%q) = %v, want %v", tc.path, *got, *tc.want)
		}
	}
	if b := rel(1663, 5, 1, schema.MainForkNum, 2).FirstBlock(); b != 2*131072 {
		t.Errorf("FirstBlock of segment 2 = %d, want 262144", b)
	}
	if s := rel(1663, 5, 16384, schema.VisibilityMapFork, 1).String(); s != "1663/5/16384 vm 1" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseBackupLabel(t *testing.T) {
	const label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n" +
		"CHECKPOINT LOCATION: 0/2000060\n" +
		"BACKUP METHOD: streamed\n" +
		"BACKUP FROM: primary\n" +
		"START TIME: 2025-01-02 03:04:05 UTC\n" +
		"LABEL: it's: a label\n" +
		"START TIMELINE: 1\n"
	got, err := ParseBackupLabel([]byte(label))
	if err != nil {
		t.Fatal(err)
	}
	want := BackupLabel{
		StartLSN:      0x2000028,
		StartWALFile:  "000000010000000000000002",
		CheckpointLSN: 0x2000060,
		BackupMethod:  "streamed",
		BackupFrom:    "primary",
		StartTime:     "2025-01-02 03:04:05 UTC",
		Label:         "it's: a label",
		StartTimeline: 1,
	}
	if got != want {
		t.Errorf("ParseBackupLabel = %+v, want %+v", got, want)
	}
	for _, bad := range []string{
		"",
		"CHECKPOINT LOCATION: 0/2000060\n",
		"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n",
		"START WAL LOCATION: zz (file x)\nCHECKPOINT LOCATION: 0/1\n",
		"START WAL LOCATION: 0/1 (file x)\nCHECKPOINT LOCATION: 0/1\nSTART TIMELINE: one\n",
		"START WAL LOCATION: 0/1 (file x)\nno colon here\nCHECKPOINT LOCATION: 0/1\n",
	} {
		if _, err := ParseBackupLabel([]byte(bad)); err == nil {
			t.Errorf("ParseBackupLabel(%q) succeeded", bad)
		}
	}
}

func TestBaseBackupCommand(t *testing.T) {
	cmd, err := BaseBackupOptions{}.withDefaults().command()
	if err != nil {
		t.Fatal(err)
	}
	if want := "BASE_BACKUP ( LABEL 'pagemill base backup', PROGRESS, CHECKPOINT 'fast', WAIT false, MANIFEST 'no' )"; cmd != want {
		t.Errorf("command = %s\nwant      %s", cmd, want)
	}
	cmd, err = BaseBackupOptions{Label: "it's", SpreadCheckpoint: true, MaxRate: 32, Manifest: true, NoVerifyChecksums: true}.withDefaults().command()
	if err != nil {
		t.Fatal(err)
	}
	if want := "BASE_BACKUP ( LABEL 'it''s', PROGRESS, CHECKPOINT 'spread', WAIT false, MAX_RATE 32, MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', VERIFY_CHECKSUMS false )"; cmd != want {
		t.Errorf("command = %s\nwant      %s", cmd, want)
	}
	for _, bad := range []BaseBackupOptions{{Label: "a\nb"}, {MaxRate: 31}, {MaxRate: 1048577}, {MaxRate: -1}} {
		if _, err := bad.withDefaults().command(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// dirSink writes the backup's files under root and remembers them.
type dirSink struct {
	root  string
	mu    sync.Mutex
	files []BackupFile
}

func (s *dirSink) File(ctx context.Context, f BackupFile, r io.Reader) error {
	dst := filepath.Join(s.root, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("%s: read %d bytes, header says %d", f.Path, n, f.Size)
	}
	s.mu.Lock()
	s.files = append(s.files, f)
	s.mu.Unlock()
	return nil
}

// discardSink reads and drops every file.
type discardSink struct{ files int }

func (s *discardSink) File(ctx context.Context, f BackupFile, r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("%s: read %d bytes, header says %d", f.Path, n, f.Size)
	}
	s.files++
	return nil
}

// funcSink calls fn for each file.
type funcSink func(ctx context.Context, f BackupFile, r io.Reader) error

func (fn funcSink) File(ctx context.Context, f BackupFile, r io.Reader) error { return fn(ctx, f, r) }

// drainSink reads every file to its end, counting the calls in calls and
// calling each(n) on the n-th first: its error fails that file.
func drainSink(calls *int, each func(n int) error) funcSink {
	return func(ctx context.Context, f BackupFile, r io.Reader) error {
		*calls++
		if err := each(*calls); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, r)
		return err
	}
}

func replConnect(t testing.TB, c *pgtest.Cluster) *pgconn.PgConn {
	t.Helper()
	conn, err := pgconn.Connect(t.Context(), c.ConnString("postgres")+" replication=true")
	if err != nil {
		t.Fatalf("replication connection: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// makeTablespaceDir makes an empty directory beside the cluster's data
// directory that the server's user owns.
func makeTablespaceDir(t testing.TB, c *pgtest.Cluster, name string) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(c.DataDir()), name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(pgtest.ServerUser)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func execIn(t testing.TB, c *pgtest.Cluster, db, sql string) {
	t.Helper()
	conn, err := c.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryValue(t testing.TB, c *pgtest.Cluster, sql string) string {
	t.Helper()
	rows := c.Query(t, sql)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: %v, want one value", sql, rows)
	}
	return rows[0][0]
}

// sourceRelationFiles lists the relation data files of a data directory
// (following the tablespace symlinks) by their backup path.
func sourceRelationFiles(t testing.TB, dataDir string) map[string]string {
	t.Helper()
	files := make(map[string]string) // backup path -> file on disk
	walk := func(root, prefix string) {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			bp := prefix + filepath.ToSlash(rel)
			if ParseRelationPath(bp) != nil {
				files[bp] = p
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk(filepath.Join(dataDir, "global"), "global/")
	walk(filepath.Join(dataDir, "base"), "base/")
	links, err := os.ReadDir(filepath.Join(dataDir, "pg_tblspc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		target, err := filepath.EvalSymlinks(filepath.Join(dataDir, "pg_tblspc", l.Name()))
		if err != nil {
			t.Fatal(err)
		}
		walk(target, "pg_tblspc/"+l.Name()+"/")
	}
	return files
}

type logLine struct {
	Msg            string  `json:"msg"`
	Bytes          int64   `json:"bytes"`
	EstimatedBytes int64   `json:"estimated_bytes"`
	MBPerSec       float64 `json:"mb_per_s"`
	Percent        float64 `json:"percent"`
}

func parseLog(t testing.TB, buf []byte) []logLine {
	t.Helper()
	var lines []logLine
	for _, l := range bytes.Split(bytes.TrimSpace(buf), []byte("\n")) {
		var ll logLine
		if err := json.Unmarshal(l, &ll); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, ll)
	}
	return lines
}

// TestTakeBaseBackup takes a base backup of a quiet cluster with pgbench
// tables, a second database, a tablespace and an unlogged table, and holds
// what the sink received against the source's data directory and the
// server's manifest.
func TestTakeBaseBackup(t *testing.T) {
	bb := startBaseBackupSource(t)
	bb.take()
	bb.checkPositionsAndLabel()
	bb.checkSinkFiles()
	bb.checkRelationIdentities()
	bb.checkTablespace()
	bb.checkSameBytesAsSource()
	bb.checkMessagesAndProgress()
	bb.checkManifest()
	bb.checkSecondBackup()

	t.Run("SinkError", bb.sinkError)
	t.Run("CancelInSink", bb.cancelInSink)
	t.Run("CancelWhileReceiving", bb.cancelWhileReceiving)
	t.Run("ServerError", bb.serverError)
	t.Run("NotReplicationConnection", bb.notReplicationConnection)
	t.Run("RoleWithoutReplication", bb.roleWithoutReplication)
	t.Run("BadOptions", bb.badOptions)
}

// testBackupLabel is the label TestTakeBaseBackup gives its backup.
const testBackupLabel = "pagemill test backup"

// baseBackupRun is TestTakeBaseBackup's source cluster, what it read from
// SQL before the backup, and the backup taken.
type baseBackupRun struct {
	t *testing.T
	c *pgtest.Cluster

	spcDir, spcOid, pgOid                  string
	accounts, tSpc, unlogged, accountsNode string // relation paths and pgbench_accounts' relfilenode

	conn   *pgconn.PgConn
	logBuf bytes.Buffer
	sink   *dirSink
	res    BaseBackupResult
	source map[string]string     // the source's relation files right after the backup
	got    map[string]BackupFile // the files handed to the sink, by path
}

// startBaseBackupSource starts a cluster with pgbench tables, a second
// database, a tablespace and an unlogged table, and reads everything the
// checks need from SQL now, before the backup, so that nothing touches
// the source between the backup and the comparison.
func startBaseBackupSource(t *testing.T) *baseBackupRun {
	c := pgtest.Start(t, pgtest.Options{
		DataChecksums: true,
		ExtraConf:     map[string]string{"autovacuum": "off"},
	})
	c.Pgbench(t, "-i", "-s", "1")
	spcDir := makeTablespaceDir(t, c, "spc1")
	c.Exec(t, "CREATE TABLESPACE spc1 LOCATION '"+spcDir+"'")
	c.Exec(t, "CREATE DATABASE db2")
	execIn(t, c, "db2", `CREATE TABLE t2 (id int PRIMARY KEY, v text);
		INSERT INTO t2 SELECT g, repeat('x', g % 100) FROM generate_series(1, 20000) g;
		CREATE TABLE t2_spc (id int PRIMARY KEY) TABLESPACE spc1;
		INSERT INTO t2_spc SELECT generate_series(1, 5000)`)
	execIn(t, c, "db2", "VACUUM (ANALYZE) t2, t2_spc")
	c.Exec(t, `CREATE TABLE t_spc (id int, v text) TABLESPACE spc1;
		INSERT INTO t_spc SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
		CREATE UNLOGGED TABLE t_unlogged (id int PRIMARY KEY);
		INSERT INTO t_unlogged SELECT generate_series(1, 1000)`)
	c.Exec(t, "VACUUM (ANALYZE) t_spc, t_unlogged")

	bb := &baseBackupRun{t: t, c: c, spcDir: spcDir}
	bb.spcOid = queryValue(t, c, "SELECT oid FROM pg_tablespace WHERE spcname = 'spc1'")
	bb.pgOid = queryValue(t, c, "SELECT oid FROM pg_database WHERE datname = 'postgres'")
	bb.accounts = queryValue(t, c, "SELECT pg_relation_filepath('pgbench_accounts')")
	bb.tSpc = queryValue(t, c, "SELECT pg_relation_filepath('t_spc')")
	bb.unlogged = queryValue(t, c, "SELECT pg_relation_filepath('t_unlogged')")
	bb.accountsNode = queryValue(t, c, "SELECT relfilenode FROM pg_class WHERE relname = 'pgbench_accounts'")
	c.Exec(t, "CREATE ROLE norepl LOGIN")
	c.Checkpoint(t)
	return bb
}

// take takes the backup into a directory sink, logging to logBuf, and
// lists the source's relation files right after it.
func (bb *baseBackupRun) take() {
	bb.conn = replConnect(bb.t, bb.c)
	log := slog.New(slog.NewJSONHandler(&bb.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bb.sink = &dirSink{root: bb.t.TempDir()}
	var err error
	bb.res, err = TakeBaseBackup(bb.t.Context(), bb.conn, BaseBackupOptions{
		Label:            testBackupLabel,
		ProgressInterval: 5 * time.Millisecond,
		Manifest:         true,
	}, bb.sink, log)
	if err != nil {
		bb.t.Fatalf("TakeBaseBackup: %v\nlog:\n%s", err, bb.logBuf.String())
	}
	bb.source = sourceRelationFiles(bb.t, bb.c.DataDir()) // right after the backup, while the cluster is quiet
	bb.t.Logf("backup: start %s end %s tli %d checkpoint %s; %d files, %d bytes, %d relation files, %d pages; "+
		"archive bytes %d (estimate %d); messages %+v; %v",
		bb.res.StartLSN, bb.res.EndLSN, bb.res.Timeline, bb.res.CheckpointLSN, bb.res.Files, bb.res.Bytes, bb.res.RelationFiles,
		bb.res.Pages, bb.res.ArchiveBytes, bb.res.EstimatedBytes, bb.res.Messages, bb.res.Duration)
}

// checkPositionsAndLabel checks the positions and backup_label.
func (bb *baseBackupRun) checkPositionsAndLabel() {
	if bb.res.StartLSN == 0 || bb.res.StartLSN > bb.res.EndLSN {
		bb.t.Errorf("start %s, end %s: want 0 < start <= end", bb.res.StartLSN, bb.res.EndLSN)
	}
	if bb.res.Timeline != 1 || bb.res.EndTimeline != 1 {
		bb.t.Errorf("timelines %d, %d, want 1", bb.res.Timeline, bb.res.EndTimeline)
	}
	onDisk, err := os.ReadFile(filepath.Join(bb.sink.root, "backup_label"))
	if err != nil {
		bb.t.Fatal(err)
	}
	if !bytes.Equal(onDisk, bb.res.BackupLabel) {
		bb.t.Errorf("backup_label handed to the sink differs from Result.BackupLabel")
	}
	bl, err := ParseBackupLabel(onDisk)
	if err != nil {
		bb.t.Fatal(err)
	}
	if bl.StartLSN != bb.res.StartLSN || bl.CheckpointLSN != bb.res.CheckpointLSN || bl.StartTimeline != bb.res.Timeline {
		bb.t.Errorf("backup_label %+v disagrees with result %+v", bl, bb.res)
	}
	if bl.CheckpointLSN < bl.StartLSN || bl.BackupMethod != "streamed" || bl.BackupFrom != "primary" {
		bb.t.Errorf("backup_label %+v", bl)
	}
	if bb.res.Label != testBackupLabel || bl.Label != testBackupLabel {
		bb.t.Errorf("label %q / %q, want %q", bb.res.Label, bl.Label, testBackupLabel)
	}
}

// checkSinkFiles checks that the counts agree with what the sink got, the
// archives' order, and which files are in the backup and which not.
func (bb *baseBackupRun) checkSinkFiles() {
	bb.got = make(map[string]BackupFile)
	var bytesSum, relSize int64
	relFiles := 0
	for _, f := range bb.sink.files {
		if _, dup := bb.got[f.Path]; dup {
			bb.t.Errorf("%s handed to the sink twice", f.Path)
		}
		bb.got[f.Path] = f
		bytesSum += f.Size
		if f.Relation != nil {
			relFiles++
			relSize += f.Size
			if *f.Relation != *ParseRelationPath(f.Path) {
				bb.t.Errorf("%s: Relation %v", f.Path, *f.Relation)
			}
		}
		fi, err := os.Stat(filepath.Join(bb.sink.root, filepath.FromSlash(f.Path)))
		if err != nil || fi.Size() != f.Size {
			bb.t.Errorf("%s: written %v (%v), want %d bytes", f.Path, fi, err, f.Size)
		}
	}
	if bb.res.Files != len(bb.sink.files) || bb.res.Bytes != bytesSum || bb.res.RelationFiles != relFiles || bb.res.Pages != relSize/8192 {
		bb.t.Errorf("result counts files %d bytes %d relation files %d pages %d; sink got %d, %d, %d, %d",
			bb.res.Files, bb.res.Bytes, bb.res.RelationFiles, bb.res.Pages, len(bb.sink.files), bytesSum, relFiles, relSize/8192)
	}
	if !strings.HasPrefix(bb.sink.files[0].Path, "pg_tblspc/"+bb.spcOid+"/PG_15_202209061/") {
		bb.t.Errorf("first file %s: tablespace archives come before base.tar", bb.sink.files[0].Path)
	}
	if last := bb.sink.files[len(bb.sink.files)-1].Path; last != "global/pg_control" {
		bb.t.Errorf("last file %s, want global/pg_control", last)
	}
	for _, p := range []string{"backup_label", "global/pg_control", "PG_VERSION", "pg_xact/0000",
		"global/pg_filenode.map", "base/" + bb.pgOid + "/pg_filenode.map", "base/" + bb.pgOid + "/PG_VERSION",
		bb.accounts, bb.tSpc, bb.unlogged + "_init"} {
		if _, ok := bb.got[p]; !ok {
			bb.t.Errorf("%s missing from the backup", p)
		}
	}
	for _, p := range []string{"postmaster.pid", "postmaster.opts", "tablespace_map", bb.unlogged, "base/" + bb.pgOid + "/pg_internal.init"} {
		if _, ok := bb.got[p]; ok {
			bb.t.Errorf("%s is in the backup", p)
		}
	}
}

// checkRelationIdentities checks the relation each file is identified
// as.
func (bb *baseBackupRun) checkRelationIdentities() {
	wantRel := func(p string, spc, db, relnode string, fork schema.ForkNumber) {
		bb.t.Helper()
		f, ok := bb.got[p]
		if !ok || f.Relation == nil {
			bb.t.Errorf("%s: not a relation file in the backup", p)
			return
		}
		want := fmt.Sprintf("%s/%s/%s %s 0", spc, db, relnode, fork)
		if s := f.Relation.String(); s != want {
			bb.t.Errorf("%s: relation %s, want %s", p, s, want)
		}
	}
	wantRel(bb.accounts, "1663", bb.pgOid, bb.accountsNode, schema.MainForkNum)
	wantRel(bb.accounts+"_fsm", "1663", bb.pgOid, bb.accountsNode, schema.FSMForkNum)
	wantRel(bb.accounts+"_vm", "1663", bb.pgOid, bb.accountsNode, schema.VisibilityMapFork)
	wantRel("global/1262", "1664", "0", "1262", schema.MainForkNum)
	wantRel(bb.tSpc, bb.spcOid, bb.pgOid, path.Base(bb.tSpc), schema.MainForkNum)
	wantRel(bb.unlogged+"_init", "1663", bb.pgOid, path.Base(bb.unlogged), schema.InitForkNum)
	for _, p := range []string{"global/pg_control", "PG_VERSION", "pg_xact/0000", "backup_label"} {
		if bb.got[p].Relation != nil {
			bb.t.Errorf("%s has Relation %v", p, *bb.got[p].Relation)
		}
	}
}

// checkTablespace checks the tablespace's oid, location and counts.
func (bb *baseBackupRun) checkTablespace() {
	if len(bb.res.Tablespaces) != 1 {
		bb.t.Fatalf("tablespaces %+v, want one", bb.res.Tablespaces)
	}
	ts := bb.res.Tablespaces[0]
	spcFiles, spcBytes := 0, int64(0)
	for _, f := range bb.sink.files {
		if strings.HasPrefix(f.Path, "pg_tblspc/"+bb.spcOid+"/") {
			spcFiles++
			spcBytes += f.Size
		}
	}
	if strconv.FormatUint(uint64(ts.OID), 10) != bb.spcOid || ts.Location != bb.spcDir || ts.Files != spcFiles || ts.Bytes != spcBytes || ts.Files == 0 || ts.EstimatedBytes <= 0 {
		bb.t.Errorf("tablespace %+v; want oid %s, location %s, %d files, %d bytes", ts, bb.spcOid, bb.spcDir, spcFiles, spcBytes)
	}
}

// checkSameBytesAsSource checks that every relation file of the (quiet)
// source is in the backup with the same bytes, except the unlogged
// relation's non-init forks, and the backup has no relation file the
// source lacks.
func (bb *baseBackupRun) checkSameBytesAsSource() {
	compared := 0
	for bp, disk := range bb.source {
		rf := ParseRelationPath(bp)
		isUnlogged := rf.Fork != schema.InitForkNum && fileExists(filepath.Join(filepath.Dir(disk), fmt.Sprintf("%d_init", rf.RelFileNode.RelNode)))
		f, ok := bb.got[bp]
		switch {
		case isUnlogged && ok:
			bb.t.Errorf("%s: unlogged relation fork in the backup", bp)
		case isUnlogged:
		case !ok:
			bb.t.Errorf("%s: relation file of the source missing from the backup", bp)
		default:
			want, err := os.ReadFile(disk)
			if err != nil {
				bb.t.Fatal(err)
			}
			have, err := os.ReadFile(filepath.Join(bb.sink.root, filepath.FromSlash(bp)))
			if err != nil {
				bb.t.Fatal(err)
			}
			if int64(len(want)) != f.Size || !bytes.Equal(want, have) {
				bb.t.Errorf("%s: backup has %d bytes (header %d), source %d; identical: %v", bp, len(have), f.Size, len(want), bytes.Equal(want, have))
			}
			compared++
		}
	}
	for p, f := range bb.got {
		if f.Relation != nil {
			if _, ok := bb.source[p]; !ok {
				bb.t.Errorf("%s: in the backup but not in the source", p)
			}
		}
	}
	if compared < 100 {
		bb.t.Errorf("only %d relation files compared", compared)
	}
	bb.t.Logf("%d relation files byte-identical to the source", compared)
}

// checkMessagesAndProgress checks the message counts and the progress
// and completion log lines.
func (bb *baseBackupRun) checkMessagesAndProgress() {
	m := bb.res.Messages
	if m.NewArchive != 2 || m.Manifest != 1 || m.Data == 0 || m.ManifestData == 0 || m.Progress < 2 {
		bb.t.Errorf("messages %+v: want 2 archives, 1 manifest, data, manifest data, a progress report per archive", m)
	}
	if bb.res.ArchiveBytes < bb.res.Bytes || bb.res.EstimatedBytes <= 0 {
		bb.t.Errorf("archive bytes %d, file bytes %d, estimate %d", bb.res.ArchiveBytes, bb.res.Bytes, bb.res.EstimatedBytes)
	}
	var progress, complete int
	for _, l := range parseLog(bb.t, bb.logBuf.Bytes()) {
		switch l.Msg {
		case "base backup progress":
			if l.Bytes <= 0 || l.EstimatedBytes != bb.res.EstimatedBytes || l.MBPerSec <= 0 {
				bb.t.Errorf("progress line %+v", l)
			}
			progress++
		case "base backup complete":
			complete++
		}
	}
	if progress == 0 || complete != 1 {
		bb.t.Errorf("%d progress lines and %d completion lines logged:\n%s", progress, complete, bb.logBuf.String())
	}
}

// checkManifest checks the manifest's content. TakeBaseBackup checked it
// against every file; pg_verifybackup judges the written directory as
// well.
func (bb *baseBackupRun) checkManifest() {
	if !bytes.Contains(bb.res.Manifest, []byte(`"Path": "backup_label"`)) || !bytes.Contains(bb.res.Manifest, []byte(`"WAL-Ranges"`)) {
		bb.t.Errorf("manifest: %.200s", bb.res.Manifest)
	}
	if err := os.WriteFile(filepath.Join(bb.sink.root, "backup_manifest"), bb.res.Manifest, 0o600); err != nil {
		bb.t.Fatal(err)
	}
	if out, err := bb.c.RunBin(bb.t.Context(), "pg_verifybackup", "--no-parse-wal", bb.sink.root); err != nil {
		bb.t.Errorf("pg_verifybackup: %v", err)
	} else {
		bb.t.Logf("pg_verifybackup: %s", bytes.TrimSpace(out))
	}
}

// checkSecondBackup checks that the connection is idle again: a second
// backup on it works.
func (bb *baseBackupRun) checkSecondBackup() {
	var ds discardSink
	res2, err := TakeBaseBackup(bb.t.Context(), bb.conn, BaseBackupOptions{}, &ds, nil)
	if err != nil {
		bb.t.Fatalf("second backup on the same connection: %v", err)
	}
	if res2.StartLSN <= bb.res.EndLSN || res2.Files != ds.files {
		bb.t.Errorf("second backup start %s (first ended %s), %d files, sink %d", res2.StartLSN, bb.res.EndLSN, res2.Files, ds.files)
	}
}

func (bb *baseBackupRun) sinkError(t *testing.T) {
	conn := replConnect(t, bb.c)
	errFull := errors.New("sink is full")
	calls := 0
	_, err := TakeBaseBackup(t.Context(), conn, BaseBackupOptions{}, drainSink(&calls, func(n int) error {
		if n == 5 {
			return errFull
		}
		return nil
	}), nil)
	var se *SinkError
	if !errors.Is(err, errFull) || !errors.As(err, &se) || se.File.Path == "" {
		t.Fatalf("err = %v, want a *SinkError wrapping the sink's error", err)
	}
	if calls != 5 {
		t.Errorf("sink called %d times after failing on the 5th", calls)
	}
	t.Logf("sink error: %v", err)
	checkAbandoned(t, bb.c, conn, "a sink error")
}

func (bb *baseBackupRun) cancelInSink(t *testing.T) {
	conn := replConnect(t, bb.c)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	_, err := TakeBaseBackup(ctx, conn, BaseBackupOptions{}, drainSink(&calls, func(n int) error {
		if n == 3 {
			cancel()
		}
		return nil
	}), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if calls > 4 {
		t.Errorf("sink called %d times after cancellation at the 3rd", calls)
	}
	t.Logf("cancelled: %v", err)
	checkAbandoned(t, bb.c, conn, "cancellation")
}

func (bb *baseBackupRun) cancelWhileReceiving(t *testing.T) {
	// At 32 kB/s the backup would take many minutes; the receive is
	// blocked when the context ends.
	conn := replConnect(t, bb.c)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var ds discardSink
	start := time.Now()
	res, err := TakeBaseBackup(ctx, conn, BaseBackupOptions{MaxRate: 32}, &ds, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to notice the deadline", d)
	}
	if res.Files == 0 || res.Files != ds.files || res.ArchiveBytes > 1<<20 {
		t.Errorf("%d files (sink %d), %d archive bytes before the deadline", res.Files, ds.files, res.ArchiveBytes)
	}
	t.Logf("deadline after %v, %d files: %v", time.Since(start), res.Files, err)
	checkAbandoned(t, bb.c, conn, "the deadline")
}

func (bb *baseBackupRun) serverError(t *testing.T) {
	conn := replConnect(t, bb.c)
	_, err := TakeBaseBackup(t.Context(), conn, BaseBackupOptions{Label: strings.Repeat("x", 2000)}, &discardSink{}, nil)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message, "backup label too long") {
		t.Fatalf("err = %v, want the server's PgError", err)
	}
	t.Logf("server error: %v", err)
	if conn.IsClosed() {
		t.Fatal("connection closed after a server error")
	}
	if _, err := conn.Exec(t.Context(), "IDENTIFY_SYSTEM").ReadAll(); err != nil {
		t.Errorf("IDENTIFY_SYSTEM after the server error: %v", err)
	}
}

func (bb *baseBackupRun) notReplicationConnection(t *testing.T) {
	conn, err := pgconn.Connect(t.Context(), bb.c.ConnString("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = TakeBaseBackup(t.Context(), conn, BaseBackupOptions{}, &discardSink{}, nil)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42601" || !strings.Contains(err.Error(), "replication=true") {
		t.Fatalf("err = %v, want a syntax error that mentions replication=true", err)
	}
	t.Logf("plain connection: %v", err)
}

func (bb *baseBackupRun) roleWithoutReplication(t *testing.T) {
	_, err := pgconn.Connect(t.Context(), bb.c.ConnString("postgres")+" user=norepl replication=true")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "replication role") {
		t.Fatalf("err = %v, want insufficient_privilege naming the replication role", err)
	}
	t.Logf("role without REPLICATION: %v", err)
}

func (bb *baseBackupRun) badOptions(t *testing.T) {
	conn := replConnect(t, bb.c)
	if _, err := TakeBaseBackup(t.Context(), conn, BaseBackupOptions{MaxRate: 1}, &discardSink{}, nil); err == nil || !strings.Contains(err.Error(), "MaxRate") {
		t.Errorf("MaxRate 1: %v", err)
	}
	if conn.IsClosed() {
		t.Error("connection closed by an options error")
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// checkAbandoned checks what a backup ended by what leaves: its
// connection closed, and, once the aborted backup's walsender has gone, no
// base backup in progress on the server.
func checkAbandoned(t *testing.T, c *pgtest.Cluster, conn *pgconn.PgConn, what string) {
	t.Helper()
	if !conn.IsClosed() {
		t.Errorf("connection still open after %s", what)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := queryValue(t, c, "SELECT count(*) FROM pg_stat_progress_basebackup")
		if n == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s base backups still in progress on the server", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBaseBackupChecksumFailure corrupts a page on disk: PostgreSQL sends
// the whole backup, then fails the command after the end position, and the
// error reaches the caller with the connection still usable.
func TestBaseBackupChecksumFailure(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{DataChecksums: true, ExtraConf: map[string]string{"autovacuum": "off"}})
	c.Exec(t, "CREATE TABLE t_corrupt AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 2000) g")
	rel := queryValue(t, c, "SELECT pg_relation_filepath('t_corrupt')")
	c.Checkpoint(t)
	// The page stays clean in shared buffers, so only the file is damaged.
	f, err := os.OpenFile(filepath.Join(c.DataDir(), filepath.FromSlash(rel)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("corrupt!"), 4000); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	conn := replConnect(t, c)
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	var ds discardSink
	res, err := TakeBaseBackup(t.Context(), conn, BaseBackupOptions{}, &ds, log)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "XX001" {
		t.Fatalf("err = %v, want the server's data_corrupted error", err)
	}
	t.Logf("checksum failure: %v (after %d files, end position %s)", err, res.Files, res.EndLSN)
	if res.Files == 0 || res.Files != ds.files || res.EndLSN == 0 {
		t.Errorf("%d files (sink %d), end %s: the server fails only after sending everything", res.Files, ds.files, res.EndLSN)
	}
	if !strings.Contains(logBuf.String(), `"severity":"WARNING"`) || !strings.Contains(logBuf.String(), "checksum verification failed") {
		t.Errorf("the server's checksum warning was not logged:\n%s", logBuf.String())
	}
	if conn.IsClosed() {
		t.Fatal("connection closed after the server error")
	}
	if _, err := conn.Exec(t.Context(), "IDENTIFY_SYSTEM").ReadAll(); err != nil {
		t.Errorf("IDENTIFY_SYSTEM after the server error: %v", err)
	}
	if _, err := TakeBaseBackup(t.Context(), conn, BaseBackupOptions{NoVerifyChecksums: true}, &discardSink{}, nil); err != nil {
		t.Errorf("with NoVerifyChecksums: %v", err)
	}
}

// recordingSource passes a copySource through and keeps copies of the
// payloads.
type recordingSource struct {
	inner    copySource
	payloads [][]byte
}

func (r *recordingSource) next(ctx context.Context) ([]byte, bool, error) {
	p, done, err := r.inner.next(ctx)
	if err == nil && !done {
		r.payloads = append(r.payloads, bytes.Clone(p))
	}
	return p, done, err
}

// replaySource yields recorded payloads, then CopyDone.
type replaySource struct {
	payloads [][]byte
	i        int
}

func (r *replaySource) next(context.Context) ([]byte, bool, error) {
	if r.i == len(r.payloads) {
		return nil, true, nil
	}
	r.i++
	return r.payloads[r.i-1], false, nil
}

// captureBackup takes a real backup and records the COPY stream's payloads.
func captureBackup(t *testing.T, c *pgtest.Cluster, opts BaseBackupOptions) ([][]byte, BaseBackupResult) {
	t.Helper()
	conn := replConnect(t, c)
	log := slog.New(slog.DiscardHandler)
	rec := &recordingSource{inner: &connSource{conn: conn, log: log}}
	s := &backupStream{ctx: t.Context(), src: rec, sink: &discardSink{}, log: log, opts: opts.withDefaults()}
	cmd, err := s.opts.command()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(&connSource{conn: conn, log: log}, cmd); err != nil {
		t.Fatal(err)
	}
	return rec.payloads, s.res
}

// replay runs the demultiplexer over payloads as if the server had sent
// them after the start position and tablespace list of orig, and with
// verify checks the files against the manifest in the stream.
func replay(payloads [][]byte, orig BaseBackupResult, sink BaseBackupSink, verify bool) (BaseBackupResult, error) {
	s := &backupStream{
		ctx:  context.Background(),
		src:  &replaySource{payloads: payloads},
		sink: sink,
		log:  slog.New(slog.DiscardHandler),
		opts: BaseBackupOptions{Manifest: verify}.withDefaults(),
	}
	s.res.StartLSN, s.res.Timeline = orig.StartLSN, orig.Timeline
	rows := [][][]byte{{nil, nil, []byte("1000")}}
	for _, ts := range orig.Tablespaces {
		rows = append([][][]byte{{[]byte(strconv.FormatUint(uint64(ts.OID), 10)), []byte(ts.Location), []byte("1")}}, rows...)
	}
	if err := s.setTablespaces(rows); err != nil {
		return s.res, err
	}
	if err := s.demux(); err != nil {
		return s.res, err
	}
	s.res.EndLSN, s.res.EndTimeline = orig.EndLSN, orig.EndTimeline
	return s.res, s.verifyManifest()
}

// archiveBytes concatenates an archive's data from the payloads and
// returns, for each archive byte, the payload index and offset holding it.
func archiveBytes(payloads [][]byte, name string) (data []byte, where [][2]int) {
	in := false
	for i, p := range payloads {
		switch p[0] {
		case 'n':
			in = strings.HasPrefix(string(p[1:]), name+"\x00")
		case 'm':
			in = false
		case 'd':
			if in {
				for j := 1; j < len(p); j++ {
					where = append(where, [2]int{i, j})
				}
				data = append(data, p[1:]...)
			}
		}
	}
	return data, where
}

// tarHeaders returns the offsets, names, types and sizes of the headers of
// a plain ustar archive (as PostgreSQL writes it).
func tarHeaders(data []byte) (offs []int, names []string, types []byte, sizes []int) {
	for off := 0; off+512 <= len(data); {
		h := data[off : off+512]
		if schema.AllZero(h) {
			break
		}
		size, _ := strconv.ParseInt(strings.Trim(string(h[124:136]), " \x00"), 8, 64)
		if h[156] == '2' || h[156] == '5' {
			size = 0
		}
		offs = append(offs, off)
		names = append(names, strings.TrimRight(string(h[:100]), "\x00"))
		types = append(types, h[156])
		sizes = append(sizes, int(size))
		off += 512 + int(size+511)/512*512
	}
	return offs, names, types, sizes
}

// clonePayloads deep-copies payloads so a mutation affects one case only.
func clonePayloads(payloads [][]byte) [][]byte {
	out := make([][]byte, len(payloads))
	for i, p := range payloads {
		out[i] = bytes.Clone(p)
	}
	return out
}

// setTarName rewrites the name of the header at archive offset off and
// fixes its checksum.
func setTarName(payloads [][]byte, where [][2]int, off int, name string) {
	var h [512]byte
	for i := range h {
		w := where[off+i]
		h[i] = payloads[w[0]][w[1]]
	}
	clear(h[:100])
	copy(h[:100], name)
	copy(h[148:156], "        ")
	sum := 0
	for _, b := range h {
		sum += int(b)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	for i := range h {
		w := where[off+i]
		payloads[w[0]][w[1]] = h[i]
	}
}

// TestBaseBackupMalformedStream replays a real PostgreSQL 15 backup stream
// with damage and checks that each is reported, by name and position,
// without a panic.
func TestBaseBackupMalformedStream(t *testing.T) {
	ms := captureMalformedStreamBase(t)
	for _, tc := range append(ms.tarCases(), ms.messageCases()...) {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) { ms.checkRefused(t, tc) })
	}

	// A flipped data byte is valid tar; only the manifest's checksum
	// notices it.
	t.Run("manifest_checksum", ms.manifestChecksum)
	t.Run("manifest_missing_file", ms.manifestMissingFile)
	ms.randomDamage()
}

// malformedStream is a captured backup stream, where base.tar's bytes lie
// in it and its tar headers, for TestBaseBackupMalformedStream to damage.
type malformedStream struct {
	t        *testing.T
	payloads [][]byte
	orig     BaseBackupResult
	base     []byte   // base.tar
	where    [][2]int // payload and offset of each byte of base
	offs     []int    // base.tar's tar headers
	names    []string
	types    []byte
	sizes    []int
	k        int // a regular file of at least a page in the middle of the archive
	hdr      int // its header
	lastData int // the payload ending base.tar
}

// malformedCase is a change to the stream and the error it must cause.
type malformedCase struct {
	name   string
	mutate func(p [][]byte) [][]byte
	orig   func(r *BaseBackupResult)
	want   string
}

// captureMalformedStreamBase captures a backup with a manifest and checks
// that replaying it unmodified works.
func captureMalformedStreamBase(t *testing.T) *malformedStream {
	c := pgtest.Start(t, pgtest.Options{ExtraConf: map[string]string{"autovacuum": "off"}})
	ms := &malformedStream{t: t}
	ms.payloads, ms.orig = captureBackup(t, c, BaseBackupOptions{Manifest: true})
	ms.base, ms.where = archiveBytes(ms.payloads, "base.tar")
	ms.offs, ms.names, ms.types, ms.sizes = tarHeaders(ms.base)
	if len(ms.offs) < 100 || ms.names[0] != "backup_label" {
		t.Fatalf("base.tar: %d headers, first %q", len(ms.offs), ms.names[0])
	}
	t.Logf("captured %d payloads, base.tar %d bytes, %d entries", len(ms.payloads), len(ms.base), len(ms.offs))
	counts := map[byte]int{}
	for _, p := range ms.payloads {
		counts[p[0]]++
	}
	t.Logf("payloads by type byte: n=%d d=%d p=%d m=%d", counts['n'], counts['d'], counts['p'], counts['m'])

	res, err := replay(ms.payloads, ms.orig, &discardSink{}, true)
	if err != nil || res.Files != ms.orig.Files || res.Bytes != ms.orig.Bytes || !bytes.Equal(res.Manifest, ms.orig.Manifest) {
		t.Fatalf("unmodified replay: %v; %d files %d bytes, want %d %d", err, res.Files, res.Bytes, ms.orig.Files, ms.orig.Bytes)
	}
	for i, n := range ms.names {
		if strings.HasPrefix(n, "./") {
			t.Logf("base.tar entry %q (type %c) keeps the ./ prefix", n, ms.types[i])
		}
	}

	// A regular file of at least a page in the middle of the archive.
	ms.k = len(ms.offs) / 2
	for ms.types[ms.k] != '0' || ms.sizes[ms.k] < 8192 {
		ms.k++
	}
	ms.hdr = ms.offs[ms.k]
	ms.lastData = ms.where[len(ms.base)-1][0]
	return ms
}

// tarCases damage base.tar's headers, contents and end.
func (ms *malformedStream) tarCases() []malformedCase {
	t, where, hdr, names, k, base, lastData := ms.t, ms.where, ms.hdr, ms.names, ms.k, ms.base, ms.lastData
	return []malformedCase{
		{
			name:   "bad header checksum",
			mutate: func(p [][]byte) [][]byte { w := where[hdr+148]; p[w[0]][w[1]] ^= 1; return p },
			want:   fmt.Sprintf("base backup: archive base.tar: tar header at byte %d: archive/tar: invalid tar header", hdr),
		},
		{
			name:   "path leaving the archive",
			mutate: func(p [][]byte) [][]byte { setTarName(p, where, hdr, "../../etc/passwd"); return p },
			want:   fmt.Sprintf("base backup: archive base.tar: tar header at byte %d: name \"../../etc/passwd\" leaves the archive", hdr),
		},
		{
			name:   "absolute path",
			mutate: func(p [][]byte) [][]byte { setTarName(p, where, hdr, "/etc/passwd"); return p },
			want:   fmt.Sprintf("base backup: archive base.tar: tar header at byte %d: absolute name \"/etc/passwd\"", hdr),
		},
		{
			name: "truncated inside a file",
			mutate: func(p [][]byte) [][]byte {
				w := where[hdr+512+10]
				q := p[:w[0]+1]
				q[w[0]] = q[w[0]][:w[1]]
				return q
			},
			want: fmt.Sprintf("base backup: archive base.tar: file %s at byte ", names[k]),
		},
		{
			name: "truncated at a header",
			mutate: func(p [][]byte) [][]byte {
				w := where[hdr]
				if w[1] != 1 {
					t.Fatalf("header at %d does not start a message", hdr)
				}
				return p[:w[0]]
			},
			want: fmt.Sprintf("base backup: archive base.tar: archive ended at byte %d without the tar end-of-archive marker", hdr),
		},
		{
			name:   "no end-of-archive marker",
			mutate: func(p [][]byte) [][]byte { w := where[len(base)-1024]; p[w[0]] = p[w[0]][:w[1]]; return p },
			want:   fmt.Sprintf("base backup: archive base.tar: archive ended at byte %d without the tar end-of-archive marker", len(base)-1024),
		},
		{
			name: "data after the end-of-archive marker",
			mutate: func(p [][]byte) [][]byte {
				return append(p[:lastData+1:lastData+1], append([][]byte{append([]byte{'d'}, make([]byte, 512)...), []byte("dgarbage")}, p[lastData+1:]...)...)
			},
			want: fmt.Sprintf("base backup: archive base.tar: data after the end-of-archive marker at byte %d", len(base)),
		},
	}
}

// messageCases damage the CopyData messages and the archive list.
func (ms *malformedStream) messageCases() []malformedCase {
	orig, lastData := ms.orig, ms.lastData
	return []malformedCase{
		{
			name:   "unknown type byte",
			mutate: func(p [][]byte) [][]byte { return append(p, []byte("x123")) },
			want:   "base backup: CopyData message of unknown type 0x78",
		},
		{
			name:   "short progress message",
			mutate: func(p [][]byte) [][]byte { return append(p[:3:3], append([][]byte{{'p', 0, 0, 1}}, p[3:]...)...) },
			want:   "base backup: archive base.tar: progress message of 4 bytes, want 9",
		},
		{
			name:   "data before any archive",
			mutate: func(p [][]byte) [][]byte { return append([][]byte{[]byte("dxyz")}, p...) },
			want:   "base backup: archive data before the first archive",
		},
		{
			name:   "archive name without NUL",
			mutate: func(p [][]byte) [][]byte { p[0] = []byte("nbase.tar"); return p },
			want:   "base backup: new-archive message: archive name is not NUL-terminated",
		},
		{
			name:   "unlisted archive",
			mutate: func(p [][]byte) [][]byte { p[0] = []byte("n99999.tar\x00/x\x00"); return p },
			want:   "base backup: archive 99999.tar: not base.tar or a listed tablespace's archive",
		},
		{
			name:   "compressed archive",
			mutate: func(p [][]byte) [][]byte { p[0] = []byte("nbase.tar.gz\x00\x00"); return p },
			want:   "base backup: archive base.tar.gz: not base.tar or a listed tablespace's archive",
		},
		{
			name: "archive sent twice",
			mutate: func(p [][]byte) [][]byte {
				return append(p[:lastData+1:lastData+1], append([][]byte{p[0]}, p[1:lastData+1]...)...)
			},
			want: "base backup: archive base.tar: archive sent twice",
		},
		{
			name:   "empty CopyData",
			mutate: func(p [][]byte) [][]byte { return append(p[:2:2], append([][]byte{{}}, p[2:]...)...) },
			want:   "base backup: archive base.tar: empty CopyData message",
		},
		{
			name:   "no archives",
			mutate: func(p [][]byte) [][]byte { return nil },
			want:   "base backup: no base.tar archive",
		},
		{
			name:   "start position contradicts backup_label",
			mutate: func(p [][]byte) [][]byte { return p },
			orig:   func(r *BaseBackupResult) { r.StartLSN++ },
			want:   fmt.Sprintf("base backup: archive base.tar: backup_label START WAL LOCATION %s differs from the start position %s", orig.StartLSN.Short(), (orig.StartLSN + 1).Short()),
		},
	}
}

// checkRefused replays the stream as tc changes it and checks the error.
func (ms *malformedStream) checkRefused(t *testing.T, tc malformedCase) {
	o := ms.orig
	if tc.orig != nil {
		tc.orig(&o)
	}
	_, err := replay(tc.mutate(clonePayloads(ms.payloads)), o, &discardSink{}, false)
	if !errors.Is(err, ErrMalformedBackup) || !strings.HasPrefix(err.Error(), tc.want) {
		t.Fatalf("err = %v\nwant prefix %s (and ErrMalformedBackup)", err, tc.want)
	}
	var bse *BackupStreamError
	if !errors.As(err, &bse) {
		t.Fatalf("err %v is not a *BackupStreamError", err)
	}
}

func (ms *malformedStream) manifestChecksum(t *testing.T) {
	p := clonePayloads(ms.payloads)
	w := ms.where[ms.hdr+512+100]
	p[w[0]][w[1]] ^= 0x40
	if _, err := replay(p, ms.orig, &discardSink{}, false); err != nil {
		t.Fatalf("without the manifest check: %v", err)
	}
	_, err := replay(p, ms.orig, &discardSink{}, true)
	if !errors.Is(err, ErrManifestMismatch) || !strings.Contains(err.Error(), ms.names[ms.k]+": CRC32C ") {
		t.Fatalf("err = %v, want ErrManifestMismatch naming %s", err, ms.names[ms.k])
	}
	t.Logf("manifest check: %v", err)
}

func (ms *malformedStream) manifestMissingFile(t *testing.T) {
	// A sink that stops reading early still gets the file checksummed.
	res, err := replay(clonePayloads(ms.payloads), ms.orig, funcSink(func(ctx context.Context, f BackupFile, r io.Reader) error {
		_, err := io.CopyN(io.Discard, r, min(f.Size, 100))
		return err
	}), true)
	if err != nil {
		t.Fatalf("sink reading 100 bytes of each file: %v", err)
	}
	o := ms.orig
	o.EndLSN++
	if _, err := replay(clonePayloads(ms.payloads), o, &discardSink{}, true); !errors.Is(err, ErrManifestMismatch) || !strings.Contains(err.Error(), "WAL-Ranges end") {
		t.Fatalf("end position differing from the manifest's WAL range: %v", err)
	}
	_ = res
}

// randomDamage checks random damage: an error is always a
// *BackupStreamError, never a panic.
func (ms *malformedStream) randomDamage() {
	rng := rand.New(rand.NewPCG(1, 2))
	detected := 0
	const rounds = 100
	for range rounds {
		p := clonePayloads(ms.payloads)
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(p))
			if len(p[i]) == 0 {
				continue
			}
			switch rng.IntN(4) {
			case 0: // type byte
				p[i][0] = "ndpmx"[rng.IntN(5)]
			case 1: // a byte of a tar header
				off := ms.offs[rng.IntN(len(ms.offs))] + rng.IntN(512)
				w := ms.where[off]
				p[w[0]][w[1]] = byte(rng.IntN(256))
			case 2: // truncate a message
				p[i] = p[i][:rng.IntN(len(p[i]))]
			default: // drop a message
				p = append(p[:i], p[i+1:]...)
			}
		}
		_, err := replay(p, ms.orig, &discardSink{}, false)
		if err != nil {
			if !errors.Is(err, ErrMalformedBackup) {
				ms.t.Fatalf("damaged stream: %v is not ErrMalformedBackup", err)
			}
			detected++
		}
	}
	ms.t.Logf("random damage: %d of %d streams rejected", detected, rounds)
	if detected < rounds/2 {
		ms.t.Errorf("only %d of %d damaged streams rejected", detected, rounds)
	}
}

// BenchmarkTakeBaseBackup measures a backup of a pgbench scale-10 cluster
// into a discarding sink.
func BenchmarkTakeBaseBackup(b *testing.B) {
	c := pgtest.Start(b, pgtest.Options{ExtraConf: map[string]string{"autovacuum": "off"}})
	c.Pgbench(b, "-i", "-s", "10")
	c.Checkpoint(b)
	conn := replConnect(b, c)
	var last BaseBackupResult
	for b.Loop() {
		res, err := TakeBaseBackup(b.Context(), conn, BaseBackupOptions{ProgressInterval: -1}, &discardSink{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(res.ArchiveBytes)
		last = res
	}
	b.ReportMetric(float64(last.ArchiveBytes)/1e6, "archive-MB")
	b.Logf("scale 10: %d files, %d bytes, %d archive bytes, %d pages, messages %+v, %v",
		last.Files, last.Bytes, last.ArchiveBytes, last.Pages, last.Messages, last.Duration)
}
