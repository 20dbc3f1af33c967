package schema

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// xactCommitFull is a COMMIT's main data with every part: xinfo, dbinfo,
// two subtransactions, a relation, a dropped statistic, an invalidation,
// the prepared transaction 777 with GID "g1", an origin.
func xactCommitFull() []byte {
	return newDescBuf().i64(1000).
		u32(XactXinfoHasDBInfo|XactXinfoHasSubxacts|XactXinfoHasRelfilenodes|XactXinfoHasInvals|
			XactXinfoHasDroppedStats|XactXinfoHasTwophase|XactXinfoHasGID|XactXinfoHasOrigin|XactCompletionForceSyncCommit).
		u32(5).u32(1663).
		i32(2).u32(801).u32(802).
		i32(1).rel(1663, 5, 16384).
		i32(1).i32(2).u32(5).u32(16384).
		i32(1).u8(0xFE).pad(3).u32(5).u32(16384).pad(4).
		u32(777).cstr("g1").
		u64(0x1A2B).i64(2000).b
}

func TestParseCommitRecord(t *testing.T) {
	b := xactCommitFull()
	p, err := ParseCommitRecord(XLogXactHasInfo, b)
	if err != nil || p.XactTime != 1000 || p.DbID != 5 || p.TsID != 1663 || p.Xinfo&XactCompletionForceSyncCommit == 0 ||
		p.Nsubxacts != 2 || p.Subxacts.Len() != 2 || p.Subxacts.At(1) != 802 ||
		p.Nrels != 1 || p.Xnodes.At(0) != (RelFileNode{1663, 5, 16384}) ||
		p.Nstats != 1 || p.Stats.At(0) != (XlXactStatsItem{Kind: 2, Dboid: 5, Objoid: 16384}) ||
		p.Nmsgs != 1 || p.Msgs.At(0) != (SharedInvalidationMessage{ID: SharedInvalRelcacheID, DbID: 5, ObjID: 16384}) ||
		p.TwophaseXid != 777 || p.TwophaseGID != "g1" || p.OriginLSN != 0x1A2B || p.OriginTimestamp != 2000 {
		t.Fatalf("commit: %+v, %v", p, err)
	}
	// Without XLOG_XACT_HAS_INFO only xact_time is read.
	if p, err := ParseCommitRecord(0, b); err != nil || p.Xinfo != 0 || p.Subxacts.Len() != 0 || p.XactTime != 1000 {
		t.Fatalf("no xinfo: %+v, %v", p, err)
	}
	// ParseAbortRecord does not look for invalidations: their count is
	// read as the twophase xid.
	a, err := ParseAbortRecord(XLogXactHasInfo, b)
	if a.Nmsgs != 0 || a.Msgs.Len() != 0 || a.TwophaseXid != 1 || a.Subxacts.Len() != 2 {
		t.Fatalf("abort of a commit's layout: %+v, %v", a, err)
	}

	// Cut anywhere, the parts before the cut are kept and the error names
	// the struct.
	for n := 0; n < len(b); n++ {
		p, err := ParseCommitRecord(XLogXactHasInfo, b[:n])
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_xact_commit") {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if n >= 8+4+8+4+4 && p.Subxacts.At(0) != 801 {
			t.Fatalf("%d bytes: first subxact lost: %+v", n, p)
		}
	}
	// A truncated array ends the walk; a negative count is refused.
	short := newDescBuf().i64(1).u32(XactXinfoHasSubxacts | XactXinfoHasOrigin).i32(3).u32(1).b
	if p, err := ParseCommitRecord(XLogXactHasInfo, short); !errors.Is(err, ErrCorrupt) || p.Subxacts.Len() != 1 || p.Nsubxacts != 3 {
		t.Fatalf("short subxacts: %+v, %v", p, err)
	}
	neg := newDescBuf().i64(1).u32(XactXinfoHasRelfilenodes).i32(-1).b
	if _, err := ParseCommitRecord(XLogXactHasInfo, neg); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative count: %v", err)
	}
	// The GID is cut to GIDSIZE-1 bytes, as strlcpy does, but skipped whole.
	long := newDescBuf().i64(1).u32(XactXinfoHasTwophase | XactXinfoHasGID | XactXinfoHasOrigin).u32(9).
		cstr(strings.Repeat("x", 300)).u64(7).i64(8).b
	if p, err := ParseCommitRecord(XLogXactHasInfo, long); err != nil || len(p.TwophaseGID) != GIDSize-1 || p.OriginLSN != 7 {
		t.Fatalf("long gid: %+v, %v", p, err)
	}
	if _, err := ParseCommitRecord(XLogXactHasInfo, long[:20]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("gid without NUL: %v", err)
	}
}

// xactPrepareData is a PREPARE's main data: one of each array, GID "gx1".
func xactPrepareData() []byte {
	return newDescBuf().
		u32(TwoPhaseMagic).u32(0).u32(900).u32(5).i64(3000).u32(10).
		i32(1).i32(1).i32(1).i32(1).i32(1).i32(1).
		u8(1).pad(1).u16(4).u64(0xAB).i64(4000).
		cstr("gx1").alignTo(8).
		u32(901).alignTo(8).
		rel(1663, 5, 100).alignTo(8).
		rel(1663, 5, 200).alignTo(8).
		i32(1).u32(5).u32(100).alignTo(8).
		i32(1).u32(5).u32(200).alignTo(8).
		u8(0xFE).pad(3).u32(5).u32(100).pad(4).b
}

func TestParsePrepareRecord(t *testing.T) {
	b := xactPrepareData()
	x, p, err := ParsePrepareRecord(b)
	if err != nil || x.Magic != TwoPhaseMagic || x.Xid != 900 || x.Owner != 10 || !x.Initfileinval || x.Gidlen != 4 ||
		p.TwophaseXid != 900 || p.DbID != 5 || p.XactTime != 3000 || p.OriginLSN != 0xAB || p.OriginTimestamp != 4000 ||
		p.TwophaseGID != "gx1" || p.Subxacts.At(0) != 901 ||
		p.Xnodes.At(0).RelNode != 100 || p.Abortnodes.At(0).RelNode != 200 ||
		p.Stats.At(0).Objoid != 100 || p.Abortstats.At(0).Objoid != 200 ||
		p.Msgs.Len() != 1 || p.Msgs.At(0).ObjID != 100 {
		t.Fatalf("prepare: %+v %+v, %v", x, p, err)
	}
	if _, _, err := ParsePrepareRecord(b[:SizeOfXactPrepare-1]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_xact_prepare") {
		t.Fatalf("short header: %v", err)
	}
	// The last message cut: every other part is there.
	_, p, err = ParsePrepareRecord(b[:len(b)-1])
	if !errors.Is(err, ErrCorrupt) || p.Msgs.Len() != 0 || p.Abortstats.Len() != 1 || p.TwophaseGID != "gx1" {
		t.Fatalf("short messages: %+v, %v", p, err)
	}
}

func TestDecodeXactAssignmentAndInvals(t *testing.T) {
	a, err := DecodeXlXactAssignment(hxU32s(500, 2, 501, 502))
	if err != nil || a.Xtop != 500 || a.Nsubxacts != 2 || a.Xsub.Len() != 2 || a.Xsub.At(1) != 502 {
		t.Fatalf("assignment: %+v, %v", a, err)
	}
	a, err = DecodeXlXactAssignment(hxU32s(500, 3, 501))
	if err != nil || a.Xsub.Len() != 1 {
		t.Fatalf("short assignment: %+v, %v", a, err)
	}
	if _, err := DecodeXlXactAssignment(hxU32s(500)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("assignment header: %v", err)
	}
	iv, err := DecodeXlXactInvals(newDescBuf().i32(2).u8(0xFC).pad(3).u32(7).pad(8).u8(3).pad(15).b)
	if err != nil || iv.Nmsgs != 2 || iv.Msgs.Len() != 2 || iv.Msgs.At(0) != (SharedInvalidationMessage{ID: SharedInvalRelmapID, DbID: 7}) || iv.Msgs.At(1).ID != 3 {
		t.Fatalf("invals: %+v, %v", iv, err)
	}
	if _, err := DecodeXlXactInvals([]byte{1, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("invals header: %v", err)
	}
}

// TestXactEndConsumers: the pg_xact pages, the relation drops, the
// transaction tree and the end time of one COMMIT_PREPARED come from the
// same decoding; a malformed record is refused by each, naming its LSN.
func TestXactEndConsumers(t *testing.T) {
	rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(RmgrTransaction), Info: XLogXactCommitPrepared | XLogXactHasInfo, Xid: 3}, MainData: xactCommitFull(), LSN: 0x5000}
	tree, err := XactTreeOf(rec)
	if err != nil || tree.Xid != 777 || tree.Status != XactStatusCommitted || !reflect.DeepEqual(tree.Subxids, []uint32{801, 802}) {
		t.Fatalf("tree: %+v, %v", tree, err)
	}
	end, err := XactEndOf(rec)
	if err != nil || *end != (XactEnd{Commit: true, Time: 1000, Prepared: true, Xid: 777}) {
		t.Fatalf("end: %+v, %v", end, err)
	}
	c, err := RelChangeOf(rec)
	if err != nil || c.Kind != RelDrop || !reflect.DeepEqual(c.Rels, []RelFileNode{{1663, 5, 16384}}) {
		t.Fatalf("rel change: %+v, %v", c, err)
	}
	if !MayChangeRelations(rec) {
		t.Fatal("MayChangeRelations: false for a commit dropping a relation")
	}
	noInfo := *rec
	noInfo.Header.Info = XLogXactCommit
	if MayChangeRelations(&noInfo) {
		t.Fatal("MayChangeRelations: true for a commit without xl_xact_xinfo")
	}
	if pages := AuxPages(nil, rec); len(pages) != 1 || pages[0] != SlruTag(AuxRelXact, 0) {
		t.Fatalf("aux pages: %v", pages)
	}
	var xids []uint32
	XidsOf(rec, func(x uint32) { xids = append(xids, x) })
	if !reflect.DeepEqual(xids, []uint32{3, 777, 801, 802}) {
		t.Fatalf("xids: %v", xids)
	}

	rec.MainData = rec.MainData[:30]
	if _, err := XactTreeOf(rec); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "0/00005000") {
		t.Fatalf("short tree: %v", err)
	}
	if _, err := XactEndOf(rec); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short end: %v", err)
	}
	if _, err := RelChangeOf(rec); err == nil || !strings.Contains(err.Error(), "0/00005000") {
		t.Fatalf("short rel change: %v", err)
	}
	// COMMIT_PREPARED without its xl_xact_twophase.
	rec.MainData = newDescBuf().i64(1).b
	if _, err := XactTreeOf(rec); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit prepared without xid: %v", err)
	}
	// Other opcodes end nothing.
	rec.Header.Info = XLogXactAssignment
	if tree, err := XactTreeOf(rec); tree != nil || err != nil {
		t.Fatalf("assignment as a tree: %+v, %v", tree, err)
	}
}
