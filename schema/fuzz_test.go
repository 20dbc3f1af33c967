package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

// Fuzz targets for the WAL reader, the record decoder and image restore.
// Their seeds come from the real WAL in testdata/wal (see golden_test.go)
// and from WALWriter. Run one with, for example:
//
//	go test -run XXX -fuzz FuzzStreamReader -fuzztime 3m ./schema/

// FuzzStreamReader treats the input as a WAL byte stream starting at the
// page address in its first page header (a segment boundary when that
// header is long; otherwise 1 MiB segments are assumed). It reads it once
// in a single write and once in chunks whose sizes derive from the input,
// and requires: no panic; the same records and final error either way;
// after an error, Next returns that same error forever; every record's CRC
// verifies (also after later calls, so records own their memory); LSNs
// increase.
func FuzzStreamReader(f *testing.F) {
	g := goldenWALFor(f)
	add := func(from, to int) {
		from = max(from, 0) &^ (XLogBlcksz - 1)
		f.Add(bytes.Clone(g.stream[from:min(to, len(g.stream))]))
	}
	off := func(l LSN) int { return int(l - g.start) }
	add(0, 64<<10) // the start of the first segment
	for _, rec := range g.records {
		if len(rec.Raw) > int(g.segSize)/2 {
			// The big message: across a segment boundary inside it, and
			// its end followed by ordinary records.
			seg := off(SegmentStart(rec.LSN.SegNo(g.segSize)+1, g.segSize))
			add(seg-8<<10, seg+8<<10)
			e := off(g.rawEnd(rec.LSN, len(rec.Raw)))
			add(e-8<<10, e+24<<10)
		}
		if rec.Rmgr() == RmgrXLOG && rec.Info()&XLRRmgrInfoMask == xlogSwitch {
			add(off(rec.LSN), off(rec.LSN)+16<<10)
		}
	}
	// Pages full of compressed images, and the last segment with the
	// zeroed end of WAL.
	for _, rec := range g.records {
		if b := rec.Block(0); b != nil && b.BimgInfo&BkpImageCompressLZ4 != 0 {
			add(off(rec.LSN), off(rec.LSN)+32<<10)
			break
		}
	}
	last := (len(g.segs) - 1) * int(g.segSize)
	add(last, last+16<<10)
	for _, s := range fuzzWriterStreams(f) {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		opts := fuzzStreamOptions(data)
		whole, wholeErr := fuzzDrain(t, opts, data, func() int { return len(data) })

		h := fnv.New64a()
		h.Write(data)
		seed := h.Sum64()
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		maxChunk := []int{3, 50, 700, 9000, 70000}[seed%5]
		maxChunk = max(maxChunk, len(data)/4096) // bound the number of writes
		chunked, chunkedErr := fuzzDrain(t, opts, data, func() int { return 1 + rng.IntN(maxChunk) })

		if len(whole) != len(chunked) {
			t.Fatalf("one write: %d records (%v); chunks of up to %d: %d records (%v)", len(whole), wholeErr, maxChunk, len(chunked), chunkedErr)
		}
		for i := range whole {
			a, b := whole[i], chunked[i]
			if a.LSN != b.LSN || a.EndLSN != b.EndLSN || !bytes.Equal(a.Raw, b.Raw) {
				t.Fatalf("record %d: %s..%s in one write, %s..%s in chunks", i, a.LSN, a.EndLSN, b.LSN, b.EndLSN)
			}
		}
		if (wholeErr == nil) != (chunkedErr == nil) || (wholeErr != nil && wholeErr.Error() != chunkedErr.Error()) {
			t.Fatalf("one write ends with %v, chunks of up to %d with %v", wholeErr, maxChunk, chunkedErr)
		}
	})
}

// fuzzStreamOptions derives the reader's options from the stream's first
// page header.
func fuzzStreamOptions(data []byte) ReaderOptions {
	h, _ := ParseXLogPageHeader(data)
	// Keep clear of the top of the LSN space, which real WAL never reaches.
	opts := ReaderOptions{StartLSN: h.PageAddr & (1<<56 - 1) &^ (XLogBlcksz - 1)}
	if !h.IsLong() {
		opts.SegSize = MinWALSegSize
	}
	return opts
}

// fuzzDrain reads data with a new reader, writing next() bytes whenever it
// asks for more, and checks every record and the final error.
func fuzzDrain(t *testing.T, opts ReaderOptions, data []byte, next func() int) ([]*DecodedRecord, error) {
	r, err := NewStreamReader(opts)
	if err != nil {
		t.Fatalf("NewStreamReader(%+v): %v", opts, err)
	}
	end := opts.StartLSN + LSN(len(data))
	var recs []*DecodedRecord
	for {
		var rec *DecodedRecord
		rec, err = r.Next() // the function's err: the error the stream ends with is returned
		if errors.Is(err, ErrNeedMoreData) {
			if rec != nil {
				t.Fatalf("record returned with ErrNeedMoreData")
			}
			if len(data) == 0 {
				err = nil
				break
			}
			n := min(next(), len(data))
			r.Write(data[:n])
			data = data[n:]
			continue
		}
		if err != nil {
			var we *WALError
			if rec != nil || !errors.As(err, &we) || !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrEndOfWAL)) {
				t.Fatalf("Next returned %v, %v (%T): want a *WALError matching ErrCorrupt or ErrEndOfWAL", rec, err, err)
			}
			r.Write(data)
			for range 2 {
				if again, err2 := r.Next(); again != nil || err2 != err {
					t.Fatalf("after %v: Next returned %v, %v", err, again, err2)
				}
			}
			break
		}
		if rec == nil {
			t.Fatal("Next returned neither a record nor an error")
		}
		if int(rec.Header.TotLen) != len(rec.Raw) || RecordCRC(rec.Raw) != rec.Header.CRC {
			t.Fatalf("record at %s: xl_tot_len %d for %d bytes, or a bad CRC", rec.LSN, rec.Header.TotLen, len(rec.Raw))
		}
		if rec.LSN < opts.StartLSN || rec.LSN >= end || rec.LSN%maxAlignOf != 0 || rec.EndLSN <= rec.LSN {
			t.Fatalf("record at %s..%s in a stream %s..%s", rec.LSN, rec.EndLSN, opts.StartLSN, end)
		}
		if n := len(recs); n > 0 && (rec.LSN < recs[n-1].EndLSN || rec.Header.Prev != recs[n-1].LSN) {
			t.Fatalf("record at %s (prev %s) follows %s..%s", rec.LSN, rec.Header.Prev, recs[n-1].LSN, recs[n-1].EndLSN)
		}
		recs = append(recs, rec)
	}
	for _, rec := range recs {
		if RecordCRC(rec.Raw) != rec.Header.CRC {
			t.Fatalf("record at %s changed after later calls", rec.LSN)
		}
	}
	return recs, err
}

// fuzzWriterStreams builds small streams with WALWriter: block references
// with and without images, origins, top-level xids, long main data and a
// record that spans several pages.
func fuzzWriterStreams(tb testing.TB) [][]byte {
	w, err := NewWALWriter(SegmentStart(5, MinWALSegSize), MinWALSegSize, 1, 4242424242)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	page := make([]byte, BLCKSZ)
	for i := range page {
		page[i] = byte(rng.IntN(16))
	}
	rel := RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}
	origin := uint16(3)
	for i := range 24 {
		spec := RecordSpec{Xid: uint32(900 + i), Rmgr: RmgrHeap, Info: 0x00, MainData: make([]byte, 1+rng.IntN(40))}
		spec.Blocks = []BlockSpec{{ID: 0, Tag: BufferTag{Rel: rel, Block: BlockNumber(i)}, Data: make([]byte, 1+rng.IntN(60))}}
		switch i % 6 {
		case 1:
			spec.Blocks = append(spec.Blocks, BlockSpec{ID: 1, Tag: BufferTag{Rel: rel, Fork: VisibilityMapFork}, Image: page, Apply: true})
		case 2:
			spec.Blocks = append(spec.Blocks, BlockSpec{ID: 2, Tag: BufferTag{Rel: rel, Block: 7}, Image: page, HoleOffset: 200, HoleLength: 6000})
		case 3:
			spec.Origin = &origin
			spec.ToplevelXid = 850
		case 4:
			spec.MainData = make([]byte, 300) // long main-data header
		case 5:
			spec = RecordSpec{Rmgr: RmgrLogicalMessage, MainData: bytes.Repeat([]byte("m"), 20000)}
		}
		w.Append(AssembleRecord(spec))
	}
	stream := bytes.Clone(w.Bytes())
	// The same, ending cleanly: zeros up to the end of the next page.
	ended := bytes.Clone(stream)
	for len(ended)%XLogBlcksz != 0 {
		ended = append(ended, 0)
	}
	ended = append(ended, make([]byte, XLogBlcksz)...)
	return [][]byte{stream[:min(len(stream), 3*XLogBlcksz)], stream, ended}
}

// FuzzDecodeRecord treats the input as a record: it sets xl_tot_len and
// xl_crc so the CRC passes and the structural decoding is what gets
// exercised. It requires no panic, a *DecodeError on failure, and on
// success block images, block data and main data that tile the end of the
// record exactly, in order. The decoded record is then printed and its
// images restored, which must not panic either.
func FuzzDecodeRecord(f *testing.F) {
	g := goldenWALFor(f)
	seen := map[string]int{}
	n := 0
	for i, rec := range g.records {
		if len(rec.Raw) > 64<<10 {
			continue
		}
		typ := RecordTypeName(rec.Rmgr(), rec.Info())
		seen[typ]++
		if seen[typ] <= 3 || rec.FPILen() > 0 || i%40 == 0 {
			f.Add(bytes.Clone(rec.Raw))
			n++
		}
	}
	origin := uint16(9)
	rel := RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16400}
	blocks := make([]BlockSpec, XLRMaxBlockID+1)
	for i := range blocks {
		blocks[i] = BlockSpec{ID: uint8(i), Tag: BufferTag{Rel: rel, Block: BlockNumber(i)}, Data: []byte{byte(i)}}
	}
	for _, spec := range []RecordSpec{
		{Rmgr: RmgrXLOG, Info: xlogSwitch},
		{Rmgr: RmgrHeap, Xid: 5, Blocks: blocks, MainData: make([]byte, 400), Origin: &origin, ToplevelXid: 4},
		{Rmgr: RmgrTransaction, MainData: make([]byte, 255)},
		{Rmgr: RmgrBtree, Blocks: []BlockSpec{{ID: 0, Tag: BufferTag{Rel: rel}, Image: make([]byte, BLCKSZ), HoleOffset: 24, HoleLength: 8000, Apply: true}}},
	} {
		f.Add(AssembleRecord(spec))
	}
	f.Add([]byte{})
	f.Add(make([]byte, SizeOfXLogRecord))

	ir, err := NewImageRestorer()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(ir.Close)
	page := make([]byte, BLCKSZ)

	f.Fuzz(func(t *testing.T, data []byte) {
		raw := bytes.Clone(data)
		if len(raw) >= SizeOfXLogRecord {
			binary.LittleEndian.PutUint32(raw[0:], uint32(len(raw)))
			binary.LittleEndian.PutUint32(raw[20:], RecordCRC(raw))
		}
		const lsn = LSN(0x2000028)
		rec, err := DecodeRecord(raw, lsn, lsn+LSN(MaxAlign(uint64(len(raw)))))
		if err != nil {
			var de *DecodeError
			if rec != nil || !errors.As(err, &de) || de.LSN != lsn || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecord returned %v, %v (%T): want a *DecodeError at %s", rec, err, err, lsn)
			}
			return
		}
		fuzzCheckLayout(t, raw, rec)

		// Consumers of decoded records must cope with whatever decodes.
		_ = AppendWaldumpLine(nil, rec, time.UTC, false)
		_ = AppendWaldumpLine(nil, rec, time.UTC, true)
		for i := range rec.Blocks {
			if rec.Blocks[i].HasImage {
				_ = ir.Restore(page, rec, &rec.Blocks[i])
			}
		}
	})
}

// fuzzCheckLayout checks a decoded record against its raw bytes.
func fuzzCheckLayout(t *testing.T, raw []byte, rec *DecodedRecord) {
	t.Helper()
	base := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
	offset := func(s []byte) int { return int(uintptr(unsafe.Pointer(unsafe.SliceData(s))) - base) }
	if len(rec.Raw) != len(raw) || offset(rec.Raw) != 0 || int(rec.Header.TotLen) != len(raw) {
		t.Fatalf("Raw is not the record's bytes")
	}
	total := len(rec.MainData)
	for i := range rec.Blocks {
		total += len(rec.Blocks[i].Image) + len(rec.Blocks[i].Data)
	}
	// The payload follows the record header, at least one header byte per
	// block, and the main-data header.
	minHeaders := SizeOfXLogRecord + len(rec.Blocks)*SizeOfXLogRecordBlockHeader
	if len(rec.MainData) > 0 {
		minHeaders += SizeOfXLogRecordDataHeaderShort
	}
	cursor := len(raw) - total
	if cursor < minHeaders {
		t.Fatalf("payload of %d bytes leaves %d bytes for headers, want at least %d", total, cursor, minHeaders)
	}
	take := func(what string, id uint8, s []byte) {
		if len(s) == 0 {
			return
		}
		if o := offset(s); o != cursor {
			t.Fatalf("block %d %s at offset %d, want %d", id, what, o, cursor)
		}
		cursor += len(s)
	}
	prevID := -1
	for i := range rec.Blocks {
		b := &rec.Blocks[i]
		if int(b.ID) <= prevID || b.ID > XLRMaxBlockID {
			t.Fatalf("block id %d after %d", b.ID, prevID)
		}
		prevID = int(b.ID)
		if b.HasImage {
			if len(b.Image) != int(b.BimgLen) {
				t.Fatalf("block %d: image of %d bytes, bimg_len %d", b.ID, len(b.Image), b.BimgLen)
			}
			if msg := checkImageHeader(b); msg != "" {
				t.Fatalf("block %d: decoded an inconsistent image header: %s", b.ID, msg)
			}
			if int(b.HoleOffset)+int(b.HoleLength) > BLCKSZ {
				t.Fatalf("block %d: hole %d+%d past the page", b.ID, b.HoleOffset, b.HoleLength)
			}
		} else if b.Image != nil {
			t.Fatalf("block %d: image without BKPBLOCK_HAS_IMAGE", b.ID)
		}
		if b.HasData() != (len(b.Data) > 0) {
			t.Fatalf("block %d: BKPBLOCK_HAS_DATA %v with %d data bytes", b.ID, b.HasData(), len(b.Data))
		}
		take("image", b.ID, b.Image)
		take("data", b.ID, b.Data)
	}
	take("main data", 255, rec.MainData)
	if cursor != len(raw) {
		t.Fatalf("payload ends at %d, record at %d", cursor, len(raw))
	}
}

// FuzzRestoreImage restores arbitrary images: bimg_info, hole and bytes.
// It requires no panic and, on success, a page that does not depend on
// the buffer's previous contents, with a zeroed hole, equal to the image
// around the hole when it is not compressed, and the image left unchanged.
func FuzzRestoreImage(f *testing.F) {
	g := goldenWALFor(f)
	perMethod := map[uint8]int{}
	for _, rec := range g.records {
		for i := range rec.Blocks {
			b := &rec.Blocks[i]
			method := b.BimgInfo &^ (BkpImageHasHole | BkpImageApply)
			if b.HasImage && perMethod[method] < 3 {
				perMethod[method]++
				f.Add(b.BimgInfo, b.HoleOffset, b.HoleLength, bytes.Clone(b.Image))
			}
		}
	}
	full := make([]byte, BLCKSZ)
	for i := range full {
		full[i] = byte(i * 7)
	}
	f.Add(uint8(0), uint16(0), uint16(0), full)
	f.Add(uint8(BkpImageHasHole|BkpImageApply), uint16(100), uint16(8000), full[:192])
	f.Add(uint8(BkpImageCompressPGLZ), uint16(0), uint16(0), []byte{0x00, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(BkpImageCompressLZ4|BkpImageHasHole), uint16(40), uint16(8000), []byte{0xF0, 0x01, 0xAA})
	f.Add(uint8(BkpImageCompressZSTD|BkpImageCompressLZ4|BkpImageCompressPGLZ), uint16(8192), uint16(8192), []byte{})

	ir, err := NewImageRestorer()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(ir.Close)
	zeroed := make([]byte, BLCKSZ)
	ones := make([]byte, BLCKSZ)

	f.Fuzz(func(t *testing.T, info uint8, holeOffset, holeLength uint16, image []byte) {
		image = image[:min(len(image), 0xFFFF)]
		orig := bytes.Clone(image)
		blk := &DecodedBkpBlock{
			ID: 1, Tag: BufferTag{Rel: RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 1}},
			HasImage: true, BimgInfo: info, BimgLen: uint16(len(image)),
			HoleOffset: holeOffset, HoleLength: holeLength, Image: image,
		}
		clear(zeroed)
		for i := range ones {
			ones[i] = 0xFF
		}
		errA := ir.Restore(zeroed, nil, blk)
		errB := ir.Restore(ones, nil, blk)
		if !bytes.Equal(image, orig) {
			t.Fatal("Restore modified the image")
		}
		if (errA == nil) != (errB == nil) {
			t.Fatalf("Restore is not deterministic: %v, then %v", errA, errB)
		}
		if errA != nil {
			return
		}
		if !bytes.Equal(zeroed, ones) {
			t.Fatal("the restored page depends on the buffer's previous contents")
		}
		hole := zeroed[holeOffset : int(holeOffset)+int(holeLength)]
		if !bytes.Equal(hole, make([]byte, len(hole))) {
			t.Fatal("hole not zeroed")
		}
		if !blk.Compressed() {
			if !bytes.Equal(zeroed[:holeOffset], image[:holeOffset]) || !bytes.Equal(zeroed[int(holeOffset)+int(holeLength):], image[holeOffset:]) {
				t.Fatal("uncompressed image restored wrongly")
			}
		}
	})
}
