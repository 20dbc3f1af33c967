package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// syntheticControlFile returns a valid pg_control image whose every byte,
// padding and the tail after the struct included, is non-trivial, so that
// round trips show that nothing is lost.
func syntheticControlFile(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 15))
	b := make([]byte, PGControlFileSize)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	le := binary.LittleEndian
	le.PutUint32(b[cfOffPgControlVersion:], PGControlVersion)
	le.PutUint64(b[cfOffFloatFormat:], math.Float64bits(FloatFormatValue))
	b[cfOffBackupEndRequired] = 0
	b[cfOffWALLogHints] = 7 // a non-canonical true
	le.PutUint32(b[ControlFileCRCOffset:], crc32.Checksum(b[:ControlFileCRCOffset], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestControlFileRoundTrip(t *testing.T) {
	for seed := range uint64(20) {
		raw := syntheticControlFile(seed)
		c, err := ParseControlFile(raw)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got := c.Bytes(); !bytes.Equal(got, raw) {
			t.Fatalf("seed %d: Bytes() differs from the parsed file at byte %d", seed, firstDiff(got, raw))
		}
		if c.StoredCRC() != binary.LittleEndian.Uint32(raw[ControlFileCRCOffset:]) {
			t.Fatalf("seed %d: StoredCRC %08X", seed, c.StoredCRC())
		}
		if !c.WALLogHints || c.BackupEndRequired {
			t.Fatalf("seed %d: bools parsed as %v %v", seed, c.WALLogHints, c.BackupEndRequired)
		}
		if c.FloatFormat != FloatFormatValue {
			t.Fatalf("seed %d: floatFormat %v", seed, c.FloatFormat)
		}
	}
}

func TestControlFileFields(t *testing.T) {
	raw := syntheticControlFile(99)
	le := binary.LittleEndian
	le.PutUint64(raw[0:], 7300000000000000001)
	le.PutUint32(raw[16:], uint32(DBInProduction))
	le.PutUint64(raw[32:], 0x1_0200_0028)
	le.PutUint64(raw[40:], 0x1_0100_0060)            // checkPointCopy.redo
	le.PutUint64(raw[40+24:], 3<<32|741)             // nextXid
	le.PutUint32(raw[40+32:], 24576)                 // nextOid
	le.PutUint32(raw[172:], uint32(WALLevelLogical)) // wal_level
	le.PutUint32(raw[228:], 16<<20)                  // xlog_seg_size
	le.PutUint32(raw[252:], 1)                       // data_checksum_version
	le.PutUint32(raw[ControlFileCRCOffset:], controlFileCRC(raw))
	c, err := ParseControlFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.SystemIdentifier != 7300000000000000001 || c.State != DBInProduction || c.CheckPoint != 0x1_0200_0028 ||
		c.CheckPointCopy.Redo != 0x1_0100_0060 || c.CheckPointCopy.NextXidEpoch() != 3 || c.CheckPointCopy.NextXidXid() != 741 ||
		c.CheckPointCopy.NextOid != 24576 || c.WALLevel != WALLevelLogical || c.XLogSegSize != 16<<20 || c.DataChecksumVersion != 1 {
		t.Fatalf("fields: %+v", c)
	}
	if c.State.String() != "in production" || c.WALLevel.String() != "logical" || DBState(42).String() != "unrecognized status code" {
		t.Fatalf("names: %q %q", c.State, c.WALLevel)
	}

	// Changing fields rewrites exactly their bytes and the CRC.
	c.State = DBShutdowned
	c.CheckPointCopy.NextOid = 99999
	c.MinRecoveryPoint = 0xAABBCCDD_11223344
	c.WALLogHints = false
	c.BackupEndRequired = true
	out := c.Bytes()
	changed := map[int]bool{}
	for i := range out {
		if out[i] != raw[i] {
			changed[i] = true
		}
	}
	allowed := func(i int) bool {
		switch {
		case i >= 16 && i < 20, i >= 72 && i < 76, i >= 136 && i < 144, i == 176, i == 168,
			i >= ControlFileCRCOffset && i < ControlFileCRCOffset+4:
			return true
		}
		return false
	}
	for i := range changed {
		if !allowed(i) {
			t.Errorf("byte %d changed unexpectedly", i)
		}
	}
	c2, err := ParseControlFile(out)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	if c2.State != DBShutdowned || c2.CheckPointCopy.NextOid != 99999 || c2.MinRecoveryPoint != 0xAABBCCDD_11223344 ||
		c2.WALLogHints || !c2.BackupEndRequired {
		t.Fatalf("re-parsed: %+v", c2)
	}
	if out[176] != 0 || out[168] != 1 {
		t.Fatalf("bools written as %d %d", out[176], out[168])
	}
}

func TestControlFileErrors(t *testing.T) {
	raw := syntheticControlFile(5)
	for _, n := range []int{0, 100, SizeOfControlFileData, PGControlFileSize - 1, PGControlFileSize + 1} {
		b := make([]byte, n)
		copy(b, raw)
		_, err := ParseControlFile(b)
		if !errors.Is(err, ErrBadControlFile) || !strings.Contains(err.Error(), "want 8192") {
			t.Errorf("%d bytes: %v", n, err)
		}
	}

	// A flipped byte anywhere under the CRC fails it; the version field
	// gets its own message.
	for _, off := range []int{0, 17, 40, 100, 209, 255, ControlFileCRCOffset - 1, ControlFileCRCOffset + 2} {
		b := bytes.Clone(raw)
		b[off] ^= 0x20
		_, err := ParseControlFile(b)
		if !errors.Is(err, ErrBadControlFile) || !strings.Contains(err.Error(), "CRC-32C mismatch") {
			t.Errorf("flipped byte %d: %v", off, err)
		}
	}
	// Bytes after the crc field are not covered.
	b := bytes.Clone(raw)
	b[ControlFileCRCOffset+8] ^= 1
	b[PGControlFileSize-1] ^= 1
	if _, err := ParseControlFile(b); err != nil {
		t.Errorf("tail change: %v", err)
	}

	b = bytes.Clone(raw)
	binary.LittleEndian.PutUint32(b[cfOffPgControlVersion:], 1201)
	if _, err := ParseControlFile(b); !errors.Is(err, ErrBadControlFile) || !strings.Contains(err.Error(), "pg_control_version is 1201, want 1300") {
		t.Errorf("version: %v", err)
	}
	binary.BigEndian.PutUint32(b[cfOffPgControlVersion:], PGControlVersion)
	if _, err := ParseControlFile(b); err == nil || !strings.Contains(err.Error(), "byte order") {
		t.Errorf("byte-swapped version: %v", err)
	}
}

func TestCheckPointRoundTrip(t *testing.T) {
	cp := CheckPoint{
		Redo: 0x3_0000_1234, ThisTimeLineID: 2, PrevTimeLineID: 1, FullPageWrites: true,
		NextXid: 1<<32 | 900, NextOid: 16400, NextMulti: 3, NextMultiOffset: 7,
		OldestXid: 716, OldestXidDB: 1, OldestMulti: 1, OldestMultiDB: 5,
		Time: 1700000000, OldestCommitTsXid: 10, NewestCommitTsXid: 20, OldestActiveXid: 899,
	}
	b := cp.Append([]byte{0xEE})
	if len(b) != 1+SizeOfCheckPoint || b[0] != 0xEE {
		t.Fatalf("Append: %d bytes", len(b))
	}
	for _, off := range []int{17, 18, 19, 20, 21, 22, 23, 60, 61, 62, 63, 84, 85, 86, 87} {
		if b[1+off] != 0 {
			t.Errorf("padding byte %d is %d", off, b[1+off])
		}
	}
	got, err := ParseCheckPoint(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	if got != cp {
		t.Fatalf("round trip: %+v, want %+v", got, cp)
	}
	if _, err := ParseCheckPoint(b[1:SizeOfCheckPoint]); err == nil || !strings.Contains(err.Error(), "87 bytes") {
		t.Fatalf("short: %v", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
