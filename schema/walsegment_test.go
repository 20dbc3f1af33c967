package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rebuiltWAL is the output of a WALSegmentBuilder: segments by number.
type rebuiltWAL struct {
	segSize uint32
	segs    map[uint64][]byte
	order   []uint64
}

// rebuildSegments feeds recs to a new builder and collects what it emits,
// checking that segments come once each, in increasing order.
func rebuildSegments(t testing.TB, segSize uint32, tli TimeLineID, sysID uint64, recs []*DecodedRecord) *rebuiltWAL {
	t.Helper()
	out := &rebuiltWAL{segSize: segSize, segs: map[uint64][]byte{}}
	b, err := NewWALSegmentBuilder(segSize, tli, sysID, func(segNo uint64, data []byte) error {
		if len(data) != int(segSize) {
			t.Errorf("segment %d emitted with %d bytes", segNo, len(data))
		}
		if n := len(out.order); n > 0 && segNo <= out.order[n-1] {
			t.Errorf("segment %d emitted after segment %d", segNo, out.order[n-1])
		}
		out.segs[segNo] = bytes.Clone(data)
		out.order = append(out.order, segNo)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := b.Add(r.LSN, r.Raw); err != nil {
			t.Fatal(err)
		}
		if b.EndLSN() != r.EndLSN {
			t.Fatalf("record at %s: builder EndLSN %s, reader's %s", r.LSN, b.EndLSN(), r.EndLSN)
		}
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if first, last := recs[0].LSN.SegNo(segSize), (recs[len(recs)-1].EndLSN - 1).SegNo(segSize); len(out.order) != int(last-first)+1 {
		t.Fatalf("emitted segments %v, want %d..%d", out.order, first, last)
	}
	return out
}

// compareRebuilt checks the rebuilt segments against the original WAL
// (orig returns a segment's original bytes) from the first record's page to
// the end of the last record, ignoring XLP_BKP_REMOVABLE. On the first
// record's page, when something precedes the record, the builder's
// xlp_rem_len covers all of it (the original is at most that) and those
// bytes are zero.
func compareRebuilt(t testing.TB, w *rebuiltWAL, orig func(seg uint64) []byte, recs []*DecodedRecord) {
	t.Helper()
	segSize := w.segSize
	first, last := recs[0], recs[len(recs)-1]
	for _, seg := range w.order {
		got, want := bytes.Clone(w.segs[seg]), bytes.Clone(orig(seg))
		if len(want) != int(segSize) {
			t.Fatalf("original segment %d has %d bytes", seg, len(want))
		}
		// Mask XLP_BKP_REMOVABLE on every page.
		for p := 0; p < int(segSize); p += XLogBlcksz {
			got[p+2] &^= XLPBkpRemovable
			want[p+2] &^= XLPBkpRemovable
		}
		lo, hi := uint32(0), segSize
		if seg == uint64(first.LSN.SegNo(segSize)) {
			page := uint32(first.LSN.SegOffset(segSize)) &^ (XLogBlcksz - 1)
			if page > 0 {
				// Page 0 holds just the long header.
				checkHeaderFields(t, seg, 0, got, want)
				if info := binary.LittleEndian.Uint16(got[2:]); info != XLPLongHeader {
					t.Errorf("segment %d page 0: info %04X, want only XLP_LONG_HEADER", seg, info)
				}
				if !AllZero(got[SizeOfXLogLongPHD:page]) {
					t.Errorf("segment %d: pages before the first record are not zero", seg)
				}
			}
			checkHeaderFields(t, seg, page, got, want)
			hs := uint32(SizeOfXLogShortPHD)
			if page == 0 {
				hs = SizeOfXLogLongPHD
			}
			off := first.LSN.SegOffset(segSize)
			gotRem, wantRem := binary.LittleEndian.Uint32(got[page+16:]), binary.LittleEndian.Uint32(want[page+16:])
			gotInfo, wantInfo := binary.LittleEndian.Uint16(got[page+2:]), binary.LittleEndian.Uint16(want[page+2:])
			if off == page+hs {
				if gotRem != wantRem || gotInfo != wantInfo {
					t.Errorf("first record's page: rem_len %d info %04X, want %d %04X", gotRem, gotInfo, wantRem, wantInfo)
				}
			} else if gotRem != off-page-hs || wantRem > gotRem || gotInfo != wantInfo|XLPFirstIsContRecord {
				t.Errorf("first record's page: rem_len %d info %04X, original %d %04X, gap %d", gotRem, gotInfo, wantRem, wantInfo, off-page-hs)
			}
			lo = off
		}
		if seg == uint64(last.EndLSN.SegNo(segSize)) {
			hi = last.EndLSN.SegOffset(segSize)
			if !AllZero(got[hi:]) {
				t.Errorf("segment %d: not zero after the last record's end", seg)
			}
		}
		if !bytes.Equal(got[lo:hi], want[lo:hi]) {
			i := int(lo) + firstDiff(got[lo:hi], want[lo:hi])
			t.Fatalf("segment %d (%s) differs at offset %d (LSN %s): built %02X, original %02X",
				seg, XLogFileName(1, XLogSegNo(seg), segSize), i, SegmentStart(XLogSegNo(seg), segSize)+LSN(i), got[i], want[i])
		}
	}
}

// checkHeaderFields compares a page header except xlp_info and xlp_rem_len.
func checkHeaderFields(t testing.TB, seg uint64, page uint32, got, want []byte) {
	t.Helper()
	g, _ := ParseXLogPageHeader(got[page:])
	w, _ := ParseXLogPageHeader(want[page:])
	g.Info, w.Info, g.RemLen, w.RemLen = 0, 0, 0, 0
	if g != w {
		t.Errorf("segment %d page at %d: header %+v, original %+v", seg, page, g, w)
	}
}

// rereadRebuilt writes the segments to a directory and reads them back
// with the schema reader from recs[0], expecting exactly recs.
func rereadRebuilt(t testing.TB, w *rebuiltWAL, tli TimeLineID, recs []*DecodedRecord) {
	t.Helper()
	dir := t.TempDir()
	for seg, data := range w.segs {
		if err := os.WriteFile(filepath.Join(dir, XLogFileName(tli, XLogSegNo(seg), w.segSize)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := OpenWALDir(os.DirFS(dir), DirOptions{Start: recs[0].LSN})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := 0; ; i++ {
		rec, err := d.Next()
		if err != nil {
			if i != len(recs) || !errors.Is(err, ErrEndOfWAL) {
				t.Fatalf("reading rebuilt WAL after %d of %d records: %v", i, len(recs), err)
			}
			return
		}
		if i >= len(recs) {
			t.Fatalf("rebuilt WAL has an extra record at %s", rec.LSN)
		}
		if rec.LSN != recs[i].LSN || rec.EndLSN != recs[i].EndLSN || !bytes.Equal(rec.Raw, recs[i].Raw) {
			t.Fatalf("rebuilt record %d at %s..%s, want %s..%s (raw equal %v)", i, rec.LSN, rec.EndLSN, recs[i].LSN, recs[i].EndLSN, bytes.Equal(rec.Raw, recs[i].Raw))
		}
	}
}

// readStream decodes every record of a WALWriter stream.
func readStream(t testing.TB, w *WALWriter, start LSN) []*DecodedRecord {
	t.Helper()
	r, err := NewStreamReader(ReaderOptions{StartLSN: start})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(t, r, w.Bytes(), func() int { return 1 << 20 })
	if !errors.Is(err, ErrNeedMoreData) {
		t.Fatalf("after %d records: %v", len(recs), err)
	}
	return recs
}

func TestWALSegmentBuilderSynthetic(t *testing.T) {
	w, _ := buildStream(t)
	base := SegmentStart(3, testSegSize)
	recs := readStream(t, w, base)
	orig := func(seg uint64) []byte {
		b := make([]byte, testSegSize)
		off := int64(SegmentStart(XLogSegNo(seg), testSegSize) - base)
		if off < int64(len(w.Bytes())) {
			copy(b, w.Bytes()[off:])
		}
		return b
	}
	var spansSeg, hasSwitch bool
	for _, r := range recs {
		spansSeg = spansSeg || r.LSN.SegNo(testSegSize) != (r.EndLSN-1).SegNo(testSegSize)
		hasSwitch = hasSwitch || (r.Rmgr() == RmgrXLOG && r.Info()&XLRRmgrInfoMask == xlogSwitch)
	}
	if !spansSeg || !hasSwitch {
		t.Fatalf("stream lacks a segment-spanning record (%v) or a switch (%v)", spansSeg, hasSwitch)
	}
	// From the very first record, from records in the middle of pages, and
	// from the record after the switch.
	starts := []int{0, 1, 17, 150, 151, 152}
	for i := 1; i < len(recs); i++ {
		if recs[i-1].Rmgr() == RmgrXLOG && recs[i-1].Info()&XLRRmgrInfoMask == xlogSwitch {
			starts = append(starts, i-1, i)
		}
	}
	for _, s := range starts {
		sub := recs[s:]
		built := rebuildSegments(t, testSegSize, 1, 7711783778192921358, sub)
		compareRebuilt(t, built, orig, sub)
		rereadRebuilt(t, built, 1, sub)
	}
}

func TestWALSegmentBuilderSwitchTail(t *testing.T) {
	w, err := NewWALWriter(SegmentStart(2, testSegSize), testSegSize, 1, 42)
	if err != nil {
		t.Fatal(err)
	}
	w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrTransaction, MainData: make([]byte, 30000)}))
	w.Switch()
	w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrTransaction, MainData: make([]byte, 8)}))
	recs := readStream(t, w, SegmentStart(2, testSegSize))
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	built := rebuildSegments(t, testSegSize, 1, 42, recs)
	seg := built.segs[2]
	sw := recs[1]
	swEnd := int(sw.LSN.SegOffset(testSegSize)) + SizeOfXLogRecord
	for p := 0; p < swEnd; p += XLogBlcksz {
		h, _ := ParseXLogPageHeader(seg[p:])
		if h.Magic != XLogPageMagic || h.PageAddr != SegmentStart(2, testSegSize)+LSN(p) || h.TLI != 1 {
			t.Fatalf("page %d: header %+v", p, h)
		}
	}
	if !AllZero(seg[swEnd:]) {
		t.Fatal("the segment is not zero after the XLOG_SWITCH record")
	}
	if !bytes.Equal(seg, w.Bytes()[:testSegSize]) {
		t.Fatalf("switch segment differs from WALWriter's at byte %d", firstDiff(seg, w.Bytes()))
	}
	rereadRebuilt(t, built, 1, recs)

	// A switch as the last record: Finish emits its segment complete.
	built = rebuildSegments(t, testSegSize, 1, 42, recs[:2])
	if len(built.order) != 1 || !bytes.Equal(built.segs[2], seg) {
		t.Fatalf("segments %v differ from the full run's", built.order)
	}
}

func TestWALSegmentBuilderErrors(t *testing.T) {
	w, _ := buildStream(t)
	recs := readStream(t, w, SegmentStart(3, testSegSize))
	newB := func(emit func(uint64, []byte) error) *WALSegmentBuilder {
		if emit == nil {
			emit = func(uint64, []byte) error { return nil }
		}
		b, err := NewWALSegmentBuilder(testSegSize, 1, 1, emit)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wantErr := func(err error, parts ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want %q", parts)
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not mention %q", err, p)
			}
		}
	}
	if _, err := NewWALSegmentBuilder(3<<20, 1, 1, func(uint64, []byte) error { return nil }); err == nil {
		t.Fatal("segment size 3 MiB accepted")
	}
	if _, err := NewWALSegmentBuilder(testSegSize, 1, 1, nil); err == nil {
		t.Fatal("nil emit accepted")
	}

	r5, r6 := recs[5], recs[6]
	b := newB(nil)
	wantErr(b.Add(r5.LSN+4, r5.Raw), (r5.LSN + 4).String(), "not MAXALIGNed")
	page := LSN(SegmentStart(3, testSegSize) + 2*XLogBlcksz)
	wantErr(b.Add(page+16, r5.Raw), (page + 16).String(), "inside the 24-byte header")
	wantErr(b.Add(SegmentStart(3, testSegSize)+32, r5.Raw), "inside the 40-byte header")
	wantErr(b.Add(r5.LSN, r5.Raw[:len(r5.Raw)-1]), r5.LSN.String(), "xl_tot_len")
	wantErr(b.Add(r5.LSN, r5.Raw[:10]), r5.LSN.String(), "shorter than a record header")
	bad := bytes.Clone(r5.Raw)
	bad[len(bad)-1] ^= 1
	wantErr(b.Add(r5.LSN, bad), r5.LSN.String(), "checksum")

	if err := b.Add(r5.LSN, r5.Raw); err != nil {
		t.Fatal(err)
	}
	wantErr(b.Add(r5.LSN, r5.Raw), r5.LSN.String(), "overlaps the previous record")
	wantErr(b.Add(r6.LSN-8, r6.Raw), "overlaps")
	wantErr(b.Add(recs[7].LSN, recs[7].Raw), recs[7].LSN.String(), "gap", "must start at "+r6.LSN.String())
	wrongPrev := bytes.Clone(r6.Raw)
	binary.LittleEndian.PutUint64(wrongPrev[8:], uint64(recs[4].LSN))
	binary.LittleEndian.PutUint32(wrongPrev[20:], RecordCRC(wrongPrev))
	wantErr(b.Add(r6.LSN, wrongPrev), "xl_prev "+recs[4].LSN.String())
	// Rejected records leave the builder usable.
	if err := b.Add(r6.LSN, r6.Raw); err != nil {
		t.Fatal(err)
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	wantErr(b.Add(recs[7].LSN, recs[7].Raw), "after Finish")
	wantErr(b.Finish(), "twice")

	// Nothing added: nothing emitted.
	b = newB(func(uint64, []byte) error { t.Fatal("emit called"); return nil })
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}

	// An emit error stops the builder.
	b = newB(func(uint64, []byte) error { return io.ErrShortWrite })
	var err error
	for _, r := range recs {
		if err = b.Add(r.LSN, r.Raw); err != nil {
			break
		}
	}
	if !errors.Is(err, io.ErrShortWrite) || !strings.Contains(err.Error(), XLogFileName(1, 3, testSegSize)) {
		t.Fatalf("emit error: %v", err)
	}
	if err := b.Finish(); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("Finish after emit error: %v", err)
	}

	// A record in the dead tail of an XLOG_SWITCH.
	var sw int
	for i, r := range recs {
		if r.Rmgr() == RmgrXLOG && r.Info()&XLRRmgrInfoMask == xlogSwitch {
			sw = i
		}
	}
	b = newB(nil)
	if err := b.Add(recs[sw].LSN, recs[sw].Raw); err != nil {
		t.Fatal(err)
	}
	tail := LSN(MaxAlign(uint64(recs[sw].LSN) + uint64(len(recs[sw].Raw)) + 64))
	wantErr(b.Add(tail, recs[sw+1].Raw), tail.String(), "overlaps")
}

// TestWALSegmentBuilderSegmentEnd places a record that ends exactly at (or
// a few bytes before) a segment's end, so the next one starts after the
// next segment's long header.
func TestWALSegmentBuilderSegmentEnd(t *testing.T) {
	for _, short := range []int{0, 3, 8} {
		base := SegmentStart(4, testSegSize)
		w, err := NewWALWriter(base, testSegSize, 1, 9)
		if err != nil {
			t.Fatal(err)
		}
		w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrTransaction, MainData: make([]byte, 100)}))
		segEnd := base + testSegSize
		// Room for record bytes from here to the segment end.
		room := int(segEnd - w.Pos())
		for p := (w.Pos() + XLogBlcksz - 1) &^ (XLogBlcksz - 1); p < segEnd; p += XLogBlcksz {
			room -= SizeOfXLogShortPHD
		}
		n := room - short - SizeOfXLogRecord - SizeOfXLogRecordDataHeaderLong
		w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrLogicalMessage, MainData: make([]byte, n)}))
		w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrTransaction, MainData: make([]byte, 8)}))
		recs := readStream(t, w, base)
		if len(recs) != 3 {
			t.Fatalf("%d records", len(recs))
		}
		if short < 8 && recs[2].LSN != segEnd+SizeOfXLogLongPHD {
			t.Fatalf("short %d: third record at %s, want %s", short, recs[2].LSN, segEnd+SizeOfXLogLongPHD)
		}
		built := rebuildSegments(t, testSegSize, 1, 9, recs)
		compareRebuilt(t, built, func(seg uint64) []byte {
			b := make([]byte, testSegSize)
			copy(b, w.Bytes()[int(SegmentStart(XLogSegNo(seg), testSegSize)-base):])
			return b
		}, recs)
		rereadRebuilt(t, built, 1, recs)
	}
}
