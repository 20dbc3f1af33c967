package schema

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestControlFileMatchesPgControldata parses a real cluster's pg_control,
// compares every field with pg_controldata, checks the checkpoint copy
// against the checkpoint record in pg_wal, then writes a modified file back
// and has pg_controldata and the server accept it.
func TestControlFileMatchesPgControldata(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{DataChecksums: true})
	c.Exec(t, `CREATE TABLE cf_t AS SELECT g FROM generate_series(1, 1000) g`)
	c.Checkpoint(t)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(c.DataDir(), ControlFilePath)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := ParseControlFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cf.Bytes(), raw) {
		t.Fatalf("Bytes() of an unchanged pg_control differs at byte %d", firstDiff(cf.Bytes(), raw))
	}

	pcd := pgControldata(t, c)
	cp := cf.CheckPointCopy
	for k, v := range controldataWant(cf) {
		got, ok := pcd[k]
		if !ok {
			t.Errorf("pg_controldata prints no %q", k)
		} else if got != v {
			t.Errorf("%s: pg_controldata %q, parsed %q", k, got, v)
		}
	}
	// Sanity of what a stopped default cluster must hold.
	if cf.State != DBShutdowned || cf.DataChecksumVersion != 1 || cf.XLogSegSize != uint32(c.WALSegmentSize()) ||
		cf.WALLevel != WALLevelReplica || cf.Blcksz != BLCKSZ || cf.XLogBlcksz != XLogBlcksz || cf.RelSegSize != RelSegSize ||
		cf.MaxAlign != 8 || cf.FloatFormat != FloatFormatValue || cp.Redo != cf.CheckPoint {
		t.Errorf("unexpected values: %+v", cf)
	}

	checkShutdownCheckpointRecord(t, c, cf)
	checkControlFileRewrite(t, c, path, cf, raw)

	// The server itself accepts the file: back to "shut down", it starts
	// without recovery.
	cf.State = DBShutdowned
	writeControlFile(t, path, cf.Bytes())
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	rows := c.Query(t, "SELECT checkpoint_lsn, redo_lsn FROM pg_control_checkpoint()")
	if rows[0][0] != cf.CheckPoint.Short() || rows[0][1] != cp.Redo.Short() {
		t.Errorf("running server reports checkpoint %v, want %s", rows[0], cf.CheckPoint.Short())
	}
}

// controldataWant is what pg_controldata must print for cf, by label.
func controldataWant(cf *ControlFile) map[string]string {
	cp := cf.CheckPointCopy
	onOff := map[bool]string{true: "on", false: "off"}
	yesNo := map[bool]string{true: "yes", false: "no"}
	ts := func(sec int64) string { return time.Unix(sec, 0).Local().Format("Mon Jan _2 15:04:05 2006") }
	return map[string]string{
		"pg_control version number":             fmt.Sprint(cf.PgControlVersion),
		"Catalog version number":                fmt.Sprint(cf.CatalogVersionNo),
		"Database system identifier":            fmt.Sprint(cf.SystemIdentifier),
		"Database cluster state":                cf.State.String(),
		"pg_control last modified":              ts(cf.Time),
		"Latest checkpoint location":            cf.CheckPoint.Short(),
		"Latest checkpoint's REDO location":     cp.Redo.Short(),
		"Latest checkpoint's REDO WAL file":     XLogFileName(cp.ThisTimeLineID, cp.Redo.SegNo(cf.XLogSegSize), cf.XLogSegSize),
		"Latest checkpoint's TimeLineID":        fmt.Sprint(cp.ThisTimeLineID),
		"Latest checkpoint's PrevTimeLineID":    fmt.Sprint(cp.PrevTimeLineID),
		"Latest checkpoint's full_page_writes":  onOff[cp.FullPageWrites],
		"Latest checkpoint's NextXID":           fmt.Sprintf("%d:%d", cp.NextXidEpoch(), cp.NextXidXid()),
		"Latest checkpoint's NextOID":           fmt.Sprint(cp.NextOid),
		"Latest checkpoint's NextMultiXactId":   fmt.Sprint(cp.NextMulti),
		"Latest checkpoint's NextMultiOffset":   fmt.Sprint(cp.NextMultiOffset),
		"Latest checkpoint's oldestXID":         fmt.Sprint(cp.OldestXid),
		"Latest checkpoint's oldestXID's DB":    fmt.Sprint(cp.OldestXidDB),
		"Latest checkpoint's oldestActiveXID":   fmt.Sprint(cp.OldestActiveXid),
		"Latest checkpoint's oldestMultiXid":    fmt.Sprint(cp.OldestMulti),
		"Latest checkpoint's oldestMulti's DB":  fmt.Sprint(cp.OldestMultiDB),
		"Latest checkpoint's oldestCommitTsXid": fmt.Sprint(cp.OldestCommitTsXid),
		"Latest checkpoint's newestCommitTsXid": fmt.Sprint(cp.NewestCommitTsXid),
		"Time of latest checkpoint":             ts(cp.Time),
		"Fake LSN counter for unlogged rels":    cf.UnloggedLSN.Short(),
		"Minimum recovery ending location":      cf.MinRecoveryPoint.Short(),
		"Min recovery ending loc's timeline":    fmt.Sprint(cf.MinRecoveryPointTLI),
		"Backup start location":                 cf.BackupStartPoint.Short(),
		"Backup end location":                   cf.BackupEndPoint.Short(),
		"End-of-backup record required":         yesNo[cf.BackupEndRequired],
		"wal_level setting":                     cf.WALLevel.String(),
		"wal_log_hints setting":                 onOff[cf.WALLogHints],
		"max_connections setting":               fmt.Sprint(cf.MaxConnections),
		"max_worker_processes setting":          fmt.Sprint(cf.MaxWorkerProcesses),
		"max_wal_senders setting":               fmt.Sprint(cf.MaxWALSenders),
		"max_prepared_xacts setting":            fmt.Sprint(cf.MaxPreparedXacts),
		"max_locks_per_xact setting":            fmt.Sprint(cf.MaxLocksPerXact),
		"track_commit_timestamp setting":        onOff[cf.TrackCommitTimestamp],
		"Maximum data alignment":                fmt.Sprint(cf.MaxAlign),
		"Database block size":                   fmt.Sprint(cf.Blcksz),
		"Blocks per segment of large relation":  fmt.Sprint(cf.RelSegSize),
		"WAL block size":                        fmt.Sprint(cf.XLogBlcksz),
		"Bytes per WAL segment":                 fmt.Sprint(cf.XLogSegSize),
		"Maximum length of identifiers":         fmt.Sprint(cf.NameDataLen),
		"Maximum columns in an index":           fmt.Sprint(cf.IndexMaxKeys),
		"Maximum size of a TOAST chunk":         fmt.Sprint(cf.ToastMaxChunkSize),
		"Size of a large-object chunk":          fmt.Sprint(cf.LOBlkSize),
		"Float8 argument passing":               map[bool]string{true: "by value", false: "by reference"}[cf.Float8ByVal],
		"Data page checksum version":            fmt.Sprint(cf.DataChecksumVersion),
		"Mock authentication nonce":             hex.EncodeToString(cf.MockAuthenticationNonce[:]),
	}
}

// checkShutdownCheckpointRecord checks that the checkpoint record at
// cf.CheckPoint carries the same CheckPoint as pg_control.
func checkShutdownCheckpointRecord(t *testing.T, c *pgtest.Cluster, cf *ControlFile) {
	t.Helper()
	cp := cf.CheckPointCopy
	d, err := OpenWALDir(os.DirFS(c.WALDir()), DirOptions{Start: cf.CheckPoint})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := d.Next()
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rec.LSN != cf.CheckPoint || rec.Rmgr() != RmgrXLOG || rec.Info()&XLRRmgrInfoMask != 0x00 {
		t.Fatalf("record at %s: rmgr %d info %02X, want a CHECKPOINT_SHUTDOWN", rec.LSN, rec.Rmgr(), rec.Info())
	}
	fromWAL, err := ParseCheckPoint(rec.MainData)
	if err != nil {
		t.Fatal(err)
	}
	if fromWAL != cp {
		t.Errorf("checkpoint record: %+v\npg_control copy: %+v", fromWAL, cp)
	}
	if got := cp.Append(nil); !bytes.Equal(got, rec.MainData) {
		t.Errorf("CheckPoint.Append differs from the record's main data at byte %d", firstDiff(got, rec.MainData))
	}
}

// checkControlFileRewrite changes two fields and writes the file back:
// pg_controldata accepts the CRC and shows the new values, and no other
// byte of raw changed.
func checkControlFileRewrite(t *testing.T, c *pgtest.Cluster, path string, cf *ControlFile, raw []byte) {
	t.Helper()
	cf.State = DBInCrashRecovery
	cf.CheckPointCopy.NextOid += 1000
	writeControlFile(t, path, cf.Bytes())
	pcd := pgControldata(t, c)
	if pcd["Database cluster state"] != "in crash recovery" || pcd["Latest checkpoint's NextOID"] != fmt.Sprint(cf.CheckPointCopy.NextOid) {
		t.Errorf("after the change pg_controldata shows state %q, NextOID %q", pcd["Database cluster state"], pcd["Latest checkpoint's NextOID"])
	}
	// Everything else is as before.
	cf2, err := ReadControlFile(os.DirFS(c.DataDir()))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range cf2.Bytes() {
		inState := i >= cfOffState && i < cfOffState+4
		inOid := i >= cfOffCheckPointCopy+cpOffNextOid && i < cfOffCheckPointCopy+cpOffNextOid+4
		inCRC := i >= ControlFileCRCOffset && i < ControlFileCRCOffset+4
		if b != raw[i] && !inState && !inOid && !inCRC {
			t.Errorf("byte %d changed", i)
		}
	}
}

// pgControldata runs pg_controldata on the cluster and returns its
// "label: value" lines, failing on a CRC warning.
func pgControldata(t *testing.T, c *pgtest.Cluster) map[string]string {
	t.Helper()
	out, err := c.RunBin(context.Background(), "pg_controldata", "-D", c.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("WARNING")) {
		t.Fatalf("pg_controldata warns:\n%s", out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	if _, err := strconv.ParseUint(m["pg_control version number"], 10, 32); err != nil {
		t.Fatalf("pg_controldata output not understood:\n%s", out)
	}
	return m
}

// writeControlFile replaces pg_control's content in place, keeping its owner.
func writeControlFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
