package schema

import (
	"bytes"
	"errors"
	"testing"
)

func TestRecordBatchRoundTrip(t *testing.T) {
	w, want := buildStream(t)
	r, _ := NewStreamReader(ReaderOptions{StartLSN: SegmentStart(3, testSegSize)})
	recs, _ := readAll(t, r, w.Bytes(), func() int { return 1 << 20 })
	if len(recs) != len(want) {
		t.Fatalf("setup: %d records", len(recs))
	}
	raw := 0
	buf := AppendRecordBatchHeader(nil, len(recs))
	for _, rec := range recs {
		buf = AppendRecordBatchEntry(buf, rec)
		raw += len(rec.Raw)
	}
	if len(buf) != RecordBatchSize(len(recs), raw) {
		t.Fatalf("size %d, RecordBatchSize says %d", len(buf), RecordBatchSize(len(recs), raw))
	}
	got, err := DecodeRecordBatch(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.LSN != recs[i].LSN || e.EndLSN != recs[i].EndLSN || !bytes.Equal(e.Raw, recs[i].Raw) {
			t.Fatalf("entry %d differs", i)
		}
		d, err := DecodeRecord(e.Raw, e.LSN, e.EndLSN)
		if err != nil || len(d.Blocks) != len(recs[i].Blocks) {
			t.Fatalf("entry %d does not decode: %v", i, err)
		}
	}
	// Every truncation and a few corruptions are rejected, never a panic.
	for n := 0; n < len(buf); n += 1 + n/50 {
		if _, err := DecodeRecordBatch(buf[:n]); !errors.Is(err, ErrBadEvent) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	bad := append([]byte(nil), buf...)
	bad[4] = 9
	if _, err := DecodeRecordBatch(bad); !errors.Is(err, ErrBadEvent) {
		t.Fatalf("version 9 accepted: %v", err)
	}
	if _, err := DecodeRecordBatch(append(append([]byte(nil), buf...), 0)); !errors.Is(err, ErrBadEvent) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
	empty, err := DecodeRecordBatch(AppendRecordBatchHeader(nil, 0))
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty batch: %v %d", err, len(empty))
	}
}
