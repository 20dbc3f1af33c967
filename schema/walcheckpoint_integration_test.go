package schema

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestShutdownCheckpointStartsWithoutRecovery: a stopped cluster's WAL is
// replaced by one shutdown checkpoint written by WriteShutdownCheckpoint
// past the old end of WAL — in the middle of a page, at a segment
// boundary, and where the record crosses into the next page — and its
// pg_control by SetShutdownCheckpoint with a raised next OID. pg_waldump
// reads the record back; the server starts without redo ("shut down" in
// its log, no "redo starts"), reports the checkpoint and the OID counter,
// keeps its data and takes writes.
func TestShutdownCheckpointStartsWithoutRecovery(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	c.Exec(t, `CREATE TABLE sc_t AS SELECT g FROM generate_series(1, 1000) g`)
	segSize := uint32(c.WALSegmentSize())
	for i, place := range []struct {
		name string
		pos  func(end LSN) LSN
	}{
		{"mid-page", func(end LSN) LSN { return end + 3*XLogBlcksz + 1234 }},
		{"segment boundary", func(end LSN) LSN { return (end/LSN(segSize) + 2) * LSN(segSize) }},
		{"crossing a page", func(end LSN) LSN { return (end/XLogBlcksz+5)*XLogBlcksz - 48 }},
	} {
		t.Run(place.name, func(t *testing.T) {
			c.Exec(t, `INSERT INTO sc_t SELECT g FROM generate_series(1, 100) g`)
			if err := c.Stop(); err != nil {
				t.Fatal(err)
			}
			ctlPath := filepath.Join(c.DataDir(), ControlFilePath)
			cf, err := ReadControlFile(os.DirFS(c.DataDir()))
			if err != nil {
				t.Fatal(err)
			}
			// The old WAL ends after the last shutdown checkpoint.
			after := place.pos(cf.CheckPoint + 200)
			cp := cf.CheckPointCopy
			cp.NextOid += 5000 + uint32(i)
			cp.Time = time.Now().Unix()
			ents, err := os.ReadDir(c.WALDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if pgtest.IsWALSegmentName(e.Name()) {
					if err := os.Remove(filepath.Join(c.WALDir(), e.Name())); err != nil {
						t.Fatal(err)
					}
				}
			}
			tli := cp.ThisTimeLineID
			var files []string
			at, end, err := WriteShutdownCheckpoint(after, segSize, tli, cf.SystemIdentifier, cp, func(seg uint64, data []byte) error {
				name := XLogFileName(tli, XLogSegNo(seg), segSize)
				files = append(files, name)
				return writeAsOwner(filepath.Join(c.WALDir(), name), data)
			})
			if err != nil {
				t.Fatal(err)
			}
			if at < after || at-after > SizeOfXLogLongPHD+8 || end <= at {
				t.Fatalf("checkpoint at %s .. %s for a WAL ending at %s", at, end, after)
			}
			cp.Redo = at
			cf.SetShutdownCheckpoint(at, cp, time.Now())
			if err := writeAsOwner(ctlPath, cf.Bytes()); err != nil {
				t.Fatal(err)
			}
			out, err := c.RunBin(t.Context(), "pg_waldump", "-p", c.WALDir(), "-s", at.String(), "-n", "1")
			if err != nil || !strings.Contains(string(out), "CHECKPOINT_SHUTDOWN redo "+at.Short()) {
				t.Fatalf("pg_waldump of %v at %s: %v\n%s", files, at, err, out)
			}
			logBefore, _ := os.ReadFile(c.LogFile())
			if err := c.Restart(); err != nil {
				t.Fatal(err)
			}
			logAll, _ := os.ReadFile(c.LogFile())
			log := string(logAll[len(logBefore):])
			if strings.Contains(log, "redo starts") || strings.Contains(log, "automatic recovery") || !strings.Contains(log, "database system was shut down at") {
				t.Errorf("server log after the start:\n%s", log)
			}
			row := c.Query(t, "SELECT checkpoint_lsn, next_oid FROM pg_control_checkpoint()")[0]
			if row[0] != at.Short() || row[1] != itoa(cp.NextOid) {
				t.Errorf("pg_control_checkpoint() = %v, want checkpoint %s, next OID %d", row, at, cp.NextOid)
			}
			c.Exec(t, `INSERT INTO sc_t VALUES (-1)`)
			if n := c.Query(t, "SELECT count(*) FROM sc_t")[0][0]; n != itoa(uint32(1000+101*(i+1))) {
				t.Errorf("sc_t has %s rows", n)
			}
			if cur, err := ParseLSN(c.Query(t, "SELECT pg_current_wal_lsn()")[0][0]); err != nil || cur <= end {
				t.Errorf("WAL at %s (%v), the checkpoint ends at %s", cur, err, end)
			}
		})
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// writeAsOwner writes a file owned like its directory (the server's user
// when the test runs as root).
func writeAsOwner(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Chown(path, int(sys.Uid), int(sys.Gid))
}
