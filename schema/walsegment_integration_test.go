package schema

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestWALSegmentBuilderRealWAL rebuilds the segments of a real cluster
// (1 MiB segments) from its decoded records and compares them with the
// files in pg_wal byte for byte: pgbench, an XLOG_SWITCH, a 100 kB record
// spanning pages, a 2.5 MB record spanning segments (one of them entirely),
// and the shutdown checkpoint. The rebuilt files must read back as the same
// records.
func TestWALSegmentBuilderRealWAL(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{WALSegSizeMB: 1})
	c.CreatePhysicalSlot(t, "keep")
	c.Checkpoint(t)
	startText := c.Query(t, "SELECT checkpoint_lsn FROM pg_control_checkpoint()")[0][0]
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.SwitchWAL(t)
	c.Exec(t, "SELECT pg_logical_emit_message(true, 'pagemill', repeat('a', 100000))")
	c.Pgbench(t, "-t", "100", "-c", "1", "-n")
	c.Exec(t, "SELECT pg_logical_emit_message(false, 'pagemill', repeat('b', 2500000))")
	c.Pgbench(t, "-t", "50", "-c", "1", "-n")
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	start, err := ParseLSN(startText)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := ReadControlFile(os.DirFS(c.DataDir()))
	if err != nil {
		t.Fatal(err)
	}
	segSize := uint32(c.WALSegmentSize())
	tli := cf.CheckPointCopy.ThisTimeLineID

	// Every record from the checkpoint to the end of WAL (the shutdown
	// checkpoint is the last one).
	recs := readWALFrom(t, c.WALDir(), start)
	if len(recs) == 0 || recs[0].LSN != start || recs[len(recs)-1].LSN != cf.CheckPoint {
		t.Fatalf("read %d records from %s; want the first at %s and the last at the shutdown checkpoint %s", len(recs), startText, start, cf.CheckPoint)
	}

	afterSwitch := checkWorkloadCases(t, recs, segSize)

	orig := func(seg uint64) []byte {
		b, err := os.ReadFile(filepath.Join(c.WALDir(), XLogFileName(tli, XLogSegNo(seg), segSize)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		recs []*DecodedRecord
	}{
		{"from-checkpoint", recs},                     // first record in the middle of a page
		{"from-switch-successor", recs[afterSwitch:]}, // first record right after a long header
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			built := rebuildSegments(t, segSize, tli, cf.SystemIdentifier, tc.recs)
			compareRebuilt(t, built, orig, tc.recs)
			rereadRebuilt(t, built, tli, tc.recs)
			checkPgWaldumpReadsRebuilt(t, c, built, tli, segSize, tc.recs)
		})
	}
}

// readWALFrom reads every record of walDir from start to the end of WAL.
func readWALFrom(t *testing.T, walDir string, start LSN) []*DecodedRecord {
	t.Helper()
	d, err := OpenWALDir(os.DirFS(walDir), DirOptions{Start: start})
	if err != nil {
		t.Fatal(err)
	}
	var recs []*DecodedRecord
	for {
		rec, err := d.Next()
		if errors.Is(err, ErrEndOfWAL) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	d.Close()
	return recs
}

// checkWorkloadCases fails unless recs hold an XLOG_SWITCH with a record
// after it, and records spanning pages, segments and a whole segment; it
// returns the index of the first record after the first switch.
func checkWorkloadCases(t *testing.T, recs []*DecodedRecord, segSize uint32) (afterSwitch int) {
	t.Helper()
	var switches, pageSpanning, segSpanning, wholeSeg int
	afterSwitch = -1
	for i, r := range recs {
		if r.Rmgr() == RmgrXLOG && r.Info()&XLRRmgrInfoMask == xlogSwitch {
			switches++
			if afterSwitch < 0 {
				afterSwitch = i + 1
			}
		}
		last := r.LSN + LSN(len(r.Raw)) - 1 // at least the record's last byte
		if r.LSN/XLogBlcksz != last/XLogBlcksz {
			pageSpanning++
		}
		if s, e := r.LSN.SegNo(segSize), (r.EndLSN - 1).SegNo(segSize); s != e && !(r.Rmgr() == RmgrXLOG && r.Info()&XLRRmgrInfoMask == xlogSwitch) {
			segSpanning++
			if e > s+1 {
				wholeSeg++
			}
		}
	}
	t.Logf("%d records %s..%s: %d XLOG_SWITCH, %d span pages, %d span segments, %d cover a whole segment",
		len(recs), recs[0].LSN, recs[len(recs)-1].EndLSN, switches, pageSpanning, segSpanning, wholeSeg)
	if switches == 0 || pageSpanning == 0 || segSpanning == 0 || wholeSeg == 0 || afterSwitch >= len(recs) {
		t.Fatal("the workload did not produce every case")
	}
	return afterSwitch
}

// checkPgWaldumpReadsRebuilt checks that pg_waldump agrees too: it reads
// the rebuilt files to the end.
func checkPgWaldumpReadsRebuilt(t *testing.T, c *pgtest.Cluster, built *rebuiltWAL, tli TimeLineID, segSize uint32, recs []*DecodedRecord) {
	t.Helper()
	dir := t.TempDir()
	for seg, data := range built.segs {
		if err := os.WriteFile(filepath.Join(dir, XLogFileName(tli, XLogSegNo(seg), segSize)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := c.RunBin(t.Context(), "pg_waldump", "-p", dir, "-s", recs[0].LSN.String())
	lines := strings.Count(string(out), "\nrmgr: ") + map[bool]int{true: 1}[bytes.HasPrefix(out, []byte("rmgr: "))]
	if lines != len(recs) || !bytes.Contains(out, []byte("invalid record length")) {
		t.Fatalf("pg_waldump printed %d records of %d; tail:\n%s", lines, len(recs), tailOf(out, 600))
	}
}

func tailOf(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
