package schema

import (
	"encoding/binary"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// descBuf builds little-endian main data laid out like the C structs.
type descBuf struct{ b []byte }

func newDescBuf() *descBuf                     { return &descBuf{} }
func (w *descBuf) u8(v uint8) *descBuf         { w.b = append(w.b, v); return w }
func (w *descBuf) u16(v uint16) *descBuf       { w.b = binary.LittleEndian.AppendUint16(w.b, v); return w }
func (w *descBuf) u32(v uint32) *descBuf       { w.b = binary.LittleEndian.AppendUint32(w.b, v); return w }
func (w *descBuf) i32(v int32) *descBuf        { return w.u32(uint32(v)) }
func (w *descBuf) u64(v uint64) *descBuf       { w.b = binary.LittleEndian.AppendUint64(w.b, v); return w }
func (w *descBuf) i64(v int64) *descBuf        { return w.u64(uint64(v)) }
func (w *descBuf) f64(v float64) *descBuf      { return w.u64(math.Float64bits(v)) }
func (w *descBuf) pad(n int) *descBuf          { w.b = append(w.b, make([]byte, n)...); return w }
func (w *descBuf) raw(p ...byte) *descBuf      { w.b = append(w.b, p...); return w }
func (w *descBuf) cstr(s string) *descBuf      { w.b = append(append(w.b, s...), 0); return w }
func (w *descBuf) rel(s, d, r uint32) *descBuf { return w.u32(s).u32(d).u32(r) }

// blockID appends a BlockIdData (bi_hi, bi_lo).
func (w *descBuf) blockID(v uint32) *descBuf { return w.u16(uint16(v >> 16)).u16(uint16(v)) }

// alignTo pads to a multiple of n bytes.
func (w *descBuf) alignTo(n int) *descBuf {
	for len(w.b)%n != 0 {
		w.b = append(w.b, 0)
	}
	return w
}

func descRecord(rmid RmgrID, info uint8, data []byte, blocks ...DecodedBkpBlock) *DecodedRecord {
	return &DecodedRecord{
		Header:   XLogRecord{Rmid: uint8(rmid), Info: info},
		MainData: data,
		Blocks:   blocks,
	}
}

func descDataBlock(id uint8, data []byte) DecodedBkpBlock {
	return DecodedBkpBlock{
		ID:        id,
		Tag:       BufferTag{Rel: RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}},
		ForkFlags: BkpBlockHasData,
		Data:      data,
	}
}

func descImageBlock(id uint8, apply bool) DecodedBkpBlock {
	b := DecodedBkpBlock{
		ID:        id,
		Tag:       BufferTag{Rel: RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}},
		ForkFlags: BkpBlockHasImage,
		HasImage:  true,
		BimgLen:   8192,
	}
	if apply {
		b.BimgInfo = BkpImageApply
	}
	return b
}

// Timestamps used below.
const (
	// 2024-05-01 12:34:56.789012 UTC as a TimestampTz.
	descTS    int64 = 767882096789012
	descTSUTC       = "2024-05-01 12:34:56.789012 UTC"
)

type describeCase struct {
	name string
	rec  *DecodedRecord
	want string
}

func runDescribeCases(t *testing.T, cases []describeCase) {
	t.Helper()
	for _, c := range cases {
		if !DescribeSupported(c.rec.Rmgr()) {
			t.Errorf("%s: DescribeSupported(%s) = false", c.name, c.rec.Rmgr())
		}
		got := DescribeIn(c.rec, time.UTC)
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestDescribeHeap(t *testing.T) {
	runDescribeCases(t, []describeCase{
		{"insert", descRecord(RmgrHeap, 0x00, newDescBuf().u16(5).u8(0x08).b), "off 5 flags 0x08"},
		{"insert+init", descRecord(RmgrHeap, 0x80, newDescBuf().u16(1).u8(0x00).b), "off 1 flags 0x00"},
		{"insert xlr bits", descRecord(RmgrHeap, 0x81, newDescBuf().u16(1).u8(0x01).b), "off 1 flags 0x01"},
		{"delete", descRecord(RmgrHeap, 0x10, newDescBuf().u32(700).u16(3).u8(0x03).u8(0x01).b),
			"off 3 flags 0x01 IS_MULTI LOCK_ONLY "},
		{"delete no infobits", descRecord(RmgrHeap, 0x10, newDescBuf().u32(700).u16(3).u8(0).u8(0x02).b),
			"off 3 flags 0x02 "},
		{"update", descRecord(RmgrHeap, 0x20, newDescBuf().u32(100).u16(2).u8(0x10).u8(0x44).u32(0).u16(7).b),
			"off 2 xmax 100 flags 0x44 KEYS_UPDATED ; new off 7 xmax 0"},
		{"update+init", descRecord(RmgrHeap, 0xA0, newDescBuf().u32(100).u16(2).u8(0x1F).u8(0x01).u32(5).u16(1).b),
			"off 2 xmax 100 flags 0x01 IS_MULTI LOCK_ONLY EXCL_LOCK KEYSHR_LOCK KEYS_UPDATED ; new off 1 xmax 5"},
		{"hot update", descRecord(RmgrHeap, 0x40, newDescBuf().u32(745).u16(12).u8(0).u8(0).u32(0).u16(13).b),
			"off 12 xmax 745 flags 0x00 ; new off 13 xmax 0"},
		{"truncate", descRecord(RmgrHeap, 0x30, newDescBuf().u32(5).u32(2).u8(3).pad(3).u32(16384).u32(16390).b),
			"cascade restart_seqs nrelids 2 relids 16384 16390"},
		{"truncate plain", descRecord(RmgrHeap, 0x30, newDescBuf().u32(5).u32(1).u8(0).pad(3).u32(16384).b),
			"nrelids 1 relids 16384"},
		{"confirm", descRecord(RmgrHeap, 0x50, newDescBuf().u16(4).b), "off 4"},
		{"lock", descRecord(RmgrHeap, 0x60, newDescBuf().u32(745).u16(1).u8(0x0C).u8(0x00).b),
			"off 1: xid 745: flags 0x00 EXCL_LOCK KEYSHR_LOCK "},
		{"inplace", descRecord(RmgrHeap, 0x70, newDescBuf().u16(9).b), "off 9"},
	})
}

func TestDescribeHeap2(t *testing.T) {
	runDescribeCases(t, []describeCase{
		{"rewrite", descRecord(RmgrHeap2, 0x00, make([]byte, 40)), ""},
		{"prune", descRecord(RmgrHeap2, 0x10, newDescBuf().u32(730).u16(1).u16(2).b),
			"latestRemovedXid 730 nredirected 1 ndead 2"},
		{"vacuum", descRecord(RmgrHeap2, 0x20, newDescBuf().u16(12).b), "nunused 12"},
		{"freeze", descRecord(RmgrHeap2, 0x30, newDescBuf().u32(900).u16(3).b), "cutoff xid 900 ntuples 3"},
		{"visible", descRecord(RmgrHeap2, 0x40, newDescBuf().u32(0).u8(3).b), "cutoff xid 0 flags 0x03"},
		{"multi insert", descRecord(RmgrHeap2, 0x50, newDescBuf().u8(0x01).pad(1).u16(2).u16(3).u16(4).b),
			"2 tuples flags 0x01"},
		{"multi insert+init", descRecord(RmgrHeap2, 0xD0, newDescBuf().u8(0x02).pad(1).u16(61).b),
			"61 tuples flags 0x02"},
		{"lock updated", descRecord(RmgrHeap2, 0x60, newDescBuf().u32(800).u16(3).u8(0x02).u8(0x01).b),
			"off 3: xmax 800: flags 0x01 LOCK_ONLY "},
		{"new cid", descRecord(RmgrHeap2, 0x70,
			newDescBuf().u32(740).u32(0).u32(math.MaxUint32).u32(math.MaxUint32).rel(1663, 5, 1259).blockID(65538).u16(7).b),
			"rel 1663/5/1259; tid 65538/7; cmin: 0, cmax: 4294967295, combo: 4294967295"},
	})
}

func TestDescribeBtree(t *testing.T) {
	meta := newDescBuf().u32(4).u32(3).u32(1).u32(3).u32(1).u32(5).u8(1).pad(3).b
	runDescribeCases(t, []describeCase{
		{"insert leaf", descRecord(RmgrBtree, 0x00, newDescBuf().u16(12).b), "off 12"},
		{"insert upper", descRecord(RmgrBtree, 0x10, newDescBuf().u16(2).b), "off 2"},
		{"insert meta", descRecord(RmgrBtree, 0x20, newDescBuf().u16(3).b), "off 3"},
		{"insert post", descRecord(RmgrBtree, 0x50, newDescBuf().u16(4).b), "off 4"},
		{"split l", descRecord(RmgrBtree, 0x30, newDescBuf().u32(0).u16(184).u16(200).u16(0).b),
			"level 0, firstrightoff 184, newitemoff 200, postingoff 0"},
		{"split r", descRecord(RmgrBtree, 0x40, newDescBuf().u32(1).u16(2).u16(3).u16(4).b),
			"level 1, firstrightoff 2, newitemoff 3, postingoff 4"},
		{"dedup", descRecord(RmgrBtree, 0x60, newDescBuf().u16(3).b), "nintervals 3"},
		{"vacuum", descRecord(RmgrBtree, 0xC0, newDescBuf().u16(4).u16(1).b), "ndeleted 4; nupdated 1"},
		{"delete", descRecord(RmgrBtree, 0x70, newDescBuf().u32(1000).u16(2).u16(0).b),
			"latestRemovedXid 1000; ndeleted 2; nupdated 0"},
		{"halfdead", descRecord(RmgrBtree, 0xB0, newDescBuf().u16(3).pad(2).u32(10).u32(9).u32(11).u32(12).b),
			"topparent 12; leaf 10; left 9; right 11"},
		{"unlink", descRecord(RmgrBtree, 0x80,
			newDescBuf().u32(9).u32(11).u32(0).pad(4).u64(1<<32|5000).u32(1).u32(2).u32(3).b),
			"left 9; right 11; level 0; safexid 1:5000; leafleft 1; leafright 2; leaftopparent 3"},
		{"unlink meta", descRecord(RmgrBtree, 0x90,
			newDescBuf().u32(0).u32(4).u32(1).pad(4).u64(900).u32(0).u32(0).u32(0).b),
			"left 0; right 4; level 1; safexid 0:900; leafleft 0; leafright 0; leaftopparent 0"},
		{"newroot", descRecord(RmgrBtree, 0xA0, newDescBuf().u32(3).u32(1).b), "lev 1"},
		{"reuse page", descRecord(RmgrBtree, 0xD0, newDescBuf().rel(1663, 5, 16400).u32(7).u64(900).b),
			"rel 1663/5/16400; latestRemovedXid 0:900"},
		{"meta cleanup", descRecord(RmgrBtree, 0xE0, nil, descDataBlock(0, meta)), "last_cleanup_num_delpages 5"},
	})
}

func TestDescribeXact(t *testing.T) {
	commitFull := newDescBuf().i64(descTS).
		u32(XactXinfoHasDBInfo|XactXinfoHasSubxacts|XactXinfoHasRelfilenodes|XactXinfoHasInvals|
								XactXinfoHasDroppedStats|XactXinfoHasOrigin|XactCompletionUpdateRelcache|XactCompletionForceSyncCommit).
		u32(5).u32(1663).                         // dbinfo
		i32(2).u32(801).u32(802).                 // subxacts
		i32(1).rel(1663, 5, 16384).               // relfilenodes
		i32(1).i32(2).u32(5).u32(16384).          // dropped stats
		i32(3).                                   // invals
		u8(7).pad(3).u32(5).u32(0xABCD).pad(4).   // catcache id 7
		u8(0xFF).pad(3).u32(5).u32(1259).pad(4).  // catalog
		u8(0xFE).pad(3).u32(5).u32(16384).pad(4). // relcache
		u64(0x1A2B3C4D).i64(descTS + 1_000_000).b // origin (unaligned in general)
	commitRec := descRecord(RmgrTransaction, 0x80, commitFull)
	commitRec.HasOrigin, commitRec.Origin = true, 3

	commitPrepared := newDescBuf().i64(descTS).u32(XactXinfoHasTwophase | XactXinfoHasGID).
		u32(777).cstr("tx1").b

	abortFull := newDescBuf().i64(descTS).
		u32(XactXinfoHasRelfilenodes|XactXinfoHasSubxacts|XactXinfoHasDroppedStats|XactXinfoHasOrigin).
		i32(1).u32(9).
		i32(1).rel(16500, 5, 16384).
		i32(1).i32(1).u32(5).u32(7).
		u64(0x10).i64(descTS).b
	abortRec := descRecord(RmgrTransaction, 0xA0, abortFull)
	abortRec.Origin = 2

	prepare := newDescBuf().
		u32(0x57F94534).u32(0).u32(900).u32(5).    // magic, total_len, xid, database
		i64(descTS).                               // prepared_at
		u32(10).                                   // owner
		i32(1).i32(1).i32(1).i32(0).i32(1).i32(1). // nsubxacts, ncommitrels, nabortrels, ncommitstats, nabortstats, ninvalmsgs
		u8(1).pad(1).u16(4).                       // initfileinval, gidlen
		u64(0).i64(0).                             // origin_lsn, origin_timestamp
		cstr("gx1").alignTo(8).
		u32(901).alignTo(8).
		rel(1663, 5, 100).alignTo(8).
		rel(1663, 5, 200).alignTo(8).
		i32(1).u32(5).u32(200).alignTo(8).
		u8(0xFE).pad(3).u32(5).u32(100).pad(4).b

	runDescribeCases(t, []describeCase{
		{"commit minimal", descRecord(RmgrTransaction, 0x00, newDescBuf().i64(descTS).b), descTSUTC},
		{"commit full", commitRec,
			descTSUTC + "; rels: base/5/16384; subxacts: 801 802; dropped stats: 2/5/16384" +
				"; relcache init file inval dbid 5 tsid 1663; inval msgs: catcache 7 catalog 1259 relcache 16384" +
				"; sync; origin: node 3, lsn 0/1A2B3C4D, at 2024-05-01 12:34:57.789012 UTC"},
		{"commit apply feedback", descRecord(RmgrTransaction, 0x80,
			newDescBuf().i64(descTS).u32(XactCompletionApplyFeedback).b),
			descTSUTC + "; apply_feedback"},
		{"commit prepared", descRecord(RmgrTransaction, 0xB0, commitPrepared), "777: " + descTSUTC},
		{"abort", abortRec,
			descTSUTC + "; rels: pg_tblspc/16500/PG_15_202209061/5/16384; subxacts: 9" +
				"; origin: node 2, lsn 0/10, at " + descTSUTC + "; dropped stats: 1/5/7"},
		{"abort minimal", descRecord(RmgrTransaction, 0x20, newDescBuf().i64(descTS).b), descTSUTC},
		{"abort prepared", descRecord(RmgrTransaction, 0xC0,
			newDescBuf().i64(descTS).u32(XactXinfoHasTwophase).u32(778).b), "778: " + descTSUTC},
		{"prepare", descRecord(RmgrTransaction, 0x10, prepare),
			"gid gx1: " + descTSUTC + "; rels(commit): base/5/100; rels(abort): base/5/200" +
				"; abort dropped stats: 1/5/200; subxacts: 901" +
				"; relcache init file inval dbid 5 tsid 0; inval msgs: relcache 100"},
		{"assignment", descRecord(RmgrTransaction, 0x50, newDescBuf().u32(500).i32(2).u32(501).u32(502).b),
			"xtop 500: subxacts: 501 502"},
		{"invalidations", descRecord(RmgrTransaction, 0x60, newDescBuf().i32(4).
			u8(0xFD).pad(15).                        // smgr
			u8(0xFC).pad(3).u32(0).pad(8).           // relmap db 0
			u8(0xFB).pad(3).u32(5).u32(2964).pad(4). // snapshot
			u8(0xF7).pad(15).b),                     // -9
			"; inval msgs: smgr relmap db 0 snapshot 2964 unrecognized id -9"},
		{"invalidations none", descRecord(RmgrTransaction, 0x60, newDescBuf().i32(0).b), ""},
	})
}

func TestDescribeXactPrepareOrigin(t *testing.T) {
	prepare := newDescBuf().
		u32(0x57F94534).u32(0).u32(900).u32(5).i64(descTS).u32(10).
		i32(0).i32(0).i32(0).i32(0).i32(0).i32(0).
		u8(0).pad(1).u16(4).u64(0xAB).i64(descTS).cstr("gx2").alignTo(8).b
	r := descRecord(RmgrTransaction, 0x10, prepare)
	r.HasOrigin, r.Origin = true, 1
	want := "gid gx2: " + descTSUTC + "; origin: node 1, lsn 0/AB, at " + descTSUTC
	if got := DescribeIn(r, time.UTC); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestDescribeTimestampZones(t *testing.T) {
	r := descRecord(RmgrTransaction, 0x00, newDescBuf().i64(descTS).b)
	cases := []struct {
		loc  *time.Location
		want string
	}{
		{time.UTC, "2024-05-01 12:34:56.789012 UTC"},
		{time.FixedZone("CEST", 2*3600), "2024-05-01 14:34:56.789012 CEST"},
		{time.FixedZone("EST", -5*3600), "2024-05-01 07:34:56.789012 EST"},
		{time.FixedZone("+0530", 5*3600+1800), "2024-05-01 18:04:56.789012 +0530"},
	}
	for _, c := range cases {
		if got := DescribeIn(r, c.loc); got != c.want {
			t.Errorf("%s: got %q want %q", c.loc, got, c.want)
		}
	}
	// Before 2000 the C arithmetic truncates toward zero: the seconds
	// round up and the microseconds print negative.
	r = descRecord(RmgrTransaction, 0x00, newDescBuf().i64(-1).b)
	if got, want := DescribeIn(r, time.UTC), "2000-01-01 00:00:00.-00001 UTC"; got != want {
		t.Errorf("pre-2000: got %q want %q", got, want)
	}
	r = descRecord(RmgrTransaction, 0x00, newDescBuf().i64(0).b)
	if got, want := DescribeIn(r, time.UTC), "2000-01-01 00:00:00.000000 UTC"; got != want {
		t.Errorf("epoch: got %q want %q", got, want)
	}
	// Describe uses time.Local; AppendDescription with nil does too.
	if got, want := Describe(r), string(AppendDescription(nil, r, time.Local)); got != want {
		t.Errorf("Describe %q != AppendDescription(Local) %q", got, want)
	}
}

func TestDescribeXLOG(t *testing.T) {
	checkpoint := func() *descBuf {
		return newDescBuf().u64(0x1500028).u32(1).u32(1).u8(1).pad(7).
			u64(735).u32(24576).u32(1).u32(0).u32(716).u32(1).u32(1).u32(1).pad(4).
			i64(1714566896).u32(0).u32(0).u32(0).pad(4)
	}
	restore := newDescBuf().i64(descTS).cstr("before_upgrade")
	restore.pad(72 - len(restore.b))
	runDescribeCases(t, []describeCase{
		{"checkpoint shutdown", descRecord(RmgrXLOG, 0x00, checkpoint().b),
			"redo 0/1500028; tli 1; prev tli 1; fpw true; xid 0:735; oid 24576; multi 1; offset 0; " +
				"oldest xid 716 in DB 1; oldest multi 1 in DB 1; oldest/newest commit timestamp xid: 0/0; " +
				"oldest running xid 0; shutdown"},
		{"checkpoint online", descRecord(RmgrXLOG, 0x10,
			newDescBuf().u64(0x1_0000_0028).u32(2).u32(1).u8(0).pad(7).
				u64(3<<32|99).u32(1).u32(2).u32(3).u32(4).u32(5).u32(6).u32(7).pad(4).
				i64(0).u32(8).u32(9).u32(10).pad(4).b),
			"redo 1/28; tli 2; prev tli 1; fpw false; xid 3:99; oid 1; multi 2; offset 3; " +
				"oldest xid 4 in DB 5; oldest multi 6 in DB 7; oldest/newest commit timestamp xid: 8/9; " +
				"oldest running xid 10; online"},
		{"noop", descRecord(RmgrXLOG, 0x20, nil), ""},
		{"nextoid", descRecord(RmgrXLOG, 0x30, newDescBuf().u32(32768).b), "32768"},
		{"switch", descRecord(RmgrXLOG, 0x40, nil), ""},
		{"backup end", descRecord(RmgrXLOG, 0x50, newDescBuf().u64(0x2000028).b), "0/2000028"},
		{"parameter change", descRecord(RmgrXLOG, 0x60,
			newDescBuf().i32(100).i32(8).i32(10).i32(0).i32(64).i32(1).u8(0).u8(0).pad(2).b),
			"max_connections=100 max_worker_processes=8 max_wal_senders=10 max_prepared_xacts=0 " +
				"max_locks_per_xact=64 wal_level=replica wal_log_hints=off track_commit_timestamp=off"},
		{"parameter change logical", descRecord(RmgrXLOG, 0x60,
			newDescBuf().i32(1).i32(2).i32(3).i32(4).i32(5).i32(2).u8(1).u8(1).pad(2).b),
			"max_connections=1 max_worker_processes=2 max_wal_senders=3 max_prepared_xacts=4 " +
				"max_locks_per_xact=5 wal_level=logical wal_log_hints=on track_commit_timestamp=on"},
		{"parameter change bad level", descRecord(RmgrXLOG, 0x60,
			newDescBuf().i32(1).i32(2).i32(3).i32(4).i32(5).i32(7).u8(0).u8(1).pad(2).b),
			"max_connections=1 max_worker_processes=2 max_wal_senders=3 max_prepared_xacts=4 " +
				"max_locks_per_xact=5 wal_level=? wal_log_hints=off track_commit_timestamp=on"},
		{"restore point", descRecord(RmgrXLOG, 0x70, restore.b), "before_upgrade"},
		{"fpw change", descRecord(RmgrXLOG, 0x80, []byte{0}), "false"},
		{"fpw change on", descRecord(RmgrXLOG, 0x80, []byte{1}), "true"},
		{"end of recovery", descRecord(RmgrXLOG, 0x90, newDescBuf().i64(descTS).u32(2).u32(1).b),
			"tli 2; prev tli 1; time " + descTSUTC},
		{"fpi for hint", descRecord(RmgrXLOG, 0xA0, nil, descImageBlock(0, true)), ""},
		{"fpi", descRecord(RmgrXLOG, 0xB0, nil, descImageBlock(0, true), descImageBlock(1, true)), ""},
		{"overwrite contrecord", descRecord(RmgrXLOG, 0xD0, newDescBuf().u64(0x3FFFFF8).i64(descTS).b),
			"lsn 0/3FFFFF8; time " + descTSUTC},
	})
}

func TestDescribeStandby(t *testing.T) {
	runDescribeCases(t, []describeCase{
		{"running xacts", descRecord(RmgrStandby, 0x10,
			newDescBuf().i32(2).i32(0).u8(1).pad(3).u32(740).u32(738).u32(739).u32(738).u32(739).b),
			"nextXid 740 latestCompletedXid 739 oldestRunningXid 738; 2 xacts: 738 739; subxid ovf"},
		{"running xacts empty", descRecord(RmgrStandby, 0x10,
			newDescBuf().i32(0).i32(0).u8(0).pad(3).u32(735).u32(735).u32(734).b),
			"nextXid 735 latestCompletedXid 734 oldestRunningXid 735"},
		{"lock", descRecord(RmgrStandby, 0x00, newDescBuf().i32(2).u32(740).u32(5).u32(16384).u32(741).u32(0).u32(1262).b),
			"xid 740 db 5 rel 16384 xid 741 db 0 rel 1262 "},
		{"invalidations", descRecord(RmgrStandby, 0x20,
			newDescBuf().u32(5).u32(1663).u8(1).pad(3).i32(1).u8(0xFF).pad(3).u32(5).u32(2615).pad(4).b),
			"; relcache init file inval dbid 5 tsid 1663; inval msgs: catalog 2615"},
		{"invalidations none", descRecord(RmgrStandby, 0x20, newDescBuf().u32(5).u32(1663).u8(1).pad(3).i32(0).b), ""},
	})
}

func TestDescribeSmallRmgrs(t *testing.T) {
	runDescribeCases(t, []describeCase{
		{"smgr create", descRecord(RmgrStorage, 0x10, newDescBuf().rel(1663, 5, 16384).i32(0).b), "base/5/16384"},
		{"smgr create global vm", descRecord(RmgrStorage, 0x10, newDescBuf().rel(1664, 0, 1262).i32(2).b), "global/1262_vm"},
		{"smgr create tblspc init", descRecord(RmgrStorage, 0x10, newDescBuf().rel(16500, 5, 16390).i32(3).b),
			"pg_tblspc/16500/PG_15_202209061/5/16390_init"},
		{"smgr create fsm", descRecord(RmgrStorage, 0x10, newDescBuf().rel(1663, 5, 16384).i32(1).b), "base/5/16384_fsm"},
		{"smgr truncate", descRecord(RmgrStorage, 0x20, newDescBuf().u32(3).rel(1663, 5, 16384).i32(7).b),
			"base/5/16384 to 3 blocks flags 7"},
		{"clog zeropage", descRecord(RmgrCLOG, 0x00, newDescBuf().i32(2).b), "page 2"},
		{"clog truncate", descRecord(RmgrCLOG, 0x10, newDescBuf().i32(1).u32(40000).u32(5).b), "page 1; oldestXact 40000"},
		{"mxact zero off", descRecord(RmgrMultiXact, 0x00, newDescBuf().i32(0).b), "0"},
		{"mxact zero mem", descRecord(RmgrMultiXact, 0x10, newDescBuf().i32(12).b), "12"},
		{"mxact create", descRecord(RmgrMultiXact, 0x20,
			newDescBuf().u32(5).u32(9).i32(7).
				u32(750).u32(0).u32(751).u32(1).u32(752).u32(2).u32(753).u32(3).u32(754).u32(4).u32(755).u32(5).u32(756).u32(9).b),
			"5 offset 9 nmembers 7: 750 (keysh) 751 (sh) 752 (fornokeyupd) 753 (forupd) 754 (nokeyupd) 755 (upd) 756 (unk) "},
		{"mxact truncate", descRecord(RmgrMultiXact, 0x30, newDescBuf().u32(1).u32(1).u32(5).u32(1).u32(9).b),
			"offsets [1, 5), members [1, 9)"},
		{"relmap", descRecord(RmgrRelMap, 0x00, append(newDescBuf().u32(0).u32(1664).i32(512).b, make([]byte, 512)...)),
			"database 0 tablespace 1664 size 512"},
		{"dbase copy", descRecord(RmgrDatabase, 0x00, newDescBuf().u32(16384).u32(1663).u32(1).u32(1663).b),
			"copy dir 1663/1 to 1663/16384"},
		{"dbase wal log", descRecord(RmgrDatabase, 0x10, newDescBuf().u32(16384).u32(1663).b), "create dir 1663/16384"},
		{"dbase drop", descRecord(RmgrDatabase, 0x20, newDescBuf().u32(16384).i32(2).u32(1663).u32(16500).b),
			"dir 1663/16384 16500/16384"},
		{"tblspc create", descRecord(RmgrTablespace, 0x00, newDescBuf().u32(16500).cstr("/mnt/ts").b), `16500 "/mnt/ts"`},
		{"tblspc drop", descRecord(RmgrTablespace, 0x10, newDescBuf().u32(16500).b), "16500"},
		{"seq", descRecord(RmgrSequence, 0x00, append(newDescBuf().rel(1663, 5, 16390).b, make([]byte, 40)...)),
			"rel 1663/5/16390"},
		{"logical message", descRecord(RmgrLogicalMessage, 0x00,
			newDescBuf().u32(5).u8(1).pad(3).u64(4).u64(3).cstr("abc").raw('x', 'y', 'z').b),
			`transactional, prefix "abc"; payload (3 bytes): 78 79 7A`},
		{"logical message nontx empty", descRecord(RmgrLogicalMessage, 0x00,
			newDescBuf().u32(5).u8(0).pad(3).u64(2).u64(0).cstr("p").b),
			`non-transactional, prefix "p"; payload (0 bytes): `},
		{"committs zeropage", descRecord(RmgrCommitTs, 0x00, newDescBuf().i32(3).b), "3"},
		{"committs truncate", descRecord(RmgrCommitTs, 0x10, newDescBuf().i32(2).u32(100).b), "pageno 2, oldestXid 100"},
		{"replorigin set", descRecord(RmgrReplicationOrigin, 0x00, newDescBuf().u64(0x5000).u16(1).u8(1).pad(5).b),
			"set 1; lsn 0/5000; force: 1"},
		{"replorigin drop", descRecord(RmgrReplicationOrigin, 0x10, newDescBuf().u16(1).b), "drop 1"},
		{"generic empty", descRecord(RmgrGeneric, 0x00, nil, descDataBlock(0, []byte{1, 2, 3})), ""},
		{"generic fragments", descRecord(RmgrGeneric, 0x00, newDescBuf().u16(10).u16(2).raw(1, 2).u16(20).u16(0).b),
			"offset 10, length 2; offset 20, length 0"},
		{"custom", descRecord(130, 0x10, []byte{1, 2}), "rmid: 130"},
	})
}

func TestDescribeIndexAMs(t *testing.T) {
	// ginxlogRecompressDataLeaf with ADDITEMS, REPLACE and DELETE actions.
	leaf := newDescBuf().u16(3).
		u8(0).u8(4).u16(2).pad(12).                    // segno 0: add 2 items
		u8(1).u8(3).pad(6).u16(3).raw(1, 2, 3).pad(1). // segno 1: replace, 3-byte posting list
		u8(2).u8(1).b                                  // segno 2: delete
	runDescribeCases(t, []describeCase{
		{"hash init meta", descRecord(RmgrHash, 0x00, newDescBuf().f64(0).u32(450).u16(307).pad(2).b),
			"num_tuples 0, fillfactor 307"},
		{"hash init meta big", descRecord(RmgrHash, 0x00, newDescBuf().f64(1234567).u32(450).u16(75).pad(2).b),
			"num_tuples 1.23457e+06, fillfactor 75"},
		{"hash init bitmap", descRecord(RmgrHash, 0x10, newDescBuf().u16(4096).b), "bmsize 4096"},
		{"hash insert", descRecord(RmgrHash, 0x20, newDescBuf().u16(5).b), "off 5"},
		{"hash add ovfl", descRecord(RmgrHash, 0x30, newDescBuf().u16(4096).u8(1).b), "bmsize 4096, bmpage_found T"},
		{"hash split alloc", descRecord(RmgrHash, 0x40, newDescBuf().u32(4).u16(1).u16(2).u8(2).b),
			"new_bucket 4, meta_page_masks_updated F, issplitpoint_changed T"},
		{"hash split page", descRecord(RmgrHash, 0x50, nil), ""},
		{"hash split complete", descRecord(RmgrHash, 0x60, newDescBuf().u16(1).u16(2).b), "old_bucket_flag 1, new_bucket_flag 2"},
		{"hash move", descRecord(RmgrHash, 0x70, newDescBuf().u16(7).u8(0).b), "ntups 7, is_primary F"},
		{"hash squeeze", descRecord(RmgrHash, 0x80, newDescBuf().u32(3).u32(4294967295).u16(2).u8(1).u8(0).b),
			"prevblkno 3, nextblkno 4294967295, ntups 2, is_primary T"},
		{"hash delete", descRecord(RmgrHash, 0x90, newDescBuf().u8(1).u8(0).b), "clear_dead_marking T, is_primary F"},
		{"hash split cleanup", descRecord(RmgrHash, 0xA0, nil), ""},
		{"hash update meta", descRecord(RmgrHash, 0xB0, newDescBuf().f64(100000).b), "ntuples 100000"},
		{"hash update meta frac", descRecord(RmgrHash, 0xB0, newDescBuf().f64(0.5).b), "ntuples 0.5"},
		{"hash vacuum one", descRecord(RmgrHash, 0xC0, newDescBuf().u32(900).i32(3).b), "ntuples 3, latestRemovedXid 900"},

		{"gin create ptree", descRecord(RmgrGin, 0x10, newDescBuf().u32(10).b), ""},
		{"gin insert entry leaf", descRecord(RmgrGin, 0x20, newDescBuf().u16(rdGinInsertIsLeaf).b,
			descDataBlock(0, newDescBuf().u16(3).u8(1).b)), "isdata: F isleaf: T isdelete: T"},
		{"gin insert entry inner", descRecord(RmgrGin, 0x20, newDescBuf().u16(0).blockID(5).blockID(6).b,
			descDataBlock(0, newDescBuf().u16(3).u8(0).b)), "isdata: F isleaf: F children: 5/6 isdelete: F"},
		{"gin insert data inner", descRecord(RmgrGin, 0x20, newDescBuf().u16(rdGinInsertIsData).blockID(5).blockID(6).b,
			descDataBlock(0, newDescBuf().u16(2).blockID(7).blockID(8).u16(9).b)),
			"isdata: T isleaf: F children: 5/6 pitem: 7-8/9"},
		{"gin insert data leaf", descRecord(RmgrGin, 0x20, newDescBuf().u16(rdGinInsertIsData|rdGinInsertIsLeaf).b,
			descDataBlock(0, leaf)), "isdata: T isleaf: T 3 segments: 0 (add 2 items) 1 (replace) 2 (delete)"},
		{"gin insert image", descRecord(RmgrGin, 0x20, newDescBuf().u16(rdGinInsertIsData|rdGinInsertIsLeaf).b,
			descImageBlock(0, true)), "isdata: T isleaf: T (full page image)"},
		{"gin insert verify image", descRecord(RmgrGin, 0x20, newDescBuf().u16(rdGinInsertIsLeaf).b,
			descImageBlock(0, false)), "isdata: F isleaf: T (full page image, for WAL verification)"},
		{"gin split", descRecord(RmgrGin, 0x30, newDescBuf().rel(1663, 5, 1).u32(1).u32(2).u32(3).u16(0x05).pad(2).b),
			"isrootsplit: T isdata: T isleaf: F"},
		{"gin vacuum page", descRecord(RmgrGin, 0x40, nil), ""},
		{"gin vacuum data leaf", descRecord(RmgrGin, 0x90, nil, descDataBlock(0, newDescBuf().u16(1).u8(0).u8(9).b)),
			" 1 segments: 0 unknown action 9 ???"},
		{"gin vacuum data leaf image", descRecord(RmgrGin, 0x90, nil, descImageBlock(0, true)), " (full page image)"},
		{"gin delete page", descRecord(RmgrGin, 0x50, newDescBuf().u16(1).pad(2).u32(2).u32(3).b), ""},
		{"gin update meta", descRecord(RmgrGin, 0x60, make([]byte, 84)), ""},
		{"gin insert listpage", descRecord(RmgrGin, 0x70, newDescBuf().u32(0).i32(1).b), ""},
		{"gin delete listpage", descRecord(RmgrGin, 0x80, newDescBuf().pad(56).i32(4).pad(4).b), "ndeleted: 4"},

		{"gist page update", descRecord(RmgrGist, 0x00, newDescBuf().u16(1).u16(1).b), ""},
		{"gist reuse", descRecord(RmgrGist, 0x20, newDescBuf().rel(1663, 5, 16400).u32(7).u64(900).b),
			"rel 1663/5/16400; blk 7; latestRemovedXid 0:900"},
		{"gist delete", descRecord(RmgrGist, 0x10, newDescBuf().u32(900).u16(3).b), "delete: latestRemovedXid 900, nitems: 3"},
		{"gist split", descRecord(RmgrGist, 0x30, newDescBuf().u32(1).pad(4).u64(0).u8(1).pad(1).u16(2).u8(1).pad(3).b),
			"page_split: splits to 2 pages"},
		{"gist page delete", descRecord(RmgrGist, 0x60, newDescBuf().u64(2<<32|901).u16(4).b), "deleteXid 2:901; downlink 4"},
		{"gist assign lsn", descRecord(RmgrGist, 0x70, nil), ""},

		{"spg add leaf", descRecord(RmgrSPGist, 0x10, newDescBuf().u8(1).u8(0).u16(5).u16(0).u16(1).u16(2).b),
			"off: 5, headoff: 0, parentoff: 1, nodeI: 2 (newpage)"},
		{"spg add leaf nulls", descRecord(RmgrSPGist, 0x10, newDescBuf().u8(0).u8(1).u16(5).u16(6).u16(7).u16(8).b),
			"off: 5, headoff: 6, parentoff: 7, nodeI: 8 (nulls)"},
		{"spg move leafs", descRecord(RmgrSPGist, 0x20, newDescBuf().u16(3).u8(1).u8(1).u8(1).pad(1).u16(4).u16(5).b),
			"nmoves: 3, parentoff: 4, nodeI: 5 (newpage) (replacedead) (nulls)"},
		{"spg add node", descRecord(RmgrSPGist, 0x30, newDescBuf().u16(1).u16(2).u8(1).u8(0xFF).u16(0).u16(0).b),
			"off: 1, newoff: 2, parentBlk: -1, parentoff: 0, nodeI: 0 (newpage)"},
		{"spg split tuple", descRecord(RmgrSPGist, 0x40, newDescBuf().u16(1).u16(2).u8(0).u8(1).b),
			"prefixoff: 1, postfixoff: 2 (same)"},
		{"spg picksplit", descRecord(RmgrSPGist, 0x50,
			newDescBuf().u8(1).pad(1).u16(3).u16(4).u8(0).u8(0).u16(1).u8(0).u8(0).u8(1).pad(1).u16(2).u16(3).b),
			"ndelete: 3, ninsert: 4, inneroff: 1, parentoff: 2, nodeI: 3 (innerIsParent) (isRootSplit)"},
		{"spg vacuum leaf", descRecord(RmgrSPGist, 0x60, newDescBuf().u16(1).u16(2).u16(3).u16(4).b),
			"ndead: 1, nplaceholder: 2, nmove: 3, nchain: 4"},
		{"spg vacuum root", descRecord(RmgrSPGist, 0x70, newDescBuf().u16(6).b), "ndelete: 6"},
		{"spg vacuum redirect", descRecord(RmgrSPGist, 0x80, newDescBuf().u16(2).u16(9).u32(1000).b),
			"ntoplaceholder: 2, firstplaceholder: 9, newestredirectxid: 1000"},

		{"brin create", descRecord(RmgrBRIN, 0x00, newDescBuf().u32(128).u16(1).b), "v1 pagesPerRange 128"},
		{"brin insert", descRecord(RmgrBRIN, 0x10, newDescBuf().u32(0).u32(128).u16(1).b), "heapBlk 0 pagesPerRange 128 offnum 1"},
		{"brin insert+init", descRecord(RmgrBRIN, 0x90, newDescBuf().u32(0).u32(128).u16(1).b), "heapBlk 0 pagesPerRange 128 offnum 1"},
		{"brin update", descRecord(RmgrBRIN, 0x20, newDescBuf().u16(2).pad(2).u32(10).u32(128).u16(3).b),
			"heapBlk 10 pagesPerRange 128 old offnum 2, new offnum 3"},
		{"brin samepage", descRecord(RmgrBRIN, 0x30, newDescBuf().u16(1).b), "offnum 1"},
		{"brin revmap", descRecord(RmgrBRIN, 0x40, newDescBuf().u32(2).b), "targetBlk 2"},
		{"brin desummarize", descRecord(RmgrBRIN, 0x50, newDescBuf().u32(128).u32(256).u16(3).b),
			"pagesPerRange 128, heapBlk 256, page offset 3"},
	})
}

func TestDescribeCFloatG(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-2.5, "-2.5"}, {100000, "100000"}, {999999, "999999"},
		{1e6, "1e+06"}, {1234567, "1.23457e+06"}, {0.0001, "0.0001"}, {0.00001, "1e-05"},
		{123.456789, "123.457"}, {1e100, "1e+100"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
	}
	for _, c := range cases {
		if got := string(rdAppendCFloatG(nil, c.f)); got != c.want {
			t.Errorf("%%g of %v = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestDescribeTruncated(t *testing.T) {
	cases := []describeCase{
		{"heap insert empty", descRecord(RmgrHeap, 0x00, nil), "<truncated>"},
		{"heap update short", descRecord(RmgrHeap, 0x20, make([]byte, 13)), "<truncated>"},
		{"heap truncate relids", descRecord(RmgrHeap, 0x30, newDescBuf().u32(5).u32(3).u8(0).pad(3).u32(16384).b),
			"nrelids 3 relids 16384 <truncated>"},
		{"btree meta cleanup no block", descRecord(RmgrBtree, 0xE0, nil), "<truncated>"},
		{"xact commit empty", descRecord(RmgrTransaction, 0x00, nil), "<truncated>"},
		{"xact commit no xinfo", descRecord(RmgrTransaction, 0x80, newDescBuf().i64(descTS).b), descTSUTC + " <truncated>"},
		{"xact commit subxacts short", descRecord(RmgrTransaction, 0x80,
			newDescBuf().i64(descTS).u32(XactXinfoHasSubxacts).i32(3).u32(1).b),
			descTSUTC + "; subxacts: 1 <truncated>"},
		{"xact commit huge count", descRecord(RmgrTransaction, 0x80,
			newDescBuf().i64(descTS).u32(XactXinfoHasRelfilenodes).i32(math.MaxInt32).b),
			descTSUTC + "; rels: <truncated>"},
		{"xact commit origin short", descRecord(RmgrTransaction, 0x80,
			newDescBuf().i64(descTS).u32(XactXinfoHasOrigin).u32(1).b),
			descTSUTC + " <truncated>"},
		{"xact prepare short", descRecord(RmgrTransaction, 0x10, make([]byte, 71)), "<truncated>"},
		{"checkpoint short", descRecord(RmgrXLOG, 0x00, make([]byte, 80)), "<truncated>"},
		{"restore point no nul", descRecord(RmgrXLOG, 0x70, append(make([]byte, 8), 'a', 'b')), "ab <truncated>"},
		{"running xacts short", descRecord(RmgrStandby, 0x10,
			newDescBuf().i32(2).i32(0).u8(0).pad(3).u32(740).u32(738).u32(739).u32(738).b),
			"nextXid 740 latestCompletedXid 739 oldestRunningXid 738; 2 xacts: 738 <truncated>"},
		{"standby lock short", descRecord(RmgrStandby, 0x00, newDescBuf().i32(2).u32(740).u32(5).u32(16384).b),
			"xid 740 db 5 rel 16384 <truncated>"},
		{"logical message short payload", descRecord(RmgrLogicalMessage, 0x00,
			newDescBuf().u32(5).u8(1).pad(3).u64(2).u64(5).cstr("p").raw(0xAB).b),
			`transactional, prefix "p"; payload (5 bytes): AB <truncated>`},
		{"tblspc create no nul", descRecord(RmgrTablespace, 0x00, newDescBuf().u32(1).raw('/', 'x').b), `1 "/x" <truncated>`},
		{"gin insert no block", descRecord(RmgrGin, 0x20, newDescBuf().u16(rdGinInsertIsLeaf).b), "isdata: F isleaf: T <truncated>"},
		{"gin leaf actions short", descRecord(RmgrGin, 0x90, nil, descDataBlock(0, newDescBuf().u16(2).u8(0).u8(1).b)),
			" 2 segments: 0 (delete) <truncated>"},
		{"generic short", descRecord(RmgrGeneric, 0x00, []byte{1, 2}), "<truncated>"},
	}
	runDescribeCases(t, cases)
}

// TestDescribeNeverPanics feeds every rmgr id and xl_info value with main
// and block data of many lengths and contents.
func TestDescribeNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	lengths := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 20, 23, 24, 25, 26, 30, 34, 36, 40, 60, 72, 80, 88, 100, 200}
	fills := []func(i int) byte{
		func(int) byte { return 0 },
		func(int) byte { return 0xFF },
		func(int) byte { return byte(rng.Intn(256)) },
		func(i int) byte { return byte(i) },
	}
	rmids := make([]RmgrID, 0, 32)
	for id := 0; id <= int(RmgrMaxBuiltin)+1; id++ {
		rmids = append(rmids, RmgrID(id))
	}
	rmids = append(rmids, RmgrMinCustom, 255)
	for _, rmid := range rmids {
		for info := 0; info < 256; info++ {
			for _, n := range lengths {
				for fi, fill := range fills {
					data := make([]byte, n)
					for i := range data {
						data[i] = fill(i)
					}
					var blocks []DecodedBkpBlock
					switch fi {
					case 1:
						blocks = []DecodedBkpBlock{descDataBlock(0, data)}
					case 2:
						blocks = []DecodedBkpBlock{descImageBlock(0, info&1 == 0), descDataBlock(1, data)}
					}
					r := descRecord(rmid, uint8(info), data, blocks...)
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Fatalf("Describe(rmid %d, info 0x%02X, %d bytes fill %d) panicked: %v", rmid, info, n, fi, p)
							}
						}()
						_ = DescribeIn(r, time.UTC)
						_ = string(AppendWaldumpLine(nil, r, time.UTC, fi%2 == 0))
					}()
				}
			}
		}
	}
}

func FuzzDescribe(f *testing.F) {
	f.Add(uint8(RmgrTransaction), uint8(0x80), newDescBuf().i64(descTS).u32(0x3F).b, []byte{})
	f.Add(uint8(RmgrHeap), uint8(0x30), newDescBuf().u32(5).u32(2).u8(3).pad(3).u32(1).b, []byte{})
	f.Add(uint8(RmgrGin), uint8(0x20), newDescBuf().u16(3).b, []byte{2, 0, 0, 4, 1, 0})
	f.Add(uint8(RmgrLogicalMessage), uint8(0), make([]byte, 30), []byte{})
	f.Fuzz(func(t *testing.T, rmid, info uint8, data, blk []byte) {
		r := descRecord(RmgrID(rmid), info, data, descDataBlock(0, blk))
		_ = DescribeIn(r, time.UTC)
	})
}

func TestDescribeWaldumpLine(t *testing.T) {
	r := descRecord(RmgrHeap, 0x00, newDescBuf().u16(5).u8(0x08).b, descDataBlock(0, make([]byte, 27)))
	r.Header.TotLen, r.Header.Xid = 59, 735
	r.LSN, r.Header.Prev = 0x1500790, 0x1500758
	want := "rmgr: Heap        len (rec/tot):     59/    59, tx:        735, lsn: 0/01500790, prev 0/01500758, " +
		"desc: INSERT off 5 flags 0x08, blkref #0: rel 1663/5/16384 blk 0\n"
	if got := string(AppendWaldumpLine(nil, r, time.UTC, false)); got != want {
		t.Errorf("short:\n got %q\nwant %q", got, want)
	}
	want = "rmgr: Heap        len (rec/tot):     59/    59, tx:        735, lsn: 0/01500790, prev 0/01500758, " +
		"desc: INSERT off 5 flags 0x08\n\tblkref #0: rel 1663/5/16384 fork main blk 0\n"
	if got := string(AppendWaldumpLine(nil, r, time.UTC, true)); got != want {
		t.Errorf("detailed:\n got %q\nwant %q", got, want)
	}

	// An FPI with a compressed image of a VM page and one for verification.
	img := descImageBlock(0, true)
	img.Tag.Fork, img.Tag.Block = VisibilityMapFork, 3
	img.BimgLen, img.HoleOffset, img.HoleLength = 100, 40, 8000
	img.BimgInfo = BkpImageApply | BkpImageHasHole | BkpImageCompressLZ4
	ver := descImageBlock(1, false)
	ver.BimgLen, ver.HoleOffset, ver.HoleLength = 8000, 200, 192
	r = descRecord(RmgrXLOG, 0xB0, nil, img, ver)
	r.Header.TotLen = 8160
	r.LSN, r.Header.Prev = 0x1_0000_0028, 0xFFFF_FF00
	want = "rmgr: XLOG        len (rec/tot):     60/  8160, tx:          0, lsn: 1/00000028, prev 0/FFFFFF00, " +
		"desc: FPI , blkref #0: rel 1663/5/16384 fork vm blk 3 FPW, blkref #1: rel 1663/5/16384 blk 0 FPW for WAL verification\n"
	if got := string(AppendWaldumpLine(nil, r, time.UTC, false)); got != want {
		t.Errorf("fpi short:\n got %q\nwant %q", got, want)
	}
	want = "rmgr: XLOG        len (rec/tot):     60/  8160, tx:          0, lsn: 1/00000028, prev 0/FFFFFF00, desc: FPI \n" +
		"\tblkref #0: rel 1663/5/16384 fork vm blk 3 (FPW); hole: offset: 40, length: 8000, compression saved: 92, method: lz4\n" +
		"\tblkref #1: rel 1663/5/16384 fork main blk 0 (FPW for WAL verification); hole: offset: 200, length: 192\n"
	if got := string(AppendWaldumpLine(nil, r, time.UTC, true)); got != want {
		t.Errorf("fpi detailed:\n got %q\nwant %q", got, want)
	}

	// Unknown type and a block-less record.
	r = descRecord(RmgrTransaction, 0xF0, nil)
	r.Header.TotLen = 24
	if got := string(AppendWaldumpLine(nil, r, time.UTC, false)); !strings.Contains(got, "desc: UNKNOWN (f0) \n") ||
		!strings.HasPrefix(got, "rmgr: Transaction len (rec/tot):     24/    24, ") {
		t.Errorf("unknown: got %q", got)
	}
}
