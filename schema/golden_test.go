package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// The golden data in testdata/wal is real PostgreSQL 15 WAL (1 MiB
// segments) with pg_waldump's output for it; internal/tools/mkwaltestdata
// makes it. See that program for what the workload puts into the WAL.

// goldenWAL is the testdata, uncompressed.
type goldenWAL struct {
	start, end LSN // range.txt: first segment's start, end of the last record
	segSize    uint32
	tli        TimeLineID
	names      []string // segment file names, in order
	segs       [][]byte // their contents
	stream     []byte   // the segments concatenated: stream[0] is at start
	golden     []string // pg_waldump's lines, without newlines
	// records are read from stream[:end-start] in one Write. They are
	// shared by the tests: read only.
	records []*DecodedRecord
}

// rangeLen is the length of the stream up to the range's end.
func (g *goldenWAL) rangeLen() int { return int(g.end - g.start) }

var loadGoldenWALOnce = sync.OnceValues(loadGoldenWAL)

// goldenWALFor loads testdata/wal once per test binary.
func goldenWALFor(tb testing.TB) *goldenWAL {
	tb.Helper()
	g, err := loadGoldenWALOnce()
	if err != nil {
		tb.Fatalf("load testdata/wal (regenerate with go run ./internal/tools/mkwaltestdata): %v", err)
	}
	return g
}

func loadGoldenWAL() (*goldenWAL, error) {
	dir := filepath.Join("testdata", "wal")
	g := &goldenWAL{}
	rng, err := os.ReadFile(filepath.Join(dir, "range.txt"))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(rng)), "\n") {
		key, val, _ := strings.Cut(line, " ")
		lsn, err := ParseLSN(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("range.txt: %w", err)
		}
		switch key {
		case "start":
			g.start = lsn
		case "end":
			g.end = lsn
		default:
			return nil, fmt.Errorf("range.txt: unknown key %q", key)
		}
	}
	if g.start == 0 || g.end <= g.start {
		return nil, fmt.Errorf("range.txt: bad range %s..%s", g.start, g.end)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".gz"); ok && isSegmentName(name) {
			g.names = append(g.names, name)
		}
	}
	sort.Strings(g.names)
	if len(g.names) == 0 {
		return nil, fmt.Errorf("no segments in %s", dir)
	}
	for _, name := range g.names {
		b, err := pgtest.Gunzip(filepath.Join(dir, name+".gz"))
		if err != nil {
			return nil, err
		}
		g.segs = append(g.segs, b)
		g.stream = append(g.stream, b...)
	}
	h, ok := ParseXLogPageHeader(g.segs[0])
	if !ok || !h.IsLong() || !ValidWALSegSize(h.SegSize) {
		return nil, fmt.Errorf("%s: no long page header", g.names[0])
	}
	g.segSize, g.tli = h.SegSize, h.TLI
	for i, name := range g.names {
		tli, seg, err := ParseXLogFileName(name, g.segSize)
		if err != nil {
			return nil, err
		}
		if tli != g.tli || SegmentStart(seg, g.segSize) != g.start+LSN(i)*LSN(g.segSize) || len(g.segs[i]) != int(g.segSize) {
			return nil, fmt.Errorf("segment %s does not follow on from %s at %s", name, g.names[0], g.start)
		}
	}
	if int(g.end-g.start) > len(g.stream) {
		return nil, fmt.Errorf("range end %s is beyond the segments", g.end)
	}

	dump, err := pgtest.Gunzip(filepath.Join(dir, "waldump.txt.gz"))
	if err != nil {
		return nil, err
	}
	// One line is long: pg_waldump prints the 1.5 MB message in hex.
	text, ok := strings.CutSuffix(string(dump), "\n")
	if !ok {
		return nil, fmt.Errorf("waldump.txt.gz does not end with a newline")
	}
	g.golden = strings.Split(text, "\n")

	r, err := NewStreamReader(ReaderOptions{StartLSN: g.start})
	if err != nil {
		return nil, err
	}
	r.Write(g.stream[:g.rangeLen()])
	for {
		rec, err := r.Next()
		if errors.Is(err, ErrNeedMoreData) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the stream after %d records: %w", len(g.records), err)
		}
		g.records = append(g.records, rec)
	}
	if len(g.records) == 0 || g.records[len(g.records)-1].EndLSN != g.end {
		return nil, fmt.Errorf("stream: %d records, the last does not end at %s", len(g.records), g.end)
	}
	return g, nil
}

// writeDir gunzips the segments into a new temporary directory.
func (g *goldenWAL) writeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i, name := range g.names {
		if err := os.WriteFile(filepath.Join(dir, name), g.segs[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rawEnd is where the record bytes of a record of n bytes starting at start
// end: page headers inside it included, alignment padding not.
func (g *goldenWAL) rawEnd(start LSN, n int) LSN { return rawEnd(start, n, g.segSize) }

// TestGoldenWaldump reads the testdata with OpenWALDir and requires
// AppendWaldumpLine to print exactly what pg_waldump printed, every record
// to decode again from its raw bytes, and every block image to restore to
// a plausible page. It also checks the testdata holds what it is meant to.
func TestGoldenWaldump(t *testing.T) {
	g := goldenWALFor(t)
	d, err := OpenWALDir(os.DirFS(g.writeDir(t)), DirOptions{Start: g.start, End: g.end})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.SegSize() != g.segSize || d.Timeline() != g.tli {
		t.Fatalf("segment size %d timeline %d, want %d %d", d.SegSize(), d.Timeline(), g.segSize, g.tli)
	}

	ir, err := NewImageRestorer()
	if err != nil {
		t.Fatal(err)
	}
	defer ir.Close()
	page := make([]byte, BLCKSZ)

	w := &goldenWaldumpRun{t: t, g: g, ir: ir, page: page, fpis: map[string]int{}, types: map[string]int{}}
	for ; ; w.n++ {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("record %d: %v", w.n, err)
		}
		w.checkRecord(rec)
		w.count(rec)
		w.restoreImages(rec)
	}
	w.checkTotals()
	w.checkMix()
}

// goldenWaldumpRun is TestGoldenWaldump's pass over the golden WAL: what
// it has read and counted so far.
type goldenWaldumpRun struct {
	t    *testing.T
	g    *goldenWAL
	ir   *ImageRestorer
	page []byte

	n, bad                        int
	fpis                          map[string]int
	checkImages, consistencyFlags int
	switches, spansSegments       int
	commits, aborts               int
	types                         map[string]int
	line                          []byte
}

// checkRecord compares record n with pg_waldump's line and the
// StreamReader's record, and decodes its raw bytes again.
func (w *goldenWaldumpRun) checkRecord(rec *DecodedRecord) {
	if w.n >= len(w.g.golden) {
		w.t.Fatalf("record %d at %s: pg_waldump printed only %d lines", w.n, rec.LSN, len(w.g.golden))
	}
	if w.n < len(w.g.records) && (w.g.records[w.n].LSN != rec.LSN || w.g.records[w.n].EndLSN != rec.EndLSN) {
		w.t.Fatalf("record %d: DirReader %s..%s, StreamReader %s..%s", w.n, rec.LSN, rec.EndLSN, w.g.records[w.n].LSN, w.g.records[w.n].EndLSN)
	}
	// pg_waldump ran with TZ=UTC.
	w.line = AppendWaldumpLine(w.line[:0], rec, time.UTC, false)
	if got := strings.TrimSuffix(string(w.line), "\n"); got != w.g.golden[w.n] || len(got) == len(w.line) {
		if w.bad++; w.bad <= 10 {
			w.t.Errorf("record %d at %s:\n got %q\nwant %q", w.n, rec.LSN, w.line, w.g.golden[w.n]+"\n")
		}
	}

	// The raw bytes decode on their own to the same record.
	again, err := DecodeRecord(rec.Raw, rec.LSN, rec.EndLSN)
	if err != nil {
		w.t.Fatalf("record %d at %s: DecodeRecord: %v", w.n, rec.LSN, err)
	}
	if len(again.Blocks) != len(rec.Blocks) || !bytes.Equal(again.MainData, rec.MainData) || again.Header != rec.Header {
		w.t.Fatalf("record %d at %s: decodes differently on its own", w.n, rec.LSN)
	}
	if RecordCRC(rec.Raw) != rec.Header.CRC {
		w.t.Fatalf("record %d at %s: CRC mismatch", w.n, rec.LSN)
	}
}

// count tallies the record's type and the kinds the testdata must hold.
func (w *goldenWaldumpRun) count(rec *DecodedRecord) {
	w.types[RecordTypeName(rec.Rmgr(), rec.Info())]++
	if rec.Info()&XLRCheckConsistency != 0 {
		w.consistencyFlags++
	}
	switch {
	case rec.Rmgr() == RmgrXLOG && rec.Info()&XLRRmgrInfoMask == xlogSwitch:
		w.switches++
	case rec.Rmgr() == RmgrTransaction && rec.Info()&0x70 == 0x00:
		w.commits++
	case rec.Rmgr() == RmgrTransaction && rec.Info()&0x70 == 0x20:
		w.aborts++
	}
	if rec.LSN.SegNo(w.g.segSize) != (w.g.rawEnd(rec.LSN, len(rec.Raw)) - 1).SegNo(w.g.segSize) {
		w.spansSegments++
	}
}

// restoreImages restores each block image of the record and checks the
// hole against the restored page header.
func (w *goldenWaldumpRun) restoreImages(rec *DecodedRecord) {
	for i := range rec.Blocks {
		blk := &rec.Blocks[i]
		if !blk.HasImage {
			continue
		}
		method := blk.CompressionMethod()
		if method == "" {
			method = "none"
		}
		w.fpis[method]++
		if !blk.ApplyImage() {
			w.checkImages++
		}
		for j := range w.page {
			w.page[j] = 0xA5
		}
		if err := w.ir.Restore(w.page, rec, blk); err != nil {
			w.t.Fatalf("record %d at %s block %d (%s image): %v", w.n, rec.LSN, blk.ID, method, err)
		}
		if blk.BimgInfo&BkpImageHasHole == 0 {
			continue
		}
		// A hole is only cut out of a standard page: between pd_lower
		// and pd_upper.
		lower := binary.LittleEndian.Uint16(w.page[12:])
		upper := binary.LittleEndian.Uint16(w.page[14:])
		if lower < 24 || lower > upper || upper > BLCKSZ {
			w.t.Fatalf("record %d at %s block %d (%s image): pd_lower %d pd_upper %d", w.n, rec.LSN, blk.ID, method, lower, upper)
		}
		if lower != blk.HoleOffset || upper != blk.HoleOffset+blk.HoleLength {
			w.t.Fatalf("record %d at %s block %d (%s image): pd_lower %d pd_upper %d, hole at %d length %d",
				w.n, rec.LSN, blk.ID, method, lower, upper, blk.HoleOffset, blk.HoleLength)
		}
		if v := binary.LittleEndian.Uint16(w.page[18:]); v != BLCKSZ|4 {
			w.t.Fatalf("record %d at %s block %d (%s image): pd_pagesize_version %#x", w.n, rec.LSN, blk.ID, method, v)
		}
		if !bytes.Equal(w.page[lower:upper], make([]byte, upper-lower)) {
			w.t.Fatalf("record %d at %s block %d: hole not zeroed", w.n, rec.LSN, blk.ID)
		}
	}
}

// checkTotals compares the number of records read with pg_waldump's and
// the StreamReader's.
func (w *goldenWaldumpRun) checkTotals() {
	if w.n != len(w.g.golden) {
		w.t.Errorf("read %d records, pg_waldump printed %d", w.n, len(w.g.golden))
	}
	if w.bad > 0 {
		w.t.Errorf("%d of %d lines differ from pg_waldump", w.bad, w.n)
	}
	if w.n != len(w.g.records) {
		w.t.Errorf("DirReader read %d records, StreamReader %d", w.n, len(w.g.records))
	}
}

// checkMix logs the record mix and fails if the testdata lacks a kind of
// record or image the test is meant to cover.
func (w *goldenWaldumpRun) checkMix() {
	names := make([]string, 0, len(w.types))
	for k := range w.types {
		names = append(names, k)
	}
	sort.Strings(names)
	var mix strings.Builder
	for _, k := range names {
		fmt.Fprintf(&mix, "\n  %-28s %5d", k, w.types[k])
	}
	w.t.Logf("%d records; images by compression %v (%d for consistency checking only); record types:%s", w.n, w.fpis, w.checkImages, mix.String())

	for _, m := range []string{"none", "pglz", "lz4", "zstd"} {
		if w.fpis[m] == 0 {
			w.t.Errorf("no %s-compressed block images in the testdata", m)
		}
	}
	for what, got := range map[string]int{
		"images for consistency checking only":  w.checkImages,
		"records flagged XLR_CHECK_CONSISTENCY": w.consistencyFlags,
		"records spanning a segment boundary":   w.spansSegments,
		"XLOG_SWITCH records":                   w.switches,
		"commits":                               w.commits,
		"aborts":                                w.aborts,
		"Heap/INSERT":                           w.types["Heap/INSERT"],
		"Btree/INSERT_LEAF":                     w.types["Btree/INSERT_LEAF"],
	} {
		if got == 0 {
			w.t.Errorf("no %s in the testdata", what)
		}
	}
}

// TestGoldenStreamChunks feeds the real WAL to a StreamReader in random
// chunk sizes and requires the same records as one big write.
func TestGoldenStreamChunks(t *testing.T) {
	g := goldenWALFor(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := range 6 {
		maxChunk := []int{16, 1000, 9000, 70000, 1 << 20, 300}[trial]
		r, err := NewStreamReader(ReaderOptions{StartLSN: g.start, Timeline: g.tli})
		if err != nil {
			t.Fatal(err)
		}
		// Small chunks cost one Next call per chunk: keep them to a part of
		// the stream, then finish in big ones.
		smallUntil := len(g.stream)
		if maxChunk < 1000 {
			smallUntil = 200 << 10
		}
		stream := g.stream
		fed := 0
		var got []*DecodedRecord
		for {
			rec, err := r.Next()
			if errors.Is(err, ErrNeedMoreData) {
				if fed == len(stream) {
					t.Fatalf("max chunk %d: the stream ended without an end of WAL", maxChunk)
				}
				limit := maxChunk
				if fed >= smallUntil {
					limit = 1 << 20
				}
				n := min(1+rng.IntN(limit), len(stream)-fed)
				r.Write(stream[fed : fed+n])
				fed += n
				continue
			}
			if err != nil {
				// The segment is zeroed after the range's end.
				var we *WALError
				if !errors.Is(err, ErrEndOfWAL) || !errors.As(err, &we) || we.LSN != g.end {
					t.Fatalf("max chunk %d: after %d records: %v; want the end of WAL at %s", maxChunk, len(got), err, g.end)
				}
				break
			}
			got = append(got, rec)
		}
		if len(got) != len(g.records) {
			t.Fatalf("max chunk %d: %d records, want %d", maxChunk, len(got), len(g.records))
		}
		for i, rec := range got {
			want := g.records[i]
			if rec.LSN != want.LSN || rec.EndLSN != want.EndLSN || !bytes.Equal(rec.Raw, want.Raw) || len(rec.Blocks) != len(want.Blocks) {
				t.Fatalf("max chunk %d: record %d at %s..%s, want %s..%s", maxChunk, i, rec.LSN, rec.EndLSN, want.LSN, want.EndLSN)
			}
		}
	}
}

// randomOffset returns a random offset below n. The 1.5 MB message is most
// of the stream and slow to read (under the race detector), so offsets in it
// are picked only a 25th as often as their share.
func (g *goldenWAL) randomOffset(rng *rand.Rand, n int) int {
	for {
		pos := rng.IntN(n)
		i := g.lastRecordAt(g.start + LSN(pos))
		if i < 0 || len(g.records[i].Raw) < 1<<20 || g.start+LSN(pos) >= g.rawEnd(g.records[i].LSN, len(g.records[i].Raw)) || rng.IntN(25) == 0 {
			return pos
		}
	}
}

// firstRecordAt is the index of the first record starting at or after lsn.
func (g *goldenWAL) firstRecordAt(lsn LSN) int {
	return sort.Search(len(g.records), func(i int) bool { return g.records[i].LSN >= lsn })
}

// lastRecordAt is the index of the last record starting at or before lsn,
// -1 if none.
func (g *goldenWAL) lastRecordAt(lsn LSN) int {
	return sort.Search(len(g.records), func(i int) bool { return g.records[i].LSN > lsn }) - 1
}

// windowStart is the offset of the page holding the start of the record k
// before record i, so that a reader started there reads record i and a few
// before it (the whole stream is too slow to read hundreds of times).
func (g *goldenWAL) windowStart(i, k int) int {
	j := max(i-k, 0)
	if i < 0 {
		return 0
	}
	return int(g.records[j].LSN-g.start) &^ (XLogBlcksz - 1)
}

// readWindow reads s[from:to] (s is a copy of the stream, maybe damaged)
// with a reader started at from, and returns the records and the error
// that stopped it.
func (g *goldenWAL) readWindow(t *testing.T, s []byte, from, to int) ([]*DecodedRecord, error) {
	t.Helper()
	r, err := NewStreamReader(ReaderOptions{StartLSN: g.start + LSN(from), SegSize: g.segSize, Timeline: g.tli})
	if err != nil {
		t.Fatal(err)
	}
	r.Write(s[from:to])
	var recs []*DecodedRecord
	for {
		rec, err := r.Next()
		if err != nil {
			if !errors.Is(err, ErrNeedMoreData) {
				if again, err2 := r.Next(); again != nil || err2 != err {
					t.Fatalf("reader continued after %v: %v %v", err, again, err2)
				}
			}
			return recs, err
		}
		recs = append(recs, rec)
	}
}

// TestGoldenTruncated cuts the real WAL at many points: the reader must
// return exactly the records that are complete before the cut and then ask
// for more data; a truncated stream is not corrupt.
func TestGoldenTruncated(t *testing.T) {
	g := goldenWALFor(t)
	n := g.rangeLen()
	cuts := map[int]bool{0: true, 1: true, n - 1: true, n: true}
	rng := rand.New(rand.NewPCG(21, 22))
	for range 150 {
		cuts[g.randomOffset(rng, n)] = true
	}
	// Around record boundaries, page headers and segment boundaries.
	for i := 0; i < len(g.records); i += 1 + rng.IntN(100) {
		rec := g.records[i]
		e := int(g.rawEnd(rec.LSN, len(rec.Raw)) - g.start)
		for _, c := range []int{int(rec.LSN-g.start) + 3, e - 1, e} {
			cuts[c] = true
		}
	}
	for seg := range len(g.segs) {
		base := seg * int(g.segSize)
		for _, d := range []int{-XLogBlcksz, -1, 1, SizeOfXLogShortPHD, SizeOfXLogLongPHD - 1, SizeOfXLogLongPHD, XLogBlcksz + 10} {
			cuts[base+d] = true
		}
	}
	// Inside the page headers within the segment-spanning record.
	for _, rec := range g.records {
		if len(rec.Raw) > int(g.segSize)/2 {
			first := int((rec.LSN/XLogBlcksz+1)*XLogBlcksz - g.start)
			for _, d := range []int{0, 5, 20, 23, 24, 25} {
				cuts[first+d] = true
			}
		}
	}

	trial := 0
	for cut := range cuts {
		if cut < 0 || cut > n {
			continue
		}
		trial++
		cutLSN := g.start + LSN(cut)
		// Read from a few records before the cut; every 25th time from
		// the start of the stream.
		from := 0
		if trial%25 != 0 {
			from = g.windowStart(g.lastRecordAt(cutLSN-1), 3)
		}
		got, err := g.readWindow(t, g.stream, from, cut)
		if !errors.Is(err, ErrNeedMoreData) {
			t.Fatalf("cut at %s (reading from %s): after %d records: %v; want ErrNeedMoreData", cutLSN, g.start+LSN(from), len(got), err)
		}
		first := g.firstRecordAt(g.start + LSN(from))
		for i, rec := range got {
			k := first + i
			if k >= len(g.records) || rec.LSN != g.records[k].LSN || !bytes.Equal(rec.Raw, g.records[k].Raw) {
				t.Fatalf("cut at %s (reading from %s): record %d at %s is not the full stream's", cutLSN, g.start+LSN(from), i, rec.LSN)
			}
		}
		want := first
		for want < len(g.records) && g.rawEnd(g.records[want].LSN, len(g.records[want].Raw)) <= cutLSN {
			want++
		}
		if len(got) != want-first {
			t.Fatalf("cut at %s (reading from %s): %d records, want the %d complete ones", cutLSN, g.start+LSN(from), len(got), want-first)
		}
	}
}

// goldenHarmlessFlip reports whether flipping mask at lsn touches bits that
// neither PostgreSQL nor the reader check: the alignment padding after
// xlp_rem_len (bytes 20-23 of every page header) and the XLP_BKP_REMOVABLE
// hint.
func goldenHarmlessFlip(lsn LSN, mask byte) bool {
	off := lsn % XLogBlcksz
	return (off >= 20 && off < 24) || (off == 2 && mask == XLPBkpRemovable)
}

// goldenLearnedSysIDFlip reports whether lsn is in xlp_sysid of the first
// long page header a reader started at start sees: the reader learns the
// system id from it (pg_waldump does not check it at all), so a flip there
// shows only at the next segment.
func (g *goldenWAL) goldenLearnedSysIDFlip(start, lsn LSN) bool {
	seg := (start + LSN(g.segSize) - 1) &^ LSN(g.segSize-1)
	return lsn >= seg+24 && lsn < seg+32
}

// TestGoldenBitFlips flips one bit at random positions of the real WAL. The
// reader must never return a record holding the flipped bit, never panic,
// and stop with a *WALError at or before the damage (or ask for more data
// when the flip hit bytes no record owns).
func TestGoldenBitFlips(t *testing.T) {
	g := goldenWALFor(t)
	stream := g.stream[:g.rangeLen()]
	rng := rand.New(rand.NewPCG(31, 32))
	s := bytes.Clone(stream)
	const trials = 300
	detected := 0
	for trial := range trials {
		var pos int
		switch trial % 3 {
		case 0: // anywhere
			pos = g.randomOffset(rng, len(stream))
		case 1: // near a page start: headers and continuation data
			pos = g.randomOffset(rng, len(stream))&^(XLogBlcksz-1) + rng.IntN(64)
		default: // in a record's header
			rec := g.records[rng.IntN(len(g.records))]
			pos = int(rec.LSN-g.start) + rng.IntN(SizeOfXLogRecord)
		}
		bit := byte(1) << rng.IntN(8)
		flipped := g.start + LSN(pos)

		// Read from a couple of records before the damage to a few pages
		// after the end of the record it is in.
		i := g.lastRecordAt(flipped)
		from := g.windowStart(i, 2)
		to := pos
		if i >= 0 {
			to = max(to, int(g.rawEnd(g.records[i].LSN, len(g.records[i].Raw))-g.start))
		}
		to = min(to+3*XLogBlcksz, len(s))

		s[pos] ^= bit
		got, err := g.readWindow(t, s, from, to)
		s[pos] ^= bit

		first := g.firstRecordAt(g.start + LSN(from))
		for k, rec := range got {
			want := g.records[first+k]
			if rec.LSN != want.LSN {
				t.Fatalf("flip %#x at %s: record %d at %s, want %s", bit, flipped, k, rec.LSN, want.LSN)
			}
			if rec.LSN <= flipped && flipped < g.rawEnd(rec.LSN, len(rec.Raw)) &&
				!goldenHarmlessFlip(flipped, bit) && !g.goldenLearnedSysIDFlip(g.start+LSN(from), flipped) {
				t.Fatalf("flip %#x at %s inside record %s..%s, which was returned", bit, flipped, rec.LSN, rec.EndLSN)
			}
			if !bytes.Equal(rec.Raw, want.Raw) {
				t.Fatalf("flip %#x at %s: record %s returned with damaged bytes", bit, flipped, rec.LSN)
			}
		}
		if errors.Is(err, ErrNeedMoreData) {
			continue // the flip hit padding, the dead tail of the switched segment or an unchecked bit
		}
		detected++
		var we *WALError
		if !errors.As(err, &we) {
			t.Fatalf("flip %#x at %s: error %v is not a *WALError", bit, flipped, err)
		}
		if we.LSN > flipped {
			t.Fatalf("flip %#x at %s reported at %s, after the damage: %v", bit, flipped, we.LSN, err)
		}
	}
	if detected < trials*2/3 {
		t.Errorf("only %d of %d flips were detected", detected, trials)
	}
	t.Logf("%d of %d flips detected", detected, trials)
}
