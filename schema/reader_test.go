package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
)

const testSegSize = 1 << 20

type writtenRecord struct {
	start, end LSN
	raw        []byte
}

// buildStream writes a varied WAL stream: small records, records spanning
// pages and a segment boundary, block references with images, an
// XLOG_SWITCH, and records after it.
func buildStream(t testing.TB) (*WALWriter, []writtenRecord) {
	t.Helper()
	w, err := NewWALWriter(SegmentStart(3, testSegSize), testSegSize, 1, 7711783778192921358)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []writtenRecord
	add := func(spec RecordSpec) {
		raw := AssembleRecord(spec)
		s, e := w.Append(raw)
		recs = append(recs, writtenRecord{s, e, raw})
	}
	page := make([]byte, BLCKSZ)
	for i := range page {
		page[i] = byte(rng.IntN(256))
	}
	rel := RelFileNode{1663, 5, 16384}
	for i := 0; i < 300; i++ {
		spec := RecordSpec{Xid: uint32(700 + i), Rmgr: RmgrHeap, Info: 0x00}
		spec.MainData = make([]byte, 1+rng.IntN(300))
		spec.Blocks = []BlockSpec{{ID: 0, Tag: BufferTag{rel, MainForkNum, BlockNumber(i)}, Data: make([]byte, 1+rng.IntN(100))}}
		if i%7 == 0 {
			spec.Blocks = append(spec.Blocks, BlockSpec{ID: 1, Tag: BufferTag{rel, VisibilityMapFork, 0}, Image: page, Apply: true})
		}
		if i%11 == 0 {
			spec.Blocks = append(spec.Blocks, BlockSpec{ID: 3, Tag: BufferTag{rel, MainForkNum, 9}, Image: page, HoleOffset: 100, HoleLength: 4000})
		}
		add(spec)
		if i == 150 {
			// Spans pages and, at this size, the segment boundary.
			add(RecordSpec{Rmgr: RmgrLogicalMessage, MainData: bytes.Repeat([]byte("x"), 900_000)})
		}
	}
	s, e := w.Switch()
	recs = append(recs, writtenRecord{start: s, end: e})
	for i := 0; i < 20; i++ {
		add(RecordSpec{Xid: uint32(2000 + i), Rmgr: RmgrTransaction, MainData: make([]byte, 8)})
	}
	return w, recs
}

func readAll(t testing.TB, r *StreamReader, stream []byte, chunk func() int) ([]*DecodedRecord, error) {
	t.Helper()
	var out []*DecodedRecord
	for len(stream) > 0 || true {
		rec, err := r.Next()
		if errors.Is(err, ErrNeedMoreData) {
			if len(stream) == 0 {
				return out, err
			}
			n := min(chunk(), len(stream))
			r.Write(stream[:n])
			stream = stream[n:]
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func TestStreamReaderRoundTrip(t *testing.T) {
	w, want := buildStream(t)
	stream := w.Bytes()
	chunkings := map[string]func() int{
		"whole":    func() int { return len(stream) },
		"bytes":    func() int { return 1 },
		"xlogdata": func() int { return 128 << 10 },
	}
	rng := rand.New(rand.NewPCG(3, 4))
	chunkings["random"] = func() int { return 1 + rng.IntN(20000) }
	for name, chunk := range chunkings {
		t.Run(name, func(t *testing.T) {
			r, err := NewStreamReader(ReaderOptions{StartLSN: SegmentStart(3, testSegSize)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r, stream, chunk)
			if !errors.Is(err, ErrNeedMoreData) {
				t.Fatalf("after %d records: %v", len(got), err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d", len(got), len(want))
			}
			for i, rec := range got {
				if rec.LSN != want[i].start || rec.EndLSN != want[i].end {
					t.Fatalf("record %d at %s..%s, want %s..%s", i, rec.LSN, rec.EndLSN, want[i].start, want[i].end)
				}
				if want[i].raw != nil && !bytes.Equal(rec.Raw[24:], want[i].raw[24:]) {
					t.Fatalf("record %d at %s: payload differs", i, rec.LSN)
				}
			}
			if r.SegSize() != testSegSize || r.SystemID() != 7711783778192921358 || r.Timeline() != 1 {
				t.Fatalf("learned segsize %d sysid %d tli %d", r.SegSize(), r.SystemID(), r.Timeline())
			}
		})
	}
}

// TestStreamReaderStartMidStream starts at every page of the first 80 and
// checks the reader skips a continuation tail and finds the same records.
func TestStreamReaderStartMidStream(t *testing.T) {
	w, want := buildStream(t)
	base := SegmentStart(3, testSegSize)
	for p := LSN(1); p < 80; p++ {
		start := base + p*XLogBlcksz
		r, err := NewStreamReader(ReaderOptions{StartLSN: start, SegSize: testSegSize})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, r, w.Bytes()[start-base:], func() int { return 50000 })
		if !errors.Is(err, ErrNeedMoreData) {
			t.Fatalf("start %s: %v", start, err)
		}
		i := 0
		for i < len(want) && want[i].start < start {
			i++
		}
		if len(got) != len(want)-i || got[0].LSN != want[i].start {
			t.Fatalf("start %s: got %d records from %s, want %d from %s", start, len(got), got[0].LSN, len(want)-i, want[i].start)
		}
	}
	// FirstRecord filters records before it but keeps checking them.
	first := want[10].start
	r, _ := NewStreamReader(ReaderOptions{StartLSN: base, FirstRecord: first - 1})
	got, _ := readAll(t, r, w.Bytes(), func() int { return 1 << 20 })
	if got[0].LSN != first {
		t.Fatalf("FirstRecord: first record %s, want %s", got[0].LSN, first)
	}
}

func TestStreamReaderEndOfWAL(t *testing.T) {
	w, want := buildStream(t)
	base := SegmentStart(3, testSegSize)
	tail := want[len(want)-1].end
	stream := append([]byte(nil), w.Bytes()...)

	t.Run("zeros", func(t *testing.T) {
		s := append(append([]byte(nil), stream...), make([]byte, 3*XLogBlcksz)...)
		r, _ := NewStreamReader(ReaderOptions{StartLSN: base})
		got, err := readAll(t, r, s, func() int { return 1 << 16 })
		var we *WALError
		if !errors.Is(err, ErrEndOfWAL) || !errors.As(err, &we) || we.LSN != tail || len(got) != len(want) {
			t.Fatalf("got %d records, err %v; want end of WAL at %s", len(got), err, tail)
		}
		if we.Segment != XLogFileName(1, tail.SegNo(testSegSize), testSegSize) {
			t.Fatalf("segment %q", we.Segment)
		}
	})
	t.Run("recycled", func(t *testing.T) {
		// Pad to the page, then a page whose pageaddr is an old position.
		s := append([]byte(nil), stream...)
		for (base+LSN(len(s)))%XLogBlcksz != 0 {
			s = append(s, 0)
		}
		old := make([]byte, XLogBlcksz)
		binary.LittleEndian.PutUint16(old[0:], XLogPageMagic)
		binary.LittleEndian.PutUint32(old[4:], 1)
		binary.LittleEndian.PutUint64(old[8:], uint64(base+LSN(len(s))-16*testSegSize))
		s = append(s, old...)
		r, _ := NewStreamReader(ReaderOptions{StartLSN: base})
		_, err := readAll(t, r, s, func() int { return 1 << 16 })
		if !errors.Is(err, ErrEndOfWAL) {
			t.Fatalf("err %v; want end of WAL", err)
		}
	})
}

// TestStreamReaderCorruption flips bytes all over the stream: the reader
// must stop with ErrCorrupt (or end-of-WAL for a damaged length), return
// only records that precede the damage unchanged, and never panic.
func TestStreamReaderCorruption(t *testing.T) {
	w, want := buildStream(t)
	base := SegmentStart(3, testSegSize)
	stream := w.Bytes()
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 300; trial++ {
		pos := rng.IntN(len(stream))
		s := append([]byte(nil), stream...)
		s[pos] ^= 1 << rng.IntN(8)
		flipped := base + LSN(pos)
		r, _ := NewStreamReader(ReaderOptions{StartLSN: base, Timeline: 1})
		got, err := readAll(t, r, s, func() int { return 1 << 16 })
		for i, rec := range got {
			if rec.LSN != want[i].start {
				t.Fatalf("flip at %s: record %d at %s, want %s", flipped, i, rec.LSN, want[i].start)
			}
			if rawEnd(rec.LSN, len(rec.Raw), testSegSize) > flipped && rec.LSN <= flipped {
				// A flip inside a record that was still returned must be in
				// bytes that do not belong to it (alignment padding).
				if !harmlessHeaderBits(flipped, s[pos]^stream[pos]) {
					t.Fatalf("flip at %s inside record %s..%s, which was returned", flipped, rec.LSN, rec.EndLSN)
				}
			}
		}
		if errors.Is(err, ErrNeedMoreData) {
			continue // the flip hit padding or the dead tail after XLOG_SWITCH
		}
		var we *WALError
		if !errors.As(err, &we) {
			t.Fatalf("flip at %s: error %v is not a *WALError", flipped, err)
		}
		if we.LSN > flipped {
			t.Fatalf("flip at %s reported at %s, after the damage", flipped, we.LSN)
		}
		if again, err2 := r.Next(); again != nil || err2 != err {
			t.Fatalf("reader continued after an error: %v %v", again, err2)
		}
	}
}

func TestStreamReaderOverwriteContRecord(t *testing.T) {
	w, _ := NewWALWriter(0x3000000, testSegSize, 1, 42)
	first, _ := w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrXLOG, Info: 0x20, MainData: []byte("a")}))
	big, _ := w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrLogicalMessage, MainData: make([]byte, 20000)}))
	// Cut the stream at the page after the big record starts, as a crash
	// would, and continue with a page flagged OVERWRITE_CONTRECORD.
	cut := (big/XLogBlcksz + 1) * XLogBlcksz
	stream := append([]byte(nil), w.Bytes()[:cut-0x3000000]...)
	w2 := &WALWriter{segSize: testSegSize, tli: 1, sysID: 42, start: 0x3000000, buf: stream}
	w2.pageHeader(0)
	binary.LittleEndian.PutUint16(w2.buf[len(w2.buf)-SizeOfXLogShortPHD+2:], XLPFirstIsOverwriteContRecord)
	// The abandoned record is not in the chain: the new one links to the
	// last complete record.
	next := w2.Pos()
	md := make([]byte, 16)
	binary.LittleEndian.PutUint64(md, uint64(big))
	raw := AssembleRecord(RecordSpec{Rmgr: RmgrXLOG, Info: 0xD0, MainData: md})
	binary.LittleEndian.PutUint64(raw[8:], uint64(first))
	binary.LittleEndian.PutUint32(raw[20:], RecordCRC(raw))
	w2.buf = append(w2.buf, raw...)

	r, _ := NewStreamReader(ReaderOptions{StartLSN: 0x3000000})
	got, err := readAll(t, r, w2.buf, func() int { return 4096 })
	if !errors.Is(err, ErrNeedMoreData) {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].LSN != next || got[1].Info() != 0xD0 {
		t.Fatalf("got %d records; want the first and OVERWRITE_CONTRECORD at %s", len(got), next)
	}
}

// harmlessHeaderBits reports whether a flip at lsn hits page-header bits
// PostgreSQL does not check either: the padding after xlp_rem_len and the
// XLP_BKP_REMOVABLE hint.
func harmlessHeaderBits(lsn LSN, mask byte) bool {
	off := lsn % XLogBlcksz
	return (off >= 20 && off < 24 && lsn%testSegSize >= XLogBlcksz) || (off == 2 && mask == XLPBkpRemovable)
}

// rawEnd is where a record of n bytes starting at start really ends, page
// headers included and alignment padding excluded.
func rawEnd(start LSN, n int, segSize uint32) LSN {
	pos := start
	for n > 0 {
		if pos%XLogBlcksz == 0 {
			pos += SizeOfXLogShortPHD
			if pos%LSN(segSize) == SizeOfXLogShortPHD {
				pos += SizeOfXLogLongPHD - SizeOfXLogShortPHD
			}
		}
		k := min(n, int(XLogBlcksz-pos%XLogBlcksz))
		pos += LSN(k)
		n -= k
	}
	return pos
}

// TestStreamReaderOverwriteFlagWithoutRecord: the flag on a page where a
// record continues, without the OVERWRITE_CONTRECORD record, is damage and
// is reported at that page.
func TestStreamReaderOverwriteFlagWithoutRecord(t *testing.T) {
	w, _ := NewWALWriter(0x3000000, testSegSize, 1, 42)
	w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrXLOG, Info: 0x20, MainData: []byte("a")}))
	big, _ := w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrLogicalMessage, MainData: make([]byte, 20000)}))
	w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrXLOG, Info: 0x20, MainData: []byte("b")}))
	stream := append([]byte(nil), w.Bytes()...)
	page := (big/XLogBlcksz + 1) * XLogBlcksz
	stream[page-0x3000000+2] |= XLPFirstIsOverwriteContRecord
	r, _ := NewStreamReader(ReaderOptions{StartLSN: 0x3000000})
	_, err := readAll(t, r, stream, func() int { return 1 << 20 })
	var we *WALError
	if !errors.As(err, &we) || !errors.Is(err, ErrCorrupt) || we.LSN != page {
		t.Fatalf("err %v; want corruption reported at %s", err, page)
	}
}

// TestStreamReaderReuseRecords reads the stream with ReuseRecords in
// several chunkings: every record must equal, field for field, the one the
// ordinary reader returns, while it is the current one; and the reader
// must hand out the same record value every time.
func TestStreamReaderReuseRecords(t *testing.T) {
	w, _ := buildStream(t)
	stream := w.Bytes()
	base := SegmentStart(3, testSegSize)
	ref, err := NewStreamReader(ReaderOptions{StartLSN: base})
	if err != nil {
		t.Fatal(err)
	}
	want, err := readAll(t, ref, stream, func() int { return len(stream) })
	if !errors.Is(err, ErrNeedMoreData) {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for name, chunk := range map[string]func() int{
		"whole":    func() int { return len(stream) },
		"bytes":    func() int { return 1 },
		"xlogdata": func() int { return 128 << 10 },
		"random":   func() int { return 1 + rng.IntN(20000) },
	} {
		t.Run(name, func(t *testing.T) {
			r, err := NewStreamReader(ReaderOptions{StartLSN: base, ReuseRecords: true})
			if err != nil {
				t.Fatal(err)
			}
			s := stream
			var first *DecodedRecord
			n := 0
			for {
				rec, err := r.Next()
				if errors.Is(err, ErrNeedMoreData) {
					if len(s) == 0 {
						break
					}
					k := min(chunk(), len(s))
					r.Write(s[:k])
					s = s[k:]
					continue
				}
				if err != nil {
					t.Fatalf("after %d records: %v", n, err)
				}
				if first == nil {
					first = rec
				} else if rec != first {
					t.Fatalf("record %d: a new record value, want the reused one", n)
				}
				if n >= len(want) {
					t.Fatalf("record %d at %s: more records than the ordinary reader's %d", n, rec.LSN, len(want))
				}
				if !reflect.DeepEqual(*rec, *want[n]) {
					t.Fatalf("record %d at %s differs from the ordinary reader's:\n got %+v\nwant %+v", n, rec.LSN, *rec, *want[n])
				}
				n++
			}
			if n != len(want) {
				t.Fatalf("got %d records, want %d", n, len(want))
			}
		})
	}
}

// TestDirReaderReuseRecords reads the golden WAL directory with and
// without ReuseRecords: the same records, and with it almost no
// allocation per record.
func TestDirReaderReuseRecords(t *testing.T) {
	g := goldenWALFor(t)
	dir := os.DirFS(g.writeDir(t))
	open := func(reuse bool) *DirReader {
		d, err := OpenWALDir(dir, DirOptions{Start: g.start, End: g.end, ReuseRecords: reuse})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, r := open(false), open(true)
	defer d.Close()
	defer r.Close()
	n := 0
	for ; ; n++ {
		want, werr := d.Next()
		got, gerr := r.Next()
		if werr != nil || gerr != nil {
			if !errors.Is(werr, io.EOF) || !errors.Is(gerr, io.EOF) {
				t.Fatalf("record %d: errors %v and %v with ReuseRecords, want io.EOF", n, werr, gerr)
			}
			break
		}
		if !reflect.DeepEqual(*got, *want) {
			t.Fatalf("record %d at %s differs with ReuseRecords", n, want.LSN)
		}
	}
	if n < 1000 {
		t.Fatalf("only %d records in the golden WAL", n)
	}
	allocs := testing.AllocsPerRun(2, func() {
		r := open(true)
		defer r.Close()
		for {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				return
			}
		}
	})
	// Opening the directory and its files costs a few dozen.
	if allocs > float64(n)/20 {
		t.Errorf("reading %d records with ReuseRecords made %.0f allocations", n, allocs)
	}
	t.Logf("%d records, %.0f allocations", n, allocs)
}

// FuzzStreamReaderReuse reads arbitrary streams with and without
// ReuseRecords, in random chunks: the same records, field for field, and
// the same final error.
func FuzzStreamReaderReuse(f *testing.F) {
	g := goldenWALFor(f)
	f.Add(bytes.Clone(g.stream[:min(64<<10, len(g.stream))]))
	for _, s := range fuzzWriterStreams(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := fuzzStreamOptions(data)
		ref, err := NewStreamReader(opts)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := readAll(t, ref, data, func() int { return len(data) })
		h := fnv.New64a()
		h.Write(data)
		seed := h.Sum64()
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		maxChunk := max([]int{3, 50, 700, 9000, 70000}[seed%5], len(data)/4096)

		opts.ReuseRecords = true
		r, err := NewStreamReader(opts)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			rec, err := r.Next()
			if errors.Is(err, ErrNeedMoreData) && len(data) > 0 {
				k := min(1+rng.IntN(maxChunk), len(data))
				r.Write(data[:k])
				data = data[k:]
				continue
			}
			if err != nil {
				if n != len(want) || wantErr == nil || err.Error() != wantErr.Error() {
					t.Fatalf("with ReuseRecords: %d records, then %v; without: %d records, then %v", n, err, len(want), wantErr)
				}
				return
			}
			if n >= len(want) || !reflect.DeepEqual(*rec, *want[n]) {
				t.Fatalf("record %d at %s differs with ReuseRecords", n, rec.LSN)
			}
			n++
		}
	})
}
