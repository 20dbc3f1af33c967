package redo

import (
	"encoding/binary"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

func le32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// TestAuxRedo: commit and abort records set pg_xact status bits of the
// top-level transaction and its subtransactions (on other pages too);
// zero-page records create zeroed pages; a multixact whose offsets and
// members cross page boundaries is written where multixact.c puts it; a
// relation map is replaced whole.
func TestAuxRedo(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	apply := func(spec schema.RecordSpec) {
		t.Helper()
		rec := assemble(t, spec, 0x9000)
		if _, err := e.Apply(rec, pages); err != nil {
			t.Fatalf("%s: %v", schema.RecordTypeName(spec.Rmgr, spec.Info), err)
		}
	}
	get := func(tag schema.BufferTag) schema.Page {
		t.Helper()
		p, ok := pages.Get(tag)
		if !ok {
			t.Fatalf("%s: no page", tag)
		}
		return p
	}
	status := func(xid uint32) byte {
		p := get(schema.SlruTag(schema.AuxRelXact, xid/schema.ClogXactsPerPage))
		i := xid % schema.ClogXactsPerPage
		return p[i/4] >> ((i % 4) * 2) & 3
	}
	// COMMIT of xid 5 with subtransactions 6 and 40000 (next page):
	// xl_xact_commit xact_time, xinfo (XACT_XINFO_HAS_SUBXACTS), then
	// nsubxacts and the xids; info XLOG_XACT_HAS_INFO.
	commit := append(make([]byte, 8), le32(0x02, 2, 6, 40000)...)
	apply(schema.RecordSpec{Xid: 5, Rmgr: schema.RmgrTransaction, Info: 0x80, MainData: commit})
	// ABORT of xid 7.
	apply(schema.RecordSpec{Xid: 7, Rmgr: schema.RmgrTransaction, Info: 0x20, MainData: make([]byte, 8)})
	for xid, want := range map[uint32]byte{5: 1, 6: 1, 40000: 1, 7: 2, 8: 0} {
		if got := status(xid); got != want {
			t.Errorf("xid %d: status %d, want %d", xid, got, want)
		}
	}
	// CLOG ZEROPAGE 1 wipes page 1.
	apply(schema.RecordSpec{Rmgr: schema.RmgrCLOG, Info: 0x00, MainData: le32(1)})
	if got := status(40000); got != 0 {
		t.Errorf("after ZEROPAGE 1: xid 40000 status %d", got)
	}
	// Multixact 2047 (the last of offsets page 0) at member offset 1635
	// (the last of members page 0) with two members.
	create := append(le32(2047, 1635, 2), le32(100, 1, 101, 5)...)
	apply(schema.RecordSpec{Rmgr: schema.RmgrMultiXact, Info: 0x20, MainData: create})
	off0 := get(schema.SlruTag(schema.AuxRelMultiXactOffsets, 0))
	off1 := get(schema.SlruTag(schema.AuxRelMultiXactOffsets, 1))
	if got := binary.LittleEndian.Uint32(off0[4*2047:]); got != 1635 {
		t.Errorf("offset of multixact 2047: %d", got)
	}
	if got := binary.LittleEndian.Uint32(off1[0:]); got != 1637 {
		t.Errorf("offset of multixact 2048 (the next): %d", got)
	}
	for i, m := range []struct {
		off, xid, status uint32
	}{{1635, 100, 1}, {1636, 101, 5}} {
		p := get(schema.SlruTag(schema.AuxRelMultiXactMembers, m.off/schema.MultiXactMembersPerPage))
		fo, shift, xo := schema.MultiXactMemberOffsets(m.off)
		if got := binary.LittleEndian.Uint32(p[xo:]); got != m.xid {
			t.Errorf("member %d: xid %d", i, got)
		}
		if got := binary.LittleEndian.Uint32(p[fo:]) >> shift & 0xFF; got != m.status {
			t.Errorf("member %d: status %d", i, got)
		}
	}
	// Members page 1 starts a new group: offset 1636's flags at 0, xid at 4.
	if fo, shift, xo := schema.MultiXactMemberOffsets(1636); fo != 0 || shift != 0 || xo != 4 {
		t.Errorf("member offset 1636 at flags %d shift %d xid %d", fo, shift, xo)
	}
	// RELMAP UPDATE of database 5 in pg_default.
	mapData := make([]byte, schema.RelMapFileSize)
	for i := range mapData {
		mapData[i] = byte(i)
	}
	apply(schema.RecordSpec{Rmgr: schema.RmgrRelMap, Info: 0x00, MainData: append(le32(5, 1663, schema.RelMapFileSize), mapData...)})
	if got := get(schema.RelMapTag(1663, 5)); string(got[:schema.RelMapFileSize]) != string(mapData) {
		t.Errorf("relation map not replaced")
	}
}
