package schema

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// FuzzDecodeXactXlog decodes arbitrary bytes as every Transaction record
// layout and describes and routes them as each opcode: nothing may panic;
// a commit or abort that parses without error must be, up to where the
// walk stopped, exactly the bytes its parts re-encode to (so each part is
// read where ParseCommitRecord reads it); PREPARE's header fields and
// arrays must lie at their MAXALIGNed offsets; every array must hold the
// entries present, at most its count, and all of them when there is no
// error; the consumers must agree with each other.
func FuzzDecodeXactXlog(f *testing.F) {
	f.Add(uint8(0x80|0x30), xactCommitFull())
	f.Add(uint8(0xA0), newDescBuf().i64(5).u32(XactXinfoHasRelfilenodes|XactXinfoHasSubxacts|XactXinfoHasDroppedStats|XactXinfoHasOrigin).
		i32(1).u32(9).i32(1).rel(16500, 5, 16384).i32(1).i32(1).u32(5).u32(7).u64(0x10).i64(6).b)
	f.Add(uint8(0x10), xactPrepareData())
	f.Add(uint8(0x50), hxU32s(500, 2, 501, 502))
	f.Add(uint8(0x60), newDescBuf().i32(1).u8(0xFB).pad(3).u32(5).u32(2964).pad(4).b)
	f.Fuzz(func(t *testing.T, info uint8, in []byte) {
		b := xlFuzzBytes(in)
		fuzzXactCommitAbort(t, info, in, b)
		fuzzXactPrepare(t, in, b)
		fuzzXactAssignmentInvals(t, in, b)

		// Every consumer, and their agreement.
		fuzzXactConsumers(t, info, in)
	})
}

// fuzzXactCommitAbort parses in as a commit and as an abort record and
// checks the parts against the bytes.
func fuzzXactCommitAbort(t *testing.T, info uint8, in []byte, b xlFuzzBytes) {
	t.Helper()
	for _, commit := range []bool{true, false} {
		parse := ParseAbortRecord
		if commit {
			parse = ParseCommitRecord
		}
		p, err := parse(info, in)
		if len(in) < SizeOfXactCommit {
			if err == nil {
				t.Fatalf("commit %v of %d bytes accepted", commit, len(in))
			}
			continue
		}
		if uint64(p.XactTime) != b.u64(0) {
			t.Fatalf("commit %v: xact_time %d", commit, p.XactTime)
		}
		xactFuzzArrays(t, err, &p)
		if !commit && (p.Nmsgs != 0 || p.Msgs.Len() != 0) {
			t.Fatalf("abort with invalidations: %+v", p)
		}
		if err == nil && len(p.TwophaseGID) < GIDSize-1 {
			if enc := xactFuzzEncode(info, &p, commit); !bytes.HasPrefix(in, enc) {
				t.Fatalf("commit %v: parts re-encode to\n%x\nnot a prefix of\n%x", commit, enc, in)
			}
		}
	}
}

// fuzzXactPrepare decodes in as a prepare record's header and as the
// whole record and checks where the arrays were found.
func fuzzXactPrepare(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	x, err := DecodeXlXactPrepare(in)
	xlFuzzCheck(t, "xl_xact_prepare", len(in), err, SizeOfXactPrepare, func() bool {
		return x.Magic == b.u32(0) && x.TotalLen == b.u32(4) && x.Xid == b.u32(8) && x.Database == b.u32(12) &&
			uint64(x.PreparedAt) == b.u64(16) && x.Owner == b.u32(24) && uint32(x.Nsubxacts) == b.u32(28) &&
			uint32(x.Ncommitrels) == b.u32(32) && uint32(x.Nabortrels) == b.u32(36) && uint32(x.Ncommitstats) == b.u32(40) &&
			uint32(x.Nabortstats) == b.u32(44) && uint32(x.Ninvalmsgs) == b.u32(48) && x.Initfileinval == (b[52] != 0) &&
			x.Gidlen == b.u16(54) && uint64(x.OriginLSN) == b.u64(56) && uint64(x.OriginTimestamp) == b.u64(64)
	})
	px, p, err := ParsePrepareRecord(in)
	if px != x || (len(in) < SizeOfXactPrepare && err == nil) {
		t.Fatalf("prepare header %+v, decoded alone %+v; err %v", px, x, err)
	}
	if len(in) >= SizeOfXactPrepare {
		xactFuzzArrays(t, err, &p)
		gid := in[SizeOfXactPrepare:min(SizeOfXactPrepare+int(x.Gidlen), len(in))]
		if i := bytes.IndexByte(gid, 0); i >= 0 {
			gid = gid[:i]
		}
		if p.TwophaseGID != string(gid) || p.TwophaseXid != x.Xid || p.XactTime != x.PreparedAt {
			t.Fatalf("prepare: %+v of %+v", p, x)
		}
		off := SizeOfXactPrepare + int(MaxAlign(uint64(x.Gidlen)))
		for _, a := range []struct {
			view []byte
			n    int32
			sz   int
		}{
			{p.Subxacts, x.Nsubxacts, 4},
			{p.Xnodes, x.Ncommitrels, SizeOfRelFileNode},
			{p.Abortnodes, x.Nabortrels, SizeOfRelFileNode},
			{p.Stats, x.Ncommitstats, SizeOfXactStatsItem},
			{p.Abortstats, x.Nabortstats, SizeOfXactStatsItem},
			{p.Msgs, x.Ninvalmsgs, SizeOfSharedInvalMessage},
		} {
			if a.n < 0 {
				break
			}
			if len(a.view) > 0 && &a.view[0] != &in[off] {
				t.Fatalf("prepare array of %d at the wrong offset (want %d)", a.n, off)
			}
			off += int(MaxAlign(uint64(int64(a.n) * int64(a.sz))))
		}
	}
}

// fuzzXactAssignmentInvals checks the assignment and invalidations
// decoders.
func fuzzXactAssignmentInvals(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	as, err := DecodeXlXactAssignment(in)
	xlFuzzCheck(t, "xl_xact_assignment", len(in), err, SizeOfXactAssignment, func() bool {
		return as.Xtop == b.u32(0) && uint32(as.Nsubxacts) == b.u32(4) &&
			xlFuzzArrayOK(as.Xsub.Len(), int64(as.Nsubxacts), len(in)-SizeOfXactAssignment, 4)
	})
	iv, err := DecodeXlXactInvals(in)
	xlFuzzCheck(t, "xl_xact_invals", len(in), err, SizeOfXactInvals, func() bool {
		ok := uint32(iv.Nmsgs) == b.u32(0) && xlFuzzArrayOK(iv.Msgs.Len(), int64(iv.Nmsgs), len(in)-SizeOfXactInvals, SizeOfSharedInvalMessage)
		if k := iv.Msgs.Len() - 1; ok && k >= 0 {
			m := iv.Msgs.At(k)
			o := SizeOfXactInvals + k*SizeOfSharedInvalMessage
			ok = m.ID == int8(b[o]) && m.DbID == b.u32(o+4) && m.ObjID == b.u32(o+8)
		}
		return ok
	})
}

// fuzzXactConsumers runs every consumer on in as a transaction record
// with opcode info and checks that they agree.
func fuzzXactConsumers(t *testing.T, info uint8, in []byte) {
	t.Helper()
	rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(RmgrTransaction), Info: info, Xid: 1000}, MainData: in}
	_ = Describe(rec)
	_ = PagesChanged(nil, rec)
	_ = AuxPages(nil, rec)
	tree, terr := XactTreeOf(rec)
	end, eerr := XactEndOf(rec)
	if (terr == nil) != (eerr == nil) || (tree == nil) != (end == nil) ||
		(tree != nil && (tree.Xid != end.Xid || (tree.Status == XactStatusCommitted) != end.Commit)) {
		t.Fatalf("tree %+v (%v) and end %+v (%v) disagree", tree, terr, end, eerr)
	}
	c, err := RelChangeOf(rec)
	if (err == nil) != (terr == nil) || (c != nil && (tree == nil || len(c.Rels) == 0)) {
		t.Fatalf("relation change %+v (%v) of tree %+v (%v)", c, err, tree, terr)
	}
	if c != nil && !MayChangeRelations(rec) {
		t.Fatalf("relation change %+v, but MayChangeRelations says none", c)
	}
	var xids []uint32
	XidsOf(rec, func(x uint32) { xids = append(xids, x) })
	if tree != nil {
		want := []uint32{rec.Xid()}
		for _, x := range append([]uint32{tree.Xid}, tree.Subxids...) {
			if x >= FirstNormalTransactionID {
				want = append(want, x)
			}
		}
		if !slices.Equal(xids, want) {
			t.Fatalf("xids %v of tree %+v", xids, tree)
		}
	}
	_, _ = ParsePrepare(rec)
	if _, err := ControlEventOf(rec); err != ErrNotControlRecord {
		t.Fatalf("transaction record as a control event: %v", err)
	}
}

// xactFuzzArrays checks that each array of p holds at most its count of
// entries, and all of them when parsing gave no error.
func xactFuzzArrays(t *testing.T, err error, p *XlXactParsedCommit) {
	t.Helper()
	for _, a := range []struct {
		have int
		n    int32
	}{
		{p.Subxacts.Len(), p.Nsubxacts}, {p.Xnodes.Len(), p.Nrels}, {p.Stats.Len(), p.Nstats}, {p.Msgs.Len(), p.Nmsgs},
		{p.Abortnodes.Len(), p.Nabortrels}, {p.Abortstats.Len(), p.Nabortstats},
	} {
		if int64(a.have) > max(int64(a.n), 0) || (err == nil && int64(a.have) != int64(a.n)) {
			t.Fatalf("array of %d entries, count %d, err %v", a.have, a.n, err)
		}
	}
}

// xactFuzzEncode writes the parts of a commit or abort as PostgreSQL's
// XactLogCommitRecord / XactLogAbortRecord would.
func xactFuzzEncode(info uint8, p *XlXactParsedCommit, commit bool) []byte {
	le := binary.LittleEndian
	out := le.AppendUint64(nil, uint64(p.XactTime))
	if info&XLogXactHasInfo != 0 {
		out = le.AppendUint32(out, p.Xinfo)
	}
	array := func(flag uint32, n int32, a []byte) {
		if p.Xinfo&flag != 0 {
			out = append(le.AppendUint32(out, uint32(n)), a...)
		}
	}
	if p.Xinfo&XactXinfoHasDBInfo != 0 {
		out = le.AppendUint32(le.AppendUint32(out, p.DbID), p.TsID)
	}
	array(XactXinfoHasSubxacts, p.Nsubxacts, p.Subxacts)
	array(XactXinfoHasRelfilenodes, p.Nrels, p.Xnodes)
	array(XactXinfoHasDroppedStats, p.Nstats, p.Stats)
	if commit {
		array(XactXinfoHasInvals, p.Nmsgs, p.Msgs)
	}
	if p.Xinfo&XactXinfoHasTwophase != 0 {
		out = le.AppendUint32(out, p.TwophaseXid)
		if p.Xinfo&XactXinfoHasGID != 0 {
			out = append(append(out, p.TwophaseGID...), 0)
		}
	}
	if p.Xinfo&XactXinfoHasOrigin != 0 {
		out = le.AppendUint64(le.AppendUint64(out, uint64(p.OriginLSN)), uint64(p.OriginTimestamp))
	}
	return out
}
