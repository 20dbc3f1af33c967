package schema

// Heap and Heap2 WAL record layouts (access/heapam_xlog.h, PostgreSQL 15,
// x86-64), decoded here only: redo (redo/heap.go, redo/heap2.go), the
// descriptions (rmgrdesc_heap.go) and the pages a record changes
// (touched.go) all use these. See xlogdecode.go for the conventions.

// Heap record opcodes (XLOG_HEAP_*), xl_info & XLOG_HEAP_OPMASK.
const (
	XLogHeapInsert    uint8 = 0x00 // XLOG_HEAP_INSERT
	XLogHeapDelete    uint8 = 0x10 // XLOG_HEAP_DELETE
	XLogHeapUpdate    uint8 = 0x20 // XLOG_HEAP_UPDATE
	XLogHeapTruncate  uint8 = 0x30 // XLOG_HEAP_TRUNCATE
	XLogHeapHotUpdate uint8 = 0x40 // XLOG_HEAP_HOT_UPDATE
	XLogHeapConfirm   uint8 = 0x50 // XLOG_HEAP_CONFIRM
	XLogHeapLock      uint8 = 0x60 // XLOG_HEAP_LOCK
	XLogHeapInplace   uint8 = 0x70 // XLOG_HEAP_INPLACE
	XLogHeapOpMask    uint8 = 0x70 // XLOG_HEAP_OPMASK
	// XLogHeapInitPage marks a record whose target page is rebuilt from
	// nothing (XLOG_HEAP_INIT_PAGE); Heap2 MULTI_INSERT uses it too.
	XLogHeapInitPage uint8 = 0x80
)

// Heap2 record opcodes (XLOG_HEAP2_*), xl_info & XLOG_HEAP_OPMASK.
const (
	XLogHeap2Rewrite     uint8 = 0x00 // XLOG_HEAP2_REWRITE
	XLogHeap2Prune       uint8 = 0x10 // XLOG_HEAP2_PRUNE
	XLogHeap2Vacuum      uint8 = 0x20 // XLOG_HEAP2_VACUUM
	XLogHeap2FreezePage  uint8 = 0x30 // XLOG_HEAP2_FREEZE_PAGE
	XLogHeap2Visible     uint8 = 0x40 // XLOG_HEAP2_VISIBLE
	XLogHeap2MultiInsert uint8 = 0x50 // XLOG_HEAP2_MULTI_INSERT
	XLogHeap2LockUpdated uint8 = 0x60 // XLOG_HEAP2_LOCK_UPDATED
	XLogHeap2NewCid      uint8 = 0x70 // XLOG_HEAP2_NEW_CID
)

// Flags of xl_heap_insert and xl_heap_multi_insert.
const (
	XLHInsertAllVisibleCleared    uint8 = 1 << 0 // XLH_INSERT_ALL_VISIBLE_CLEARED
	XLHInsertLastInMulti          uint8 = 1 << 1 // XLH_INSERT_LAST_IN_MULTI
	XLHInsertIsSpeculative        uint8 = 1 << 2 // XLH_INSERT_IS_SPECULATIVE
	XLHInsertContainsNewTuple     uint8 = 1 << 3 // XLH_INSERT_CONTAINS_NEW_TUPLE
	XLHInsertOnToastRelation      uint8 = 1 << 4 // XLH_INSERT_ON_TOAST_RELATION
	XLHInsertAllFrozenSet         uint8 = 1 << 5 // XLH_INSERT_ALL_FROZEN_SET
	XLHUpdateOldAllVisibleCleared uint8 = 1 << 0 // XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED
	XLHUpdateNewAllVisibleCleared uint8 = 1 << 1 // XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED
	XLHUpdateContainsOldTuple     uint8 = 1 << 2 // XLH_UPDATE_CONTAINS_OLD_TUPLE
	XLHUpdateContainsOldKey       uint8 = 1 << 3 // XLH_UPDATE_CONTAINS_OLD_KEY
	XLHUpdateContainsNewTuple     uint8 = 1 << 4 // XLH_UPDATE_CONTAINS_NEW_TUPLE
	XLHUpdatePrefixFromOld        uint8 = 1 << 5 // XLH_UPDATE_PREFIX_FROM_OLD
	XLHUpdateSuffixFromOld        uint8 = 1 << 6 // XLH_UPDATE_SUFFIX_FROM_OLD
	XLHDeleteAllVisibleCleared    uint8 = 1 << 0 // XLH_DELETE_ALL_VISIBLE_CLEARED
	XLHDeleteContainsOldTuple     uint8 = 1 << 1 // XLH_DELETE_CONTAINS_OLD_TUPLE
	XLHDeleteContainsOldKey       uint8 = 1 << 2 // XLH_DELETE_CONTAINS_OLD_KEY
	XLHDeleteIsSuper              uint8 = 1 << 3 // XLH_DELETE_IS_SUPER
	XLHDeleteIsPartitionMove      uint8 = 1 << 4 // XLH_DELETE_IS_PARTITION_MOVE
	XLHTruncateCascade            uint8 = 1 << 0 // XLH_TRUNCATE_CASCADE
	XLHTruncateRestartSeqs        uint8 = 1 << 1 // XLH_TRUNCATE_RESTART_SEQS
	XLHLockAllFrozenCleared       uint8 = 0x01   // XLH_LOCK_ALL_FROZEN_CLEARED (xl_heap_lock, xl_heap_lock_updated)
	XLHFreezeXvac                 uint8 = 0x02   // XLH_FREEZE_XVAC (xl_heap_freeze_tuple.frzflags)
	XLHInvalidXvac                uint8 = 0x04   // XLH_INVALID_XVAC
)

// Bits of infobits_set (xl_heap_delete, xl_heap_update, xl_heap_lock,
// xl_heap_lock_updated).
const (
	XLHLXmaxIsMulti    uint8 = 0x01 // XLHL_XMAX_IS_MULTI
	XLHLXmaxLockOnly   uint8 = 0x02 // XLHL_XMAX_LOCK_ONLY
	XLHLXmaxExclLock   uint8 = 0x04 // XLHL_XMAX_EXCL_LOCK
	XLHLXmaxKeyshrLock uint8 = 0x08 // XLHL_XMAX_KEYSHR_LOCK
	XLHLKeysUpdated    uint8 = 0x10 // XLHL_KEYS_UPDATED
)

// Bytes PostgreSQL writes for each struct (SizeOfHeap*).
const (
	SizeOfHeapInsert         = 3  // offnum u16, flags u8
	SizeOfHeapDelete         = 8  // xmax u32, offnum u16, infobits_set u8, flags u8
	SizeOfHeapUpdate         = 14 // old_xmax, old_offnum, old_infobits_set, flags, new_xmax, new_offnum
	SizeOfHeapTruncate       = 12 // dbId, nrelids, flags (+3 pad); relids follow
	SizeOfHeapHeader         = 5  // t_infomask2, t_infomask, t_hoff
	SizeOfHeapConfirm        = 2  // offnum
	SizeOfHeapLock           = 8  // locking_xid, offnum, infobits_set, flags
	SizeOfHeapLockUpdated    = 8  // xmax, offnum, infobits_set, flags
	SizeOfHeapInplace        = 2  // offnum; the tuple data is block 0's
	SizeOfHeapPrune          = 8  // latestRemovedXid, nredirected u16, ndead u16
	SizeOfHeapVacuum         = 2  // nunused
	SizeOfHeapFreezePage     = 6  // cutoff_xid, ntuples u16
	SizeOfHeapFreezeTuple    = 12 // sizeof(xl_heap_freeze_tuple): xmax, offset, t_infomask2, t_infomask, frzflags, pad
	SizeOfHeapVisible        = 5  // cutoff_xid, flags
	SizeOfHeapMultiInsert    = 4  // flags, pad, ntuples u16; offsets follow unless +INIT
	SizeOfMultiInsertTuple   = 7  // datalen, t_infomask2, t_infomask, t_hoff
	SizeOfHeapNewCid         = 34 // top_xid, cmin, cmax, combocid, target_node, target_tid
	SizeOfHeapRewriteMapping = 40 // sizeof(xl_heap_rewrite_mapping)
)

// XlHeapInsert is xl_heap_insert (INSERT). Block 0's data is an
// xl_heap_header and the tuple data.
type XlHeapInsert struct {
	Offnum OffsetNumber
	Flags  uint8 // XLH_INSERT_*
}

// DecodeXlHeapInsert decodes the main data of INSERT.
func DecodeXlHeapInsert(b []byte) (XlHeapInsert, error) {
	if len(b) < SizeOfHeapInsert {
		return XlHeapInsert{}, xlShort("xl_heap_insert", len(b), SizeOfHeapInsert)
	}
	return XlHeapInsert{Offnum: OffsetNumber(xlLE.Uint16(b)), Flags: b[2]}, nil
}

// XlHeapDelete is xl_heap_delete (DELETE).
type XlHeapDelete struct {
	Xmax        uint32
	Offnum      OffsetNumber
	InfobitsSet uint8 // XLHL_*
	Flags       uint8 // XLH_DELETE_*
}

// DecodeXlHeapDelete decodes the main data of DELETE.
func DecodeXlHeapDelete(b []byte) (XlHeapDelete, error) {
	if len(b) < SizeOfHeapDelete {
		return XlHeapDelete{}, xlShort("xl_heap_delete", len(b), SizeOfHeapDelete)
	}
	return XlHeapDelete{Xmax: xlLE.Uint32(b), Offnum: OffsetNumber(xlLE.Uint16(b[4:])), InfobitsSet: b[6], Flags: b[7]}, nil
}

// XlHeapUpdate is xl_heap_update (UPDATE and HOT_UPDATE). Block 0 is the
// new tuple's page (its data: DecodeHeapUpdateNewTuple), block 1 the old
// tuple's when it differs.
type XlHeapUpdate struct {
	OldXmax        uint32
	OldOffnum      OffsetNumber
	OldInfobitsSet uint8 // XLHL_*
	Flags          uint8 // XLH_UPDATE_*
	NewXmax        uint32
	NewOffnum      OffsetNumber
}

// DecodeXlHeapUpdate decodes the main data of UPDATE and HOT_UPDATE.
func DecodeXlHeapUpdate(b []byte) (XlHeapUpdate, error) {
	if len(b) < SizeOfHeapUpdate {
		return XlHeapUpdate{}, xlShort("xl_heap_update", len(b), SizeOfHeapUpdate)
	}
	return XlHeapUpdate{
		OldXmax:        xlLE.Uint32(b),
		OldOffnum:      OffsetNumber(xlLE.Uint16(b[4:])),
		OldInfobitsSet: b[6],
		Flags:          b[7],
		NewXmax:        xlLE.Uint32(b[8:]),
		NewOffnum:      OffsetNumber(xlLE.Uint16(b[12:])),
	}, nil
}

// XlHeapHeader is xl_heap_header: the tuple header fields heap redo does
// not rebuild itself.
type XlHeapHeader struct {
	TInfomask2 uint16
	TInfomask  uint16
	THoff      uint8
}

// DecodeXlHeapHeader decodes the xl_heap_header at the start of b; the
// tuple data (from t_bits on) follows it.
func DecodeXlHeapHeader(b []byte) (XlHeapHeader, error) {
	if len(b) < SizeOfHeapHeader {
		return XlHeapHeader{}, xlShort("xl_heap_header", len(b), SizeOfHeapHeader)
	}
	return XlHeapHeader{TInfomask2: xlLE.Uint16(b), TInfomask: xlLE.Uint16(b[2:]), THoff: b[4]}, nil
}

// HeapUpdateNewTuple is block 0's data of UPDATE and HOT_UPDATE: the
// lengths of the prefix and suffix shared with the old tuple (each
// present only when its XLH_UPDATE_*_FROM_OLD flag is set), the new
// tuple's xl_heap_header and its data without them.
type HeapUpdateNewTuple struct {
	PrefixLen, SuffixLen uint16
	Header               XlHeapHeader
	Data                 []byte
}

// DecodeHeapUpdateNewTuple decodes block 0's data of an update with the
// record's flags.
func DecodeHeapUpdateNewTuple(flags uint8, b []byte) (HeapUpdateNewTuple, error) {
	var t HeapUpdateNewTuple
	want := SizeOfHeapHeader
	if flags&XLHUpdatePrefixFromOld != 0 {
		want += 2
	}
	if flags&XLHUpdateSuffixFromOld != 0 {
		want += 2
	}
	if len(b) < want {
		return t, xlShort("xl_heap_update new tuple", len(b), want)
	}
	if flags&XLHUpdatePrefixFromOld != 0 {
		t.PrefixLen, b = xlLE.Uint16(b), b[2:]
	}
	if flags&XLHUpdateSuffixFromOld != 0 {
		t.SuffixLen, b = xlLE.Uint16(b), b[2:]
	}
	t.Header, _ = DecodeXlHeapHeader(b)
	t.Data = b[SizeOfHeapHeader:]
	return t, nil
}

// XlHeapTruncate is xl_heap_truncate (TRUNCATE, for logical decoding).
type XlHeapTruncate struct {
	DbID    uint32
	Nrelids uint32
	Flags   uint8 // XLH_TRUNCATE_*
	// Relids are the relation OIDs present, at most Nrelids.
	Relids Uint32Array
}

// DecodeXlHeapTruncate decodes the main data of TRUNCATE. Fewer relids
// than Nrelids is not an error here (see Complete).
func DecodeXlHeapTruncate(b []byte) (XlHeapTruncate, error) {
	if len(b) < SizeOfHeapTruncate {
		return XlHeapTruncate{}, xlShort("xl_heap_truncate", len(b), SizeOfHeapTruncate)
	}
	n := xlLE.Uint32(b[4:])
	return XlHeapTruncate{DbID: xlLE.Uint32(b), Nrelids: n, Flags: b[8], Relids: uint32ArrayOf(b[SizeOfHeapTruncate:], int64(n))}, nil
}

// Complete reports an error when fewer than Nrelids relids follow.
func (x XlHeapTruncate) Complete() error {
	return xlComplete("xl_heap_truncate relids", x.Relids.Len(), int64(x.Nrelids))
}

// XlHeapConfirm is xl_heap_confirm (CONFIRM).
type XlHeapConfirm struct {
	Offnum OffsetNumber
}

// DecodeXlHeapConfirm decodes the main data of CONFIRM.
func DecodeXlHeapConfirm(b []byte) (XlHeapConfirm, error) {
	if len(b) < SizeOfHeapConfirm {
		return XlHeapConfirm{}, xlShort("xl_heap_confirm", len(b), SizeOfHeapConfirm)
	}
	return XlHeapConfirm{Offnum: OffsetNumber(xlLE.Uint16(b))}, nil
}

// XlHeapLock is xl_heap_lock (LOCK).
type XlHeapLock struct {
	LockingXid  uint32 // might be a MultiXactId
	Offnum      OffsetNumber
	InfobitsSet uint8 // XLHL_*
	Flags       uint8 // XLH_LOCK_*
}

// DecodeXlHeapLock decodes the main data of LOCK.
func DecodeXlHeapLock(b []byte) (XlHeapLock, error) {
	if len(b) < SizeOfHeapLock {
		return XlHeapLock{}, xlShort("xl_heap_lock", len(b), SizeOfHeapLock)
	}
	return XlHeapLock{LockingXid: xlLE.Uint32(b), Offnum: OffsetNumber(xlLE.Uint16(b[4:])), InfobitsSet: b[6], Flags: b[7]}, nil
}

// XlHeapLockUpdated is xl_heap_lock_updated (Heap2 LOCK_UPDATED).
type XlHeapLockUpdated struct {
	Xmax        uint32
	Offnum      OffsetNumber
	InfobitsSet uint8 // XLHL_*
	Flags       uint8 // XLH_LOCK_*
}

// DecodeXlHeapLockUpdated decodes the main data of LOCK_UPDATED.
func DecodeXlHeapLockUpdated(b []byte) (XlHeapLockUpdated, error) {
	if len(b) < SizeOfHeapLockUpdated {
		return XlHeapLockUpdated{}, xlShort("xl_heap_lock_updated", len(b), SizeOfHeapLockUpdated)
	}
	return XlHeapLockUpdated{Xmax: xlLE.Uint32(b), Offnum: OffsetNumber(xlLE.Uint16(b[4:])), InfobitsSet: b[6], Flags: b[7]}, nil
}

// XlHeapInplace is xl_heap_inplace (INPLACE); the new tuple data is block
// 0's data.
type XlHeapInplace struct {
	Offnum OffsetNumber
}

// DecodeXlHeapInplace decodes the main data of INPLACE.
func DecodeXlHeapInplace(b []byte) (XlHeapInplace, error) {
	if len(b) < SizeOfHeapInplace {
		return XlHeapInplace{}, xlShort("xl_heap_inplace", len(b), SizeOfHeapInplace)
	}
	return XlHeapInplace{Offnum: OffsetNumber(xlLE.Uint16(b))}, nil
}

// XlHeapPrune is xl_heap_prune (Heap2 PRUNE). Block 0's data holds the
// offsets (DecodeHeapPruneOffsets).
type XlHeapPrune struct {
	LatestRemovedXid uint32
	Nredirected      uint16
	Ndead            uint16
}

// DecodeXlHeapPrune decodes the main data of PRUNE.
func DecodeXlHeapPrune(b []byte) (XlHeapPrune, error) {
	if len(b) < SizeOfHeapPrune {
		return XlHeapPrune{}, xlShort("xl_heap_prune", len(b), SizeOfHeapPrune)
	}
	return XlHeapPrune{LatestRemovedXid: xlLE.Uint32(b), Nredirected: xlLE.Uint16(b[4:]), Ndead: xlLE.Uint16(b[6:])}, nil
}

// DecodeHeapPruneOffsets splits PRUNE's block 0 data, an OffsetNumber
// array, into the redirected pairs (from, to), the dead offsets and the
// unused ones (the rest: their count is implied by the data length).
func DecodeHeapPruneOffsets(xl XlHeapPrune, b []byte) (redirected, nowdead, nowunused OffsetNumberArray, err error) {
	if len(b)%2 != 0 {
		return nil, nil, nil, xlBad("xl_heap_prune offsets", "odd length %d", len(b))
	}
	nr, nd := 2*int(xl.Nredirected), int(xl.Ndead)
	if n := len(b) / 2; nr+nd > n {
		return nil, nil, nil, xlBad("xl_heap_prune offsets", "%d offsets, want at least %d redirected and %d dead", n, nr, nd)
	}
	return OffsetNumberArray(b[:2*nr]), OffsetNumberArray(b[2*nr : 2*(nr+nd)]), OffsetNumberArray(b[2*(nr+nd):]), nil
}

// XlHeapVacuum is xl_heap_vacuum (Heap2 VACUUM). Block 0's data holds the
// unused offsets (DecodeHeapVacuumOffsets).
type XlHeapVacuum struct {
	Nunused uint16
}

// DecodeXlHeapVacuum decodes the main data of VACUUM.
func DecodeXlHeapVacuum(b []byte) (XlHeapVacuum, error) {
	if len(b) < SizeOfHeapVacuum {
		return XlHeapVacuum{}, xlShort("xl_heap_vacuum", len(b), SizeOfHeapVacuum)
	}
	return XlHeapVacuum{Nunused: xlLE.Uint16(b)}, nil
}

// DecodeHeapVacuumOffsets returns the Nunused offsets at the start of
// VACUUM's block 0 data, an OffsetNumber array.
func DecodeHeapVacuumOffsets(xl XlHeapVacuum, b []byte) (OffsetNumberArray, error) {
	if len(b)%2 != 0 {
		return nil, xlBad("xl_heap_vacuum offsets", "odd length %d", len(b))
	}
	if n := len(b) / 2; int(xl.Nunused) > n {
		return nil, xlBad("xl_heap_vacuum offsets", "%d offsets, want %d", n, xl.Nunused)
	}
	return OffsetNumberArray(b[:2*int(xl.Nunused)]), nil
}

// XlHeapFreezePage is xl_heap_freeze_page (Heap2 FREEZE_PAGE). Block 0's
// data holds Ntuples xl_heap_freeze_tuple (DecodeXlHeapFreezeTuples).
type XlHeapFreezePage struct {
	CutoffXid uint32
	Ntuples   uint16
}

// DecodeXlHeapFreezePage decodes the main data of FREEZE_PAGE.
func DecodeXlHeapFreezePage(b []byte) (XlHeapFreezePage, error) {
	if len(b) < SizeOfHeapFreezePage {
		return XlHeapFreezePage{}, xlShort("xl_heap_freeze_page", len(b), SizeOfHeapFreezePage)
	}
	return XlHeapFreezePage{CutoffXid: xlLE.Uint32(b), Ntuples: xlLE.Uint16(b[4:])}, nil
}

// XlHeapFreezeTuple is xl_heap_freeze_tuple, PostgreSQL 15's freeze plan
// for one tuple.
type XlHeapFreezeTuple struct {
	Xmax       uint32
	Offset     OffsetNumber
	TInfomask2 uint16
	TInfomask  uint16
	Frzflags   uint8 // XLH_FREEZE_XVAC, XLH_INVALID_XVAC
}

// XlHeapFreezeTuples are FREEZE_PAGE's freeze plans, read in place.
type XlHeapFreezeTuples []byte

// DecodeXlHeapFreezeTuples returns the xl.Ntuples plans at the start of
// block 0's data (bytes after them are ignored, as redo ignores them).
func DecodeXlHeapFreezeTuples(xl XlHeapFreezePage, b []byte) (XlHeapFreezeTuples, error) {
	if want := int(xl.Ntuples) * SizeOfHeapFreezeTuple; len(b) < want {
		return nil, xlShort("xl_heap_freeze_tuple array", len(b), want)
	}
	return XlHeapFreezeTuples(b[:int(xl.Ntuples)*SizeOfHeapFreezeTuple]), nil
}

// Len is the number of plans.
func (a XlHeapFreezeTuples) Len() int { return len(a) / SizeOfHeapFreezeTuple }

// At returns plan k (0 <= k < Len).
func (a XlHeapFreezeTuples) At(k int) XlHeapFreezeTuple {
	b := a[k*SizeOfHeapFreezeTuple:]
	return XlHeapFreezeTuple{
		Xmax:       xlLE.Uint32(b),
		Offset:     OffsetNumber(xlLE.Uint16(b[4:])),
		TInfomask2: xlLE.Uint16(b[6:]),
		TInfomask:  xlLE.Uint16(b[8:]),
		Frzflags:   b[10],
	}
}

// XlHeapVisible is xl_heap_visible (Heap2 VISIBLE). Block 0 is the vm
// page, block 1 the heap page.
type XlHeapVisible struct {
	CutoffXid uint32
	Flags     uint8 // VISIBILITYMAP_*
}

// DecodeXlHeapVisible decodes the main data of VISIBLE.
func DecodeXlHeapVisible(b []byte) (XlHeapVisible, error) {
	if len(b) < SizeOfHeapVisible {
		return XlHeapVisible{}, xlShort("xl_heap_visible", len(b), SizeOfHeapVisible)
	}
	return XlHeapVisible{CutoffXid: xlLE.Uint32(b), Flags: b[4]}, nil
}

// XlHeapMultiInsert is xl_heap_multi_insert (Heap2 MULTI_INSERT). The
// offsets follow in the main data unless the record has
// XLOG_HEAP_INIT_PAGE (see Offset); block 0's data holds the tuples
// (DecodeXlMultiInsertTuples).
type XlHeapMultiInsert struct {
	Flags   uint8 // XLH_INSERT_*
	Ntuples uint16
	offsets []byte
}

// DecodeXlHeapMultiInsert decodes the fixed part of MULTI_INSERT's main
// data.
func DecodeXlHeapMultiInsert(b []byte) (XlHeapMultiInsert, error) {
	if len(b) < SizeOfHeapMultiInsert {
		return XlHeapMultiInsert{}, xlShort("xl_heap_multi_insert", len(b), SizeOfHeapMultiInsert)
	}
	return XlHeapMultiInsert{Flags: b[0], Ntuples: xlLE.Uint16(b[2:]), offsets: b[SizeOfHeapMultiInsert:]}, nil
}

// CheckOffsets reports an error when a record that does not initialize
// the page (isInit false) lacks some of its Ntuples offsets.
func (x XlHeapMultiInsert) CheckOffsets(isInit bool) error {
	if n := 2 * int(x.Ntuples); !isInit && len(x.offsets) < n {
		return xlShort("xl_heap_multi_insert offsets", len(x.offsets), n)
	}
	return nil
}

// Offset returns where tuple k (0 <= k < Ntuples) goes: FirstOffsetNumber
// + k on a page the record initializes (isInit), else its logged offset
// (present when CheckOffsets says so).
func (x XlHeapMultiInsert) Offset(k int, isInit bool) OffsetNumber {
	if isInit {
		return FirstOffsetNumber + OffsetNumber(k)
	}
	return OffsetNumber(xlLE.Uint16(x.offsets[2*k:]))
}

// XlMultiInsertTuple is xl_multi_insert_tuple with the tuple data that
// follows it.
type XlMultiInsertTuple struct {
	Datalen    uint16
	TInfomask2 uint16
	TInfomask  uint16
	THoff      uint8
	Data       []byte // Datalen bytes
}

// DecodeXlMultiInsertTuples splits MULTI_INSERT's block 0 data into n
// tuples, each header at a 2-byte boundary (SHORTALIGN) from the start of
// the data, which must end exactly after the last one (PostgreSQL's
// "total tuple length mismatch").
func DecodeXlMultiInsertTuples(b []byte, n int) ([]XlMultiInsertTuple, error) {
	tuples := make([]XlMultiInsertTuple, 0, n)
	pos := 0
	for k := range n {
		pos = (pos + 1) &^ 1
		if pos+SizeOfMultiInsertTuple > len(b) {
			return nil, xlBad("xl_multi_insert_tuple", "tuple %d of %d: header at %d past the %d-byte data", k, n, pos, len(b))
		}
		t := XlMultiInsertTuple{
			Datalen:    xlLE.Uint16(b[pos:]),
			TInfomask2: xlLE.Uint16(b[pos+2:]),
			TInfomask:  xlLE.Uint16(b[pos+4:]),
			THoff:      b[pos+6],
		}
		pos += SizeOfMultiInsertTuple
		if pos+int(t.Datalen) > len(b) {
			return nil, xlBad("xl_multi_insert_tuple", "tuple %d of %d: %d bytes at %d past the %d-byte data", k, n, t.Datalen, pos, len(b))
		}
		t.Data = b[pos : pos+int(t.Datalen)]
		pos += int(t.Datalen)
		tuples = append(tuples, t)
	}
	if pos != len(b) {
		return nil, xlBad("xl_multi_insert_tuple", "%d tuples end at %d of %d bytes", n, pos, len(b))
	}
	return tuples, nil
}

// XlHeapNewCid is xl_heap_new_cid (Heap2 NEW_CID, for logical decoding).
type XlHeapNewCid struct {
	TopXid     uint32
	Cmin       uint32
	Cmax       uint32
	Combocid   uint32
	TargetNode RelFileNode
	TargetTid  ItemPointer
}

// DecodeXlHeapNewCid decodes the main data of NEW_CID.
func DecodeXlHeapNewCid(b []byte) (XlHeapNewCid, error) {
	if len(b) < SizeOfHeapNewCid {
		return XlHeapNewCid{}, xlShort("xl_heap_new_cid", len(b), SizeOfHeapNewCid)
	}
	return XlHeapNewCid{
		TopXid:     xlLE.Uint32(b),
		Cmin:       xlLE.Uint32(b[4:]),
		Cmax:       xlLE.Uint32(b[8:]),
		Combocid:   xlLE.Uint32(b[12:]),
		TargetNode: xlRel(b[16:]),
		TargetTid:  ItemPointer{Block: xlBlockID(b[28:]), Offset: OffsetNumber(xlLE.Uint16(b[32:]))},
	}, nil
}

// XlHeapRewriteMapping is xl_heap_rewrite_mapping (Heap2 REWRITE), the
// header of a logical rewrite mapping; the mappings follow it.
type XlHeapRewriteMapping struct {
	MappedXid   uint32
	MappedDb    uint32
	MappedRel   uint32
	Offset      int64 // off_t
	NumMappings uint32
	StartLsn    LSN
}

// DecodeXlHeapRewriteMapping decodes the fixed part of REWRITE's main
// data.
func DecodeXlHeapRewriteMapping(b []byte) (XlHeapRewriteMapping, error) {
	if len(b) < SizeOfHeapRewriteMapping {
		return XlHeapRewriteMapping{}, xlShort("xl_heap_rewrite_mapping", len(b), SizeOfHeapRewriteMapping)
	}
	return XlHeapRewriteMapping{
		MappedXid:   xlLE.Uint32(b),
		MappedDb:    xlLE.Uint32(b[4:]),
		MappedRel:   xlLE.Uint32(b[8:]),
		Offset:      int64(xlLE.Uint64(b[16:])),
		NumMappings: xlLE.Uint32(b[24:]),
		StartLsn:    LSN(xlLE.Uint64(b[32:])),
	}, nil
}
