package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Unit tests of ImageRestorer.Restore on hand-made block images. The
// compressed streams come from independent encoders: pierrec/lz4's
// CompressBlock (the raw LZ4 block format that LZ4_compress_default
// writes), klauspost/compress/zstd's EncodeAll (a normal zstd frame, as
// ZSTD_compress writes) and the package's test-only pglz encoder.

// fpiMethod is a wal_compression setting.
type fpiMethod string

const (
	fpiNone fpiMethod = "none"
	fpiPGLZ fpiMethod = "pglz"
	fpiLZ4  fpiMethod = "lz4"
	fpiZSTD fpiMethod = "zstd"
)

var fpiMethods = []fpiMethod{fpiNone, fpiPGLZ, fpiLZ4, fpiZSTD}

// bit returns the method's bimg_info bit.
func (m fpiMethod) bit() uint8 {
	switch m {
	case fpiPGLZ:
		return BkpImageCompressPGLZ
	case fpiLZ4:
		return BkpImageCompressLZ4
	case fpiZSTD:
		return BkpImageCompressZSTD
	}
	return 0
}

var fpiZstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	return e
})

// fpiCompress compresses raw with method m.
func fpiCompress(tb testing.TB, m fpiMethod, raw []byte) []byte {
	tb.Helper()
	switch m {
	case fpiNone:
		return append([]byte(nil), raw...)
	case fpiPGLZ:
		out := pglzCompressTest(raw, pglzCompressOpts{})
		// Self-check the encoder against the naive reference decoder.
		if n := pglzDecompressRef(make([]byte, len(raw)), out); n != len(raw) {
			tb.Fatalf("test pglz encoder produced a stream the reference rejects (%d)", n)
		}
		return out
	case fpiLZ4:
		out := make([]byte, lz4.CompressBlockBound(len(raw)))
		n, err := lz4.CompressBlock(raw, out, nil)
		if err != nil || n == 0 {
			tb.Fatalf("lz4 CompressBlock: n=%d err=%v", n, err)
		}
		return out[:n]
	case fpiZSTD:
		return fpiZstdEncoder().EncodeAll(raw, nil)
	}
	tb.Fatalf("unknown method %q", m)
	return nil
}

// fpiImageBlock builds the block reference XLogRecordAssemble would write for
// page with the hole [holeOff, holeOff+holeLen) left out, compressed with m.
// It mirrors how DecodeRecord fills DecodedBkpBlock.
func fpiImageBlock(tb testing.TB, m fpiMethod, page []byte, holeOff, holeLen uint16) DecodedBkpBlock {
	tb.Helper()
	raw := append(append([]byte(nil), page[:holeOff]...), page[int(holeOff)+int(holeLen):]...)
	img := fpiCompress(tb, m, raw)
	info := uint8(BkpImageApply) | m.bit()
	if holeLen > 0 {
		info |= BkpImageHasHole
	}
	return DecodedBkpBlock{
		ID:         3,
		Tag:        BufferTag{Rel: RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}, Fork: MainForkNum, Block: 42},
		ForkFlags:  BkpBlockHasImage,
		HasImage:   true,
		BimgLen:    uint16(len(img)),
		HoleOffset: holeOff,
		HoleLength: holeLen,
		BimgInfo:   info,
		Image:      img,
	}
}

// fpiWant is what RestoreBlockImage produces: page with the hole zeroed.
func fpiWant(page []byte, holeOff, holeLen uint16) []byte {
	want := append([]byte(nil), page...)
	clear(want[holeOff : int(holeOff)+int(holeLen)])
	return want
}

// fpiGarbage returns an 8 KiB buffer full of 0xA5, so that any byte Restore
// fails to write (the hole included) shows up.
func fpiGarbage() []byte { return bytes.Repeat([]byte{0xA5}, BLCKSZ) }

func fpiRestorer(tb testing.TB) *ImageRestorer {
	tb.Helper()
	ir, err := NewImageRestorer()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ir.Close)
	return ir
}

const fpiTestLSN LSN = 0x00000002_1A2B3C40

var fpiTestRec = &DecodedRecord{LSN: fpiTestLSN, EndLSN: fpiTestLSN + 0x2000}

// fpiFirstDiff describes the first differing byte of two pages.
func fpiFirstDiff(got, want []byte) string {
	for i := range want {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d: got %#02x, want %#02x", i, got[i], want[i])
		}
	}
	return "no difference"
}

// fpiHoles are (offset, length) pairs covering the shapes a standard page
// can give: none, a typical [pd_lower, pd_upper) gap, one next to the
// header, one reaching the end of the page, and a nearly empty page.
var fpiHoles = []struct {
	name     string
	off, len uint16
}{
	{"no_hole", 0, 0},
	{"hole_middle", 1000, 5000},
	{"hole_after_header", 24, 1},
	{"hole_to_end", 4096, 4096},
	{"hole_almost_all", 28, BLCKSZ - 28 - 8},
	{"hole_at_last_byte", BLCKSZ - 1, 1},
}

func TestRestoreImageMethodsAndHoles(t *testing.T) {
	ir := fpiRestorer(t)
	page := heapPageLike() // every byte non-zero-ish and page-shaped; the hole region holds tuple bytes
	for _, m := range fpiMethods {
		for _, h := range fpiHoles {
			t.Run(string(m)+"/"+h.name, func(t *testing.T) {
				blk := fpiImageBlock(t, m, page, h.off, h.len)
				if m != fpiNone && !blk.Compressed() {
					t.Fatal("block not marked compressed")
				}
				got := fpiGarbage()
				if err := ir.Restore(got, fpiTestRec, &blk); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				want := fpiWant(page, h.off, h.len)
				if !bytes.Equal(got, want) {
					t.Fatalf("restored page differs: %s", fpiFirstDiff(got, want))
				}
				// The hole really is zero, and the bytes either side exact.
				for i := int(h.off); i < int(h.off)+int(h.len); i++ {
					if got[i] != 0 {
						t.Fatalf("hole byte %d = %#02x, want 0", i, got[i])
					}
				}
				if h.off > 0 && got[h.off-1] != page[h.off-1] {
					t.Fatalf("byte before hole changed")
				}
				if end := int(h.off) + int(h.len); end < BLCKSZ && got[end] != page[end] {
					t.Fatalf("byte after hole changed")
				}
				// The image is not modified by Restore.
				again := fpiImageBlock(t, m, page, h.off, h.len)
				if !bytes.Equal(blk.Image, again.Image) {
					t.Fatal("Restore modified the image bytes")
				}
			})
		}
	}
}

// TestRestoreImagePageContents runs each method over pages of different
// character: all zeros, all 0xFF, incompressible noise, and a repeating
// pattern, with and without a hole.
func TestRestoreImagePageContents(t *testing.T) {
	ir := fpiRestorer(t)
	noise := make([]byte, BLCKSZ)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range noise {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		noise[i] = byte(x)
	}
	pattern := make([]byte, BLCKSZ)
	for i := range pattern {
		pattern[i] = byte(i*7) ^ byte(i>>8)
	}
	pages := map[string][]byte{
		"zeros":   make([]byte, BLCKSZ),
		"ones":    bytes.Repeat([]byte{0xFF}, BLCKSZ),
		"noise":   noise,
		"pattern": pattern,
	}
	for name, page := range pages {
		for _, m := range fpiMethods {
			for _, h := range fpiHoles[:2] {
				t.Run(name+"/"+string(m)+"/"+h.name, func(t *testing.T) {
					blk := fpiImageBlock(t, m, page, h.off, h.len)
					got := fpiGarbage()
					if err := ir.Restore(got, fpiTestRec, &blk); err != nil {
						t.Fatalf("Restore: %v", err)
					}
					if want := fpiWant(page, h.off, h.len); !bytes.Equal(got, want) {
						t.Fatalf("restored page differs: %s", fpiFirstDiff(got, want))
					}
				})
			}
		}
	}
}

// TestRestoreImageEncoderVariants feeds streams that other encoders or
// settings produce and that PostgreSQL's decoders accept: a zstd frame
// without a content size (streaming encoder), two concatenated frames and a
// skippable frame before the data (ZSTD_decompress handles all three), LZ4
// from the high-compression encoder, and pglz limited to PostgreSQL's own
// maximum offset of 4094.
func TestRestoreImageEncoderVariants(t *testing.T) {
	ir := fpiRestorer(t)
	page := heapPageLike()
	const holeOff, holeLen = 700, 900
	raw := append(append([]byte(nil), page[:holeOff]...), page[holeOff+holeLen:]...)
	enc := fpiZstdEncoder()

	var stream bytes.Buffer
	zw, err := zstd.NewWriter(&stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	hc := make([]byte, lz4.CompressBlockBound(len(raw)))
	n, err := lz4.CompressBlockHC(raw, hc, lz4.Level9, nil, nil)
	if err != nil || n == 0 {
		t.Fatalf("CompressBlockHC: %d %v", n, err)
	}
	skippable := []byte{0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF}

	for _, v := range []struct {
		name string
		m    fpiMethod
		img  []byte
	}{
		{"zstd_no_content_size", fpiZSTD, stream.Bytes()},
		{"zstd_two_frames", fpiZSTD, append(enc.EncodeAll(raw[:3000], nil), enc.EncodeAll(raw[3000:], nil)...)},
		{"zstd_skippable_frame_first", fpiZSTD, append(skippable, enc.EncodeAll(raw, nil)...)},
		{"lz4_hc", fpiLZ4, hc[:n]},
		{"pglz_max_offset_4094", fpiPGLZ, pglzCompressTest(raw, pglzCompressOpts{maxOffset: 4094})},
		{"pglz_short_chains", fpiPGLZ, pglzCompressTest(raw, pglzCompressOpts{maxChain: 1})},
	} {
		t.Run(v.name, func(t *testing.T) {
			blk := fpiImageBlock(t, v.m, page, holeOff, holeLen)
			blk.Image, blk.BimgLen = v.img, uint16(len(v.img))
			got := fpiGarbage()
			if err := ir.Restore(got, fpiTestRec, &blk); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if want := fpiWant(page, holeOff, holeLen); !bytes.Equal(got, want) {
				t.Fatalf("restored page differs: %s", fpiFirstDiff(got, want))
			}
		})
	}
}

// fpiAssembleRecord lays out an XLOG_FPI record holding blocks the way
// XLogRecordAssemble does, compressed-image headers included (AssembleRecord
// only writes uncompressed images), with a valid CRC, and decodes it.
func fpiAssembleRecord(tb testing.TB, lsn LSN, blocks []DecodedBkpBlock) *DecodedRecord {
	tb.Helper()
	le := binary.LittleEndian
	var hdrs, payload []byte
	for i := range blocks {
		b := &blocks[i]
		hdrs = append(hdrs, b.ID, uint8(b.Tag.Fork)|BkpBlockHasImage)
		hdrs = le.AppendUint16(hdrs, 0) // no block data
		hdrs = le.AppendUint16(hdrs, uint16(len(b.Image)))
		hdrs = le.AppendUint16(hdrs, b.HoleOffset)
		hdrs = append(hdrs, b.BimgInfo)
		if b.Compressed() && b.BimgInfo&BkpImageHasHole != 0 {
			hdrs = le.AppendUint16(hdrs, b.HoleLength)
		}
		hdrs = le.AppendUint32(hdrs, b.Tag.Rel.SpcNode)
		hdrs = le.AppendUint32(hdrs, b.Tag.Rel.DbNode)
		hdrs = le.AppendUint32(hdrs, b.Tag.Rel.RelNode)
		hdrs = le.AppendUint32(hdrs, uint32(b.Tag.Block))
		payload = append(payload, b.Image...)
	}
	raw := make([]byte, SizeOfXLogRecord, SizeOfXLogRecord+len(hdrs)+len(payload))
	raw = append(append(raw, hdrs...), payload...)
	le.PutUint32(raw[0:], uint32(len(raw)))
	le.PutUint64(raw[8:], uint64(lsn-0x100)) // xl_prev
	raw[16] = 0xB0                           // XLOG_FPI
	raw[17] = uint8(RmgrXLOG)
	le.PutUint32(raw[20:], RecordCRC(raw))
	rec, err := DecodeRecord(raw, lsn, lsn+LSN(MaxAlign(uint64(len(raw)))))
	if err != nil {
		tb.Fatalf("DecodeRecord: %v", err)
	}
	return rec
}

// TestRestoreImageThroughDecodeRecord writes one record with a block image
// per method (as XLogRecordAssemble lays them out: hole_length in the
// compress header for compressed images, implied by bimg_len otherwise),
// decodes it, and restores every block.
func TestRestoreImageThroughDecodeRecord(t *testing.T) {
	ir := fpiRestorer(t)
	page := heapPageLike()
	lower := binary.LittleEndian.Uint16(page[12:])
	upper := binary.LittleEndian.Uint16(page[14:])
	type shape struct{ off, len uint16 }
	shapes := []shape{{0, 0}, {lower, upper - lower}, {512, 3000}}
	var blocks []DecodedBkpBlock
	var wants [][]byte
	for _, m := range fpiMethods {
		for _, s := range shapes {
			b := fpiImageBlock(t, m, page, s.off, s.len)
			b.ID = uint8(len(blocks))
			b.Tag.Block = BlockNumber(100 + len(blocks))
			blocks = append(blocks, b)
			wants = append(wants, fpiWant(page, s.off, s.len))
		}
	}
	rec := fpiAssembleRecord(t, fpiTestLSN, blocks)
	if len(rec.Blocks) != len(blocks) {
		t.Fatalf("decoded %d blocks, want %d", len(rec.Blocks), len(blocks))
	}
	for i := range rec.Blocks {
		blk := &rec.Blocks[i]
		if blk.HoleOffset != blocks[i].HoleOffset || blk.HoleLength != blocks[i].HoleLength || blk.BimgInfo != blocks[i].BimgInfo {
			t.Fatalf("block %d decoded as hole %d+%d info %#x, want %d+%d info %#x", i,
				blk.HoleOffset, blk.HoleLength, blk.BimgInfo, blocks[i].HoleOffset, blocks[i].HoleLength, blocks[i].BimgInfo)
		}
		got := fpiGarbage()
		if err := ir.Restore(got, rec, blk); err != nil {
			t.Fatalf("block %d: Restore: %v", i, err)
		}
		if !bytes.Equal(got, wants[i]) {
			t.Fatalf("block %d (info %#x): %s", i, blk.BimgInfo, fpiFirstDiff(got, wants[i]))
		}
	}

	// AssembleRecord's own uncompressed images take the same path.
	raw := AssembleRecord(RecordSpec{Rmgr: RmgrXLOG, Info: 0xB0, Blocks: []BlockSpec{
		{ID: 0, Tag: blocks[0].Tag, Image: page, HoleOffset: lower, HoleLength: upper - lower, Apply: true},
		{ID: 1, Tag: blocks[0].Tag, Image: page},
	}})
	binary.LittleEndian.PutUint32(raw[20:], RecordCRC(raw))
	rec2, err := DecodeRecord(raw, fpiTestLSN, fpiTestLSN+LSN(MaxAlign(uint64(len(raw)))))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{fpiWant(page, lower, upper-lower), page} {
		got := fpiGarbage()
		if err := ir.Restore(got, rec2, &rec2.Blocks[i]); err != nil {
			t.Fatalf("AssembleRecord block %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("AssembleRecord block %d: %s", i, fpiFirstDiff(got, want))
		}
	}
}

// fpiCheckErr requires err to be a restore failure that names the record's
// LSN and the block (id and tag).
func fpiCheckErr(t *testing.T, err error, blk *DecodedBkpBlock, wantSub string) {
	t.Helper()
	if err == nil {
		t.Fatal("Restore succeeded, want an error")
	}
	msg := err.Error()
	for _, s := range []string{fpiTestLSN.String(), fmt.Sprintf("block %d", blk.ID), blk.Tag.String(), wantSub} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not contain %q", msg, s)
		}
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.LSN != fpiTestLSN {
		t.Errorf("error %v is not a *DecodeError at %s", err, fpiTestLSN)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("error %v does not match ErrCorrupt", err)
	}
}

func TestRestoreImageErrors(t *testing.T) {
	ir := fpiRestorer(t)
	e := newFPIErrCases(t)
	e.truncatedAndMislengthStreams()
	e.corruptStreams()
	e.mislengthUncompressedAndNoImage()
	e.badHoles()

	for _, c := range e.cases {
		t.Run(c.name, func(t *testing.T) {
			got := fpiGarbage()
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Restore panicked: %v", r)
					}
				}()
				err = ir.Restore(got, fpiTestRec, c.blk)
			}()
			fpiCheckErr(t, err, c.blk, c.sub)
		})
	}
}

// fpiErrCase is one block Restore must refuse, with what the message
// must contain.
type fpiErrCase struct {
	name string
	blk  *DecodedBkpBlock
	sub  string // expected in the message
}

// fpiErrCases builds the cases of TestRestoreImageErrors around one
// heap-like page with a 1000+2000 hole.
type fpiErrCases struct {
	t      *testing.T
	page   []byte
	raw    []byte // the page without its hole
	rawLen int
	cases  []fpiErrCase
}

const fpiErrHoleOff, fpiErrHoleLen = 1000, 2000

func newFPIErrCases(t *testing.T) *fpiErrCases {
	page := heapPageLike()
	const holeOff, holeLen = fpiErrHoleOff, fpiErrHoleLen
	return &fpiErrCases{t: t, page: page, rawLen: BLCKSZ - holeLen,
		raw: append(append([]byte(nil), page[:holeOff]...), page[holeOff+holeLen:]...)}
}

// withImage returns a block declaring the 1000+2000 hole, method m and
// the given image bytes.
func (e *fpiErrCases) withImage(m fpiMethod, img []byte) *DecodedBkpBlock {
	b := fpiImageBlock(e.t, fpiNone, e.page, fpiErrHoleOff, fpiErrHoleLen)
	b.BimgInfo |= m.bit()
	b.Image = img
	b.BimgLen = uint16(len(img))
	return &b
}

// truncatedAndMislengthStreams adds, for each compression method,
// truncated and empty streams and valid streams of the wrong length.
func (e *fpiErrCases) truncatedAndMislengthStreams() {
	for _, m := range fpiMethods[1:] {
		good := fpiCompress(e.t, m, e.raw)
		e.cases = append(e.cases,
			fpiErrCase{string(m) + "/truncated_half", e.withImage(m, good[:len(good)/2]), string(m)},
			fpiErrCase{string(m) + "/truncated_last_byte", e.withImage(m, good[:len(good)-1]), string(m)},
			fpiErrCase{string(m) + "/empty", e.withImage(m, nil), string(m)},
		)
		// Too short: a valid stream of one byte less than the image needs.
		e.cases = append(e.cases, fpiErrCase{string(m) + "/decompresses_short", e.withImage(m, fpiCompress(e.t, m, e.raw[:e.rawLen-1])), string(m)})
		// Too long: a valid stream of 16 bytes more. For pglz a final
		// *match* running past rawsize is clamped and accepted by
		// PostgreSQL; trailing literals are not, so make the tail bytes
		// that cannot match anything before them.
		long := append(append([]byte(nil), e.raw...), 0xF1, 0xE2, 0xD3, 0xC4, 0xB5, 0xA6, 0x97, 0x88, 0x79, 0x6A, 0x5B, 0x4C, 0x3D, 0x2E, 0x1F, 0x00)
		longImg := fpiCompress(e.t, m, long)
		if m == fpiPGLZ && pglzDecompressRef(make([]byte, e.rawLen), longImg) != -1 {
			e.t.Fatal("test setup: the reference pglz decoder accepts the too-long stream")
		}
		e.cases = append(e.cases, fpiErrCase{string(m) + "/decompresses_long", e.withImage(m, longImg), string(m)})
	}
}

// corruptStreams adds streams that are the right length but invalid.
func (e *fpiErrCases) corruptStreams() {
	{
		w := &pglzWriter{}
		w.literal('a')
		w.match(5, 3) // offset before the start of the output
		e.cases = append(e.cases, fpiErrCase{"pglz/offset_before_start", e.withImage(fpiPGLZ, w.out), "pglz"})
		w = &pglzWriter{}
		w.literal('a')
		w.match(0, 3) // offset 0
		e.cases = append(e.cases, fpiErrCase{"pglz/offset_zero", e.withImage(fpiPGLZ, w.out), "pglz"})
	}
	e.cases = append(e.cases,
		// token: 1 literal, then match offset 5 with only 1 byte output.
		fpiErrCase{"lz4/offset_before_start", e.withImage(fpiLZ4, []byte{0x10, 'a', 0x05, 0x00}), "lz4"},
		// token: 0 literals, match offset 0.
		fpiErrCase{"lz4/offset_zero", e.withImage(fpiLZ4, []byte{0x00, 0x00, 0x00}), "lz4"},
		fpiErrCase{"lz4/garbage", e.withImage(fpiLZ4, bytes.Repeat([]byte{0xFF}, 64)), "lz4"},
	)
	{
		good := fpiCompress(e.t, fpiZSTD, e.raw)
		badMagic := append([]byte(nil), good...)
		badMagic[0] ^= 0xFF
		e.cases = append(e.cases, fpiErrCase{"zstd/bad_magic", e.withImage(fpiZSTD, badMagic), "zstd"})
		trailing := append(append([]byte(nil), good...), 0x00, 0x01, 0x02, 0x03, 0x04, 0x05)
		e.cases = append(e.cases, fpiErrCase{"zstd/trailing_garbage", e.withImage(fpiZSTD, trailing), "zstd"})
		// Two frames: together they decompress to twice the image.
		e.cases = append(e.cases, fpiErrCase{"zstd/two_frames", e.withImage(fpiZSTD, append(append([]byte(nil), good...), good...)), "zstd"})
		// Flip a byte in the middle of the compressed data: zstd frames
		// from EncodeAll carry a content checksum.
		mid := append([]byte(nil), good...)
		mid[len(mid)/2] ^= 0x5A
		e.cases = append(e.cases, fpiErrCase{"zstd/corrupt_middle", e.withImage(fpiZSTD, mid), "zstd"})
	}
}

// mislengthUncompressedAndNoImage adds uncompressed images of the wrong
// length and a block reference without an image.
func (e *fpiErrCases) mislengthUncompressedAndNoImage() {
	e.cases = append(e.cases,
		fpiErrCase{"none/short", e.withImage(fpiNone, e.raw[:e.rawLen-1]), "image of"},
		fpiErrCase{"none/long", e.withImage(fpiNone, append(append([]byte(nil), e.raw...), 0)), "image of"},
	)

	// A block reference without an image.
	{
		b := fpiImageBlock(e.t, fpiNone, e.page, fpiErrHoleOff, fpiErrHoleLen)
		b.HasImage, b.Image, b.BimgLen, b.BimgInfo, b.HoleOffset, b.HoleLength = false, nil, 0, 0, 0, 0
		b.ForkFlags = BkpBlockHasData
		b.Data = []byte{1, 2, 3}
		e.cases = append(e.cases, fpiErrCase{"no_image", &b, "no image"})
	}
}

// badHoles adds, for each method, holes that do not fit the image.
func (e *fpiErrCases) badHoles() {
	for _, m := range fpiMethods {
		b := fpiImageBlock(e.t, m, e.page, fpiErrHoleOff, fpiErrHoleLen)
		b.HoleOffset = uint16(e.rawLen + 1) // hole would end past the page
		e.cases = append(e.cases, fpiErrCase{string(m) + "/hole_offset_beyond_image", &b, "hole offset"})
		b2 := fpiImageBlock(e.t, m, e.page, fpiErrHoleOff, fpiErrHoleLen)
		b2.HoleOffset = BLCKSZ
		e.cases = append(e.cases, fpiErrCase{string(m) + "/hole_offset_blcksz", &b2, "hole offset"})
		b3 := fpiImageBlock(e.t, m, e.page, fpiErrHoleOff, fpiErrHoleLen)
		b3.HoleLength = BLCKSZ + 1 // more hole than page
		e.cases = append(e.cases, fpiErrCase{string(m) + "/hole_longer_than_page", &b3, ""})
		b4 := fpiImageBlock(e.t, m, e.page, fpiErrHoleOff, fpiErrHoleLen)
		b4.HoleLength = 0xFFFF
		b4.HoleOffset = 0
		e.cases = append(e.cases, fpiErrCase{string(m) + "/hole_length_max", &b4, ""})
	}
}

// TestRestoreImageBadPageBuffer checks that a page buffer of the wrong size
// is refused before anything is written.
func TestRestoreImageBadPageBuffer(t *testing.T) {
	ir := fpiRestorer(t)
	page := heapPageLike()
	for _, m := range fpiMethods {
		blk := fpiImageBlock(t, m, page, 1000, 2000)
		for _, n := range []int{0, 1, BLCKSZ - 1, BLCKSZ + 1, 2 * BLCKSZ} {
			t.Run(fmt.Sprintf("%s/%d", m, n), func(t *testing.T) {
				buf := bytes.Repeat([]byte{0xA5}, n)
				err := ir.Restore(buf, fpiTestRec, &blk)
				if err == nil {
					t.Fatal("Restore succeeded with a wrong-size page buffer")
				}
				msg := err.Error()
				if !strings.Contains(msg, fmt.Sprint(n)) || !strings.Contains(msg, fmt.Sprint(BLCKSZ)) {
					t.Errorf("error %q does not give the sizes %d and %d", msg, n, BLCKSZ)
				}
				if !bytes.Equal(buf, bytes.Repeat([]byte{0xA5}, n)) {
					t.Error("Restore wrote into the wrong-size buffer")
				}
				if m == fpiNone && n == BLCKSZ-1 {
					fpiCheckNamesRecord(t, err, &blk)
				}
			})
		}
	}
	t.Run("nil", func(t *testing.T) {
		blk := fpiImageBlock(t, fpiNone, page, 0, 0)
		if err := ir.Restore(nil, fpiTestRec, &blk); err == nil {
			t.Fatal("Restore(nil) succeeded")
		}
	})
}

// fpiCheckNamesRecord requires err to name the record's LSN and the block.
func fpiCheckNamesRecord(t *testing.T, err error, blk *DecodedBkpBlock) {
	t.Helper()
	msg := err.Error()
	if !strings.Contains(msg, fpiTestLSN.String()) || !strings.Contains(msg, fmt.Sprintf("block %d", blk.ID)) {
		t.Errorf("wrong-size buffer error %q names neither LSN %s nor block %d", msg, fpiTestLSN, blk.ID)
	}
}

// TestRestoreImageNilRecord: rec only names the record in errors; a nil
// record must still restore, and errors then carry LSN 0/0.
func TestRestoreImageNilRecord(t *testing.T) {
	ir := fpiRestorer(t)
	page := heapPageLike()
	for _, m := range fpiMethods {
		blk := fpiImageBlock(t, m, page, 1000, 2000)
		got := fpiGarbage()
		if err := ir.Restore(got, nil, &blk); err != nil {
			t.Fatalf("%s: Restore with nil record: %v", m, err)
		}
		if want := fpiWant(page, 1000, 2000); !bytes.Equal(got, want) {
			t.Fatalf("%s: %s", m, fpiFirstDiff(got, want))
		}
		blk.Image = blk.Image[:len(blk.Image)-1]
		err := ir.Restore(got, nil, &blk)
		if err == nil || !strings.Contains(err.Error(), LSN(0).String()) {
			t.Fatalf("%s: error with nil record = %v, want one at %s", m, err, LSN(0))
		}
	}
}

// TestRestoreImageReusedBuffer restores different images into the same
// page buffer one after another: nothing of the previous page may leak.
func TestRestoreImageReusedBuffer(t *testing.T) {
	ir := fpiRestorer(t)
	a := heapPageLike()
	b := bytes.Repeat([]byte{0x3C}, BLCKSZ)
	buf := make([]byte, BLCKSZ)
	for i := 0; i < 3; i++ {
		for _, m := range fpiMethods {
			for _, h := range fpiHoles {
				for _, p := range [][]byte{a, b} {
					blk := fpiImageBlock(t, m, p, h.off, h.len)
					if err := ir.Restore(buf, fpiTestRec, &blk); err != nil {
						t.Fatalf("%s/%s: %v", m, h.name, err)
					}
					if want := fpiWant(p, h.off, h.len); !bytes.Equal(buf, want) {
						t.Fatalf("%s/%s: %s", m, h.name, fpiFirstDiff(buf, want))
					}
				}
			}
		}
	}
}

// TestRestoreImageConcurrent shares one restorer between goroutines, as its
// documentation allows; run with -race.
func TestRestoreImageConcurrent(t *testing.T) {
	ir := fpiRestorer(t)
	page := heapPageLike()
	var blocks []DecodedBkpBlock
	var wants [][]byte
	for _, m := range fpiMethods {
		for _, h := range fpiHoles {
			blocks = append(blocks, fpiImageBlock(t, m, page, h.off, h.len))
			wants = append(wants, fpiWant(page, h.off, h.len))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf := make([]byte, BLCKSZ)
			for iter := 0; iter < 20; iter++ {
				i := (g + iter) % len(blocks)
				if err := ir.Restore(buf, fpiTestRec, &blocks[i]); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf, wants[i]) {
					errs <- fmt.Errorf("goroutine %d block %d: %s", g, i, fpiFirstDiff(buf, wants[i]))
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkRestoreImage measures Restore per method on a heap-like page
// with its natural [pd_lower, pd_upper) hole, and without a hole.
func BenchmarkRestoreImage(b *testing.B) {
	ir := fpiRestorer(b)
	page := heapPageLike()
	lower := binary.LittleEndian.Uint16(page[12:])
	upper := binary.LittleEndian.Uint16(page[14:])
	for _, m := range fpiMethods {
		for _, h := range []struct {
			name     string
			p        []byte
			off, len uint16
		}{
			{"full", page, 0, 0},
			{"hole", page, lower, upper - lower},
			{"big_hole", page, 4096, 2048}, // as a half-full page gives
		} {
			blk := fpiImageBlock(b, m, h.p, h.off, h.len)
			b.Run(string(m)+"/"+h.name, func(b *testing.B) {
				buf := make([]byte, BLCKSZ)
				b.SetBytes(BLCKSZ)
				b.ReportAllocs()
				for b.Loop() {
					if err := ir.Restore(buf, fpiTestRec, &blk); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(blk.Image)), "img-bytes")
			})
		}
	}
}
