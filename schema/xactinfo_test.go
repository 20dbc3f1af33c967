package schema

import (
	"encoding/binary"
	"testing"
	"time"
)

func decodeSpec(t *testing.T, spec RecordSpec) *DecodedRecord {
	t.Helper()
	raw := AssembleRecord(spec)
	binary.LittleEndian.PutUint32(raw[20:], RecordCRC(raw))
	rec, err := DecodeRecord(raw, 0x1000, 0x1000+LSN(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestXactEndAndXids: the commit time and the transaction ids of commit,
// abort, commit-prepared and assignment records; ids below the first
// normal one are left out.
func TestXactEndAndXids(t *testing.T) {
	at := TimestampTzOf(time.Date(2026, 12, 6, 14, 3, 0, 123456000, time.UTC))
	if got := at.Time(); !got.Equal(time.Date(2026, 12, 6, 14, 3, 0, 123456000, time.UTC)) {
		t.Fatalf("TimestampTz round trip: %s", got)
	}
	// COMMIT with xinfo: subxacts (two) and twophase (prepared xid 900).
	d := binary.LittleEndian.AppendUint64(nil, uint64(at))
	d = binary.LittleEndian.AppendUint32(d, XactXinfoHasSubxacts|XactXinfoHasTwophase)
	d = binary.LittleEndian.AppendUint32(d, 2)
	d = binary.LittleEndian.AppendUint32(d, 901)
	d = binary.LittleEndian.AppendUint32(d, 902)
	d = binary.LittleEndian.AppendUint32(d, 900)
	rec := decodeSpec(t, RecordSpec{Xid: 0, Rmgr: RmgrTransaction, Info: XLogXactCommitPrepared | XLogXactHasInfo, MainData: d})
	e, err := XactEndOf(rec)
	if err != nil || e == nil || !e.Commit || !e.Prepared || e.Xid != 900 || e.Time != at {
		t.Fatalf("commit prepared: %+v %v", e, err)
	}
	var xids []uint32
	XidsOf(rec, func(x uint32) { xids = append(xids, x) })
	if len(xids) != 3 || xids[0] != 900 || xids[1] != 901 || xids[2] != 902 {
		t.Errorf("xids of the commit: %v", xids)
	}
	abort := decodeSpec(t, RecordSpec{Xid: 777, Rmgr: RmgrTransaction, Info: XLogXactAbort, MainData: binary.LittleEndian.AppendUint64(nil, uint64(at+5))})
	if e, err := XactEndOf(abort); err != nil || e == nil || e.Commit || e.Prepared || e.Xid != 777 || e.Time != at+5 {
		t.Errorf("abort: %+v %v", e, err)
	}
	asg := binary.LittleEndian.AppendUint32(nil, 1000)
	asg = binary.LittleEndian.AppendUint32(asg, 2)
	asg = binary.LittleEndian.AppendUint32(asg, 1001)
	asg = binary.LittleEndian.AppendUint32(asg, 1002)
	xids = nil
	XidsOf(decodeSpec(t, RecordSpec{Xid: 2, Rmgr: RmgrTransaction, Info: XLogXactAssignment, MainData: asg}), func(x uint32) { xids = append(xids, x) })
	if len(xids) != 3 || xids[0] != 1000 || xids[2] != 1002 {
		t.Errorf("xids of the assignment (xl_xid 2 left out): %v", xids)
	}
	if e, err := XactEndOf(decodeSpec(t, RecordSpec{Rmgr: RmgrTransaction, Info: XLogXactCommit, MainData: []byte{1, 2}})); err == nil {
		t.Errorf("a truncated commit: %+v, no error", e)
	}
	if !XidPrecedes(0xFFFFFFF0, 5) || XidPrecedes(5, 0xFFFFFFF0) {
		t.Error("XidPrecedes across the wraparound")
	}
	if got := FullXidNear(5, 1<<32|0xFFFFFFF0); got != 2<<32|5 {
		t.Errorf("FullXidNear past the wraparound: %x", got)
	}
	if got := FullXidNear(0xFFFFFFF0, 2<<32|5); got != 1<<32|0xFFFFFFF0 {
		t.Errorf("FullXidNear before the wraparound: %x", got)
	}
}

// TestTwoPhaseState: a PREPARE record's data is the state file without
// its CRC; the file reads back; a damaged CRC or total_len is refused.
func TestTwoPhaseState(t *testing.T) {
	gid := "p1"
	data := make([]byte, SizeOfXactPrepare, 256)
	le := binary.LittleEndian
	le.PutUint32(data[0:], TwoPhaseMagic)
	le.PutUint32(data[8:], 4242)                // xid
	le.PutUint64(data[16:], 12345)              // prepared_at
	le.PutUint32(data[28:], 1)                  // nsubxacts
	le.PutUint16(data[54:], uint16(len(gid)+1)) // gidlen
	data = append(data, append([]byte(gid), 0)...)
	for len(data)%8 != 0 {
		data = append(data, 0)
	}
	data = le.AppendUint32(data, 4243) // the subxact
	data = append(data, 0, 0, 0, 0)
	data = append(data, make([]byte, 8)...) // an end record
	le.PutUint32(data[4:], uint32(len(data)+4))
	rec := decodeSpec(t, RecordSpec{Xid: 4242, Rmgr: RmgrTransaction, Info: XLogXactPrepare, MainData: data})
	p, err := ParsePrepare(rec)
	if err != nil || p == nil || p.Xid != 4242 || p.GID != gid || p.PreparedAt != 12345 || len(p.Subxids) != 1 || p.Subxids[0] != 4243 {
		t.Fatalf("PREPARE: %+v %v", p, err)
	}
	file := p.TwoPhaseFile()
	back, err := ParseTwoPhaseState(file, true)
	if err != nil || back.Xid != 4242 || TwoPhaseFileName(back.Xid) != "00001092" {
		t.Fatalf("state file: %+v %v", back, err)
	}
	file[10] ^= 1
	if _, err := ParseTwoPhaseState(file, true); err == nil {
		t.Error("a damaged state file was accepted")
	}
	le.PutUint32(data[4:], 7)
	if _, err := ParseTwoPhaseState(data, false); err == nil {
		t.Error("a wrong total_len was accepted")
	}
}

// TestControlEvents: NEXTOID, multixact create and truncate, CLOG
// truncate and parameter change records give their events, which survive
// Encode/Decode; other records give ErrNotControlRecord.
func TestControlEvents(t *testing.T) {
	le := binary.LittleEndian
	mc := le.AppendUint32(nil, 41)       // mid
	mc = le.AppendUint32(mc, 100)        // moff
	mc = le.AppendUint32(mc, 2)          // nmembers
	mc = append(mc, make([]byte, 16)...) // members
	mt := le.AppendUint32(nil, 5)        // oldestMultiDB
	mt = le.AppendUint32(mt, 1)          // startTruncOff
	mt = le.AppendUint32(mt, 30)         // endTruncOff
	mt = append(mt, make([]byte, 8)...)  // member offsets
	ct := le.AppendUint32(nil, 3)        // pageno
	ct = le.AppendUint32(ct, 98304)      // oldestXact
	ct = le.AppendUint32(ct, 13)         // oldestXactDb
	params := &Parameters{MaxConnections: 100, MaxWorkerProcesses: 8, MaxWALSenders: 10, MaxPreparedXacts: 5, MaxLocksPerXact: 64, WALLevel: WALLevelLogical, WALLogHints: true}
	for _, c := range []struct {
		spec RecordSpec
		want ControlEvent
	}{
		{RecordSpec{Rmgr: RmgrXLOG, Info: XLogNextOid, MainData: le.AppendUint32(nil, 24576)}, ControlEvent{Kind: EventNextOID, A: 24576}},
		{RecordSpec{Rmgr: RmgrMultiXact, Info: XLogMultixactCreateID, MainData: mc}, ControlEvent{Kind: EventMultiXact, A: 42, B: 102}},
		{RecordSpec{Rmgr: RmgrMultiXact, Info: XLogMultixactTruncateID, MainData: mt}, ControlEvent{Kind: EventMultiXactTruncate, A: 30, B: 5}},
		{RecordSpec{Rmgr: RmgrCLOG, Info: ClogTruncate, MainData: ct}, ControlEvent{Kind: EventClogTruncate, A: 98304, B: 13}},
		{RecordSpec{Rmgr: RmgrXLOG, Info: XLogFPWChange, MainData: []byte{1}}, ControlEvent{Kind: EventFullPageWrites, A: 1}},
	} {
		e, err := ControlEventOf(decodeSpec(t, c.spec))
		if err != nil || *e != c.want {
			t.Errorf("%s: %+v %v, want %+v", RecordTypeName(c.spec.Rmgr, c.spec.Info), e, err, c.want)
			continue
		}
		back, err := DecodeControlEvent(e.Encode())
		if err != nil || *back != c.want {
			t.Errorf("%s encoded and decoded: %+v %v", RecordTypeName(c.spec.Rmgr, c.spec.Info), back, err)
		}
	}
	e, err := ControlEventOf(decodeSpec(t, RecordSpec{Rmgr: RmgrXLOG, Info: XLogParameterChange, MainData: params.Bytes()}))
	if err != nil || e.Kind != EventParameters || *e.Params != *params {
		t.Errorf("parameter change: %+v %v", e, err)
	} else if back, err := DecodeControlEvent(e.Encode()); err != nil || *back.Params != *params {
		t.Errorf("parameter change encoded and decoded: %+v %v", back, err)
	}
	if _, err := ControlEventOf(decodeSpec(t, RecordSpec{Rmgr: RmgrXLOG, Info: 0x20})); err != ErrNotControlRecord {
		t.Errorf("XLOG NOOP: %v", err)
	}
}
