package ingest

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

func decoded(t *testing.T, spec schema.RecordSpec, lsn schema.LSN) *schema.DecodedRecord {
	t.Helper()
	w, _ := schema.NewWALWriter(0, 1<<20, 1, 1)
	start, end := w.Append(schema.AssembleRecord(spec))
	r, _ := schema.NewStreamReader(schema.ReaderOptions{StartLSN: 0})
	r.Write(w.Bytes())
	rec, err := r.Next()
	if err != nil || rec.LSN != start {
		t.Fatal(err)
	}
	rec.LSN, rec.EndLSN = lsn, lsn+(end-start)
	return rec
}

// TestRoundRoutingAndChunks: page records go to their pages' shards once
// per shard, others to meta; big batches are chunked and reassemble; the
// meta message comes last and carries the round's end.
func TestRoundRoutingAndChunks(t *testing.T) {
	layout := streams.Layout{SystemID: 42, Timeline: 1, Shards: 4}
	rel := schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}
	r := newRound(layout, 0)

	// Two blocks on (probably) different shards plus a vm page cleared
	// implicitly by the insert flag.
	var blocks []schema.BlockSpec
	for i := 0; i < 6; i++ {
		blocks = append(blocks, schema.BlockSpec{ID: uint8(i), Tag: schema.BufferTag{Rel: rel, Block: schema.BlockNumber(i * 1000)}, Data: []byte{1}})
	}
	multi := decoded(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: 0x50, MainData: []byte{1, 0, 0, 0}, Blocks: blocks[:1]}, 0x1000)
	big := decoded(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: 0xB0, Blocks: blocks}, 0x2000)
	commit := decoded(t, schema.RecordSpec{Rmgr: schema.RmgrTransaction, MainData: bytes.Repeat([]byte{7}, 300_000)}, 0x3000)
	for _, rec := range []*schema.DecodedRecord{multi, big, commit} {
		r.add(rec)
	}
	if r.start != 0x1000 || r.end != commit.EndLSN || r.records != 3 {
		t.Fatalf("round bounds %s..%s, %d records", r.start, r.end, r.records)
	}
	wantShards := map[string]map[schema.LSN]bool{}
	addWant := func(tag schema.BufferTag, l schema.LSN) {
		s := layout.SubjectOf(tag)
		if wantShards[s] == nil {
			wantShards[s] = map[schema.LSN]bool{}
		}
		wantShards[s][l] = true
	}
	addWant(blocks[0].Tag, 0x1000)
	addWant(schema.BufferTag{Rel: rel, Fork: schema.VisibilityMapFork, Block: 0}, 0x1000)
	for _, b := range blocks {
		addWant(b.Tag, 0x2000)
	}

	msgs := r.messages(64 << 10) // small payloads force chunking of the commit
	last := msgs[len(msgs)-1]
	if last.Subject != layout.MetaSubject() || last.Header.Get(streams.HdrRoundEnd) != r.end.String() {
		t.Fatalf("last message %s with round end %q, want meta with %s", last.Subject, last.Header.Get(streams.HdrRoundEnd), r.end)
	}
	got, metaChunks := reassembleRound(t, layout, msgs)
	if metaChunks < 5 {
		t.Fatalf("a 300 kB meta batch in 64 kB messages should be chunked; got %d chunks", metaChunks)
	}
	if len(got[layout.MetaSubject()]) != 1 || !got[layout.MetaSubject()][0x3000] {
		t.Fatalf("meta holds %v, want the commit only", got[layout.MetaSubject()])
	}
	delete(got, layout.MetaSubject())
	if len(got) != len(wantShards) {
		t.Fatalf("records on %d shard subjects, want %d: %v vs %v", len(got), len(wantShards), got, wantShards)
	}
	for s, lsns := range wantShards {
		for l := range lsns {
			if !got[s][l] {
				t.Fatalf("record %s missing on %s", l, s)
			}
		}
		if len(got[s]) != len(lsns) {
			t.Fatalf("%s holds %v, want %v", s, got[s], lsns)
		}
	}
	// The same round built again has the same ids: a retry deduplicates.
	r2 := newRound(layout, 0)
	for _, rec := range []*schema.DecodedRecord{multi, big, commit} {
		r2.add(rec)
	}
	for i, m := range r2.messages(64 << 10) {
		if m.Header.Get("Nats-Msg-Id") != msgs[i].Header.Get("Nats-Msg-Id") || r2.batchID() != r.batchID() {
			t.Fatal("a rebuilt round has different message ids")
		}
	}
}

// reassembleRound checks that msgs have distinct ids and fit the payload
// bound, reassembles their batches and returns the LSNs of the records
// on each subject and how many messages went to the meta subject.
func reassembleRound(t *testing.T, layout streams.Layout, msgs []*nats.Msg) (map[string]map[schema.LSN]bool, int) {
	t.Helper()
	ids := map[string]bool{}
	ra := streams.NewReassembler()
	got := map[string]map[schema.LSN]bool{}
	metaChunks := 0
	for _, m := range msgs {
		id := m.Header.Get("Nats-Msg-Id")
		if id == "" || ids[id] {
			t.Fatalf("message id %q missing or repeated", id)
		}
		ids[id] = true
		if len(m.Data) > 64<<10 {
			t.Fatalf("message of %d bytes exceeds the payload bound", len(m.Data))
		}
		if m.Subject == layout.MetaSubject() {
			metaChunks++
		}
		batch, err := ra.Add(m.Subject, m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if batch == nil {
			continue
		}
		entries, err := schema.DecodeRecordBatch(batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if got[m.Subject] == nil {
				got[m.Subject] = map[schema.LSN]bool{}
			}
			if got[m.Subject][e.LSN] {
				t.Fatalf("record %s twice on %s", e.LSN, m.Subject)
			}
			got[m.Subject][e.LSN] = true
		}
	}
	return got, metaChunks
}

// TestWholeRound: a round that fits wholeMax is one meta message holding
// every record once in LSN order, page records included, with the round's
// bounds; one byte less and it is the shard and meta messages again.
func TestWholeRound(t *testing.T) {
	layout := streams.Layout{SystemID: 42, Timeline: 1, Shards: 4}
	rel := schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}
	var blocks []schema.BlockSpec
	for i := 0; i < 3; i++ {
		blocks = append(blocks, schema.BlockSpec{ID: uint8(i), Tag: schema.BufferTag{Rel: rel, Block: schema.BlockNumber(i * 1000)}, Data: []byte{1}})
	}
	recs := []*schema.DecodedRecord{
		decoded(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: 0xB0, Blocks: blocks}, 0x1000),
		decoded(t, schema.RecordSpec{Rmgr: schema.RmgrTransaction, MainData: []byte{1, 2, 3, 4}}, 0x2000),
		decoded(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: 0xB0, Blocks: blocks[1:]}, 0x3000),
	}
	size := schema.RecordBatchHeaderSize
	for _, rec := range recs {
		size = len(schema.AppendRecordBatchEntry(make([]byte, size), rec))
	}
	r := newRound(layout, size)
	for _, rec := range recs {
		r.add(rec)
	}
	msgs := r.messages(64 << 10)
	if len(msgs) != 1 {
		t.Fatalf("a round of %d bytes with wholeMax %d made %d messages, want 1", size, size, len(msgs))
	}
	m := msgs[0]
	if m.Subject != layout.MetaSubject() || !streams.Whole(m.Header) ||
		m.Header.Get(streams.HdrRoundStart) != r.start.String() || m.Header.Get(streams.HdrRoundEnd) != r.end.String() {
		t.Fatalf("whole round on %s with headers %v", m.Subject, m.Header)
	}
	entries, err := schema.DecodeRecordBatch(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(recs) {
		t.Fatalf("whole round holds %d records, want %d", len(entries), len(recs))
	}
	for i, e := range entries {
		if e.LSN != recs[i].LSN || !bytes.Equal(e.Raw, recs[i].Raw) {
			t.Fatalf("record %d of the whole round is %s, want %s", i, e.LSN, recs[i].LSN)
		}
	}

	r2 := newRound(layout, size-1)
	for _, rec := range recs {
		r2.add(rec)
	}
	msgs = r2.messages(64 << 10)
	if len(msgs) < 2 || streams.Whole(msgs[len(msgs)-1].Header) {
		t.Fatalf("a round one byte over wholeMax made %d messages (whole: %v), want shard and meta messages", len(msgs), streams.Whole(msgs[len(msgs)-1].Header))
	}
	got, _ := reassembleRound(t, layout, msgs)
	if len(got[layout.MetaSubject()]) != 1 || !got[layout.MetaSubject()][0x2000] {
		t.Fatalf("meta holds %v, want the commit only", got[layout.MetaSubject()])
	}
	// A reset round is whole again.
	r2.reset()
	r2.wholeMax = size
	for _, rec := range recs {
		r2.add(rec)
	}
	if msgs := r2.messages(64 << 10); len(msgs) != 1 {
		t.Fatalf("after reset: %d messages, want 1", len(msgs))
	}
}
