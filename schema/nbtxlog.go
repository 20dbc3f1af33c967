package schema

// Btree WAL record layouts (access/nbtxlog.h, PostgreSQL 15, x86-64),
// decoded here only: redo (redo/btree.go) and the descriptions
// (rmgrdesc_btree.go) use these. See xlogdecode.go for the conventions.

// Btree record opcodes (XLOG_BTREE_*), xl_info & ~XLR_INFO_MASK.
const (
	XLogBtreeInsertLeaf       uint8 = 0x00 // XLOG_BTREE_INSERT_LEAF
	XLogBtreeInsertUpper      uint8 = 0x10 // XLOG_BTREE_INSERT_UPPER
	XLogBtreeInsertMeta       uint8 = 0x20 // XLOG_BTREE_INSERT_META
	XLogBtreeSplitL           uint8 = 0x30 // XLOG_BTREE_SPLIT_L
	XLogBtreeSplitR           uint8 = 0x40 // XLOG_BTREE_SPLIT_R
	XLogBtreeInsertPost       uint8 = 0x50 // XLOG_BTREE_INSERT_POST
	XLogBtreeDedup            uint8 = 0x60 // XLOG_BTREE_DEDUP
	XLogBtreeDelete           uint8 = 0x70 // XLOG_BTREE_DELETE
	XLogBtreeUnlinkPage       uint8 = 0x80 // XLOG_BTREE_UNLINK_PAGE
	XLogBtreeUnlinkPageMeta   uint8 = 0x90 // XLOG_BTREE_UNLINK_PAGE_META
	XLogBtreeNewroot          uint8 = 0xA0 // XLOG_BTREE_NEWROOT
	XLogBtreeMarkPageHalfdead uint8 = 0xB0 // XLOG_BTREE_MARK_PAGE_HALFDEAD
	XLogBtreeVacuum           uint8 = 0xC0 // XLOG_BTREE_VACUUM
	XLogBtreeReusePage        uint8 = 0xD0 // XLOG_BTREE_REUSE_PAGE
	XLogBtreeMetaCleanup      uint8 = 0xE0 // XLOG_BTREE_META_CLEANUP
)

// Bytes PostgreSQL writes for each struct (SizeOfBtree*).
const (
	SizeOfBtreeMetadata         = 28 // sizeof(xl_btree_metadata): six u32, allequalimage bool, pad
	SizeOfBtreeInsert           = 2  // offnum
	SizeOfBtreeSplit            = 10 // level u32, firstrightoff, newitemoff, postingoff
	SizeOfBtreeDedup            = 2  // nintervals
	SizeOfBtreeDedupInterval    = 4  // BTDedupInterval: baseoff, nitems
	SizeOfBtreeReusePage        = 24 // node, block, latestRemovedFullXid u64
	SizeOfBtreeVacuum           = 4  // ndeleted, nupdated
	SizeOfBtreeDelete           = 8  // latestRemovedXid, ndeleted, nupdated
	SizeOfBtreeUpdate           = 2  // ndeletedtids; the uint16 tids follow
	SizeOfBtreeMarkPageHalfDead = 20 // poffset, pad, leafblk, leftblk, rightblk, topparent
	SizeOfBtreeUnlinkPage       = 36 // leftsib, rightsib, level, pad, safexid u64, leafleftsib, leafrightsib, leaftopparent
	SizeOfBtreeNewroot          = 8  // rootblk, level
)

// btIndexTupleSize is IndexTupleSize of the index tuple at the start of b
// (at least SizeOfIndexTupleData bytes): t_info & INDEX_SIZE_MASK.
func btIndexTupleSize(b []byte) int { return int(xlLE.Uint16(b[6:]) & 0x1FFF) }

// btMaxAlign is MAXALIGN.
func btMaxAlign(n int) int { return (n + MaximumAlignOf - 1) &^ (MaximumAlignOf - 1) }

// XlBtreeMetadata is xl_btree_metadata: the metapage contents of
// INSERT_META (block 2), NEWROOT (block 2), UNLINK_PAGE_META (block 4) and
// META_CLEANUP (block 0).
type XlBtreeMetadata struct {
	Version                uint32
	Root                   BlockNumber
	Level                  uint32
	Fastroot               BlockNumber
	Fastlevel              uint32
	LastCleanupNumDelpages uint32
	Allequalimage          bool
}

// DecodeXlBtreeMetadata decodes the metapage block data.
func DecodeXlBtreeMetadata(b []byte) (XlBtreeMetadata, error) {
	if len(b) < SizeOfBtreeMetadata {
		return XlBtreeMetadata{}, xlShort("xl_btree_metadata", len(b), SizeOfBtreeMetadata)
	}
	return XlBtreeMetadata{
		Version:                xlLE.Uint32(b),
		Root:                   BlockNumber(xlLE.Uint32(b[4:])),
		Level:                  xlLE.Uint32(b[8:]),
		Fastroot:               BlockNumber(xlLE.Uint32(b[12:])),
		Fastlevel:              xlLE.Uint32(b[16:]),
		LastCleanupNumDelpages: xlLE.Uint32(b[20:]),
		Allequalimage:          b[24] != 0,
	}, nil
}

// XlBtreeInsert is xl_btree_insert (INSERT_LEAF, INSERT_UPPER,
// INSERT_META, INSERT_POST). Block 0's data is the new item, or for
// INSERT_POST DecodeBtreeInsertPostData's layout.
type XlBtreeInsert struct {
	Offnum OffsetNumber
}

// DecodeXlBtreeInsert decodes the main data of the INSERT_* records.
func DecodeXlBtreeInsert(b []byte) (XlBtreeInsert, error) {
	if len(b) < SizeOfBtreeInsert {
		return XlBtreeInsert{}, xlShort("xl_btree_insert", len(b), SizeOfBtreeInsert)
	}
	return XlBtreeInsert{Offnum: OffsetNumber(xlLE.Uint16(b))}, nil
}

// BtreeInsertPostData is block 0's data of INSERT_POST: the offset in
// the posting list being split, then the original new item, exactly
// IndexTupleSize bytes (what CopyIndexTuple copies).
type BtreeInsertPostData struct {
	Postingoff uint16
	Newitem    []byte
}

// DecodeBtreeInsertPostData decodes INSERT_POST's block 0 data.
func DecodeBtreeInsertPostData(b []byte) (BtreeInsertPostData, error) {
	if len(b) < 2+SizeOfIndexTupleData {
		return BtreeInsertPostData{}, xlShort("xl_btree_insert posting split data", len(b), 2+SizeOfIndexTupleData)
	}
	item := b[2:]
	if size := btIndexTupleSize(item); size != len(item) {
		return BtreeInsertPostData{}, xlBad("xl_btree_insert posting split data", "new item of %d bytes has IndexTupleSize %d", len(item), size)
	}
	return BtreeInsertPostData{Postingoff: xlLE.Uint16(b), Newitem: item}, nil
}

// XlBtreeSplit is xl_btree_split (SPLIT_L, SPLIT_R). Block 0 is the left
// page (data: DecodeBtreeSplitLeftData), block 1 the new right page (data:
// its items, DecodeBtreeTuples), block 2 the right sibling if any, block 3
// the child whose incomplete split this finishes (non-leaf).
type XlBtreeSplit struct {
	Level         uint32
	Firstrightoff OffsetNumber
	Newitemoff    OffsetNumber
	Postingoff    uint16
}

// DecodeXlBtreeSplit decodes the main data of SPLIT_L and SPLIT_R.
func DecodeXlBtreeSplit(b []byte) (XlBtreeSplit, error) {
	if len(b) < SizeOfBtreeSplit {
		return XlBtreeSplit{}, xlShort("xl_btree_split", len(b), SizeOfBtreeSplit)
	}
	return XlBtreeSplit{
		Level:         xlLE.Uint32(b),
		Firstrightoff: OffsetNumber(xlLE.Uint16(b[4:])),
		Newitemoff:    OffsetNumber(xlLE.Uint16(b[6:])),
		Postingoff:    xlLE.Uint16(b[8:]),
	}, nil
}

// BtreeSplitLeftData is block 0's data of a split: the new item (or the
// original new item of a posting list split), present when it went to
// the left page or postingoff is set, then the left page's new high key;
// each MAXALIGN(IndexTupleSize) bytes.
type BtreeSplitLeftData struct {
	Newitem   []byte
	LeftHikey []byte
}

// DecodeBtreeSplitLeftData decodes a split's block 0 data; hasNewitem
// says whether the new item is there.
func DecodeBtreeSplitLeftData(hasNewitem bool, b []byte) (BtreeSplitLeftData, error) {
	var d BtreeSplitLeftData
	pos := 0
	if hasNewitem {
		if len(b) < SizeOfIndexTupleData {
			return d, xlShort("xl_btree_split new item", len(b), SizeOfIndexTupleData)
		}
		n := btMaxAlign(btIndexTupleSize(b))
		if n < SizeOfIndexTupleData || n > len(b) {
			return d, xlBad("xl_btree_split new item", "%d bytes in %d", n, len(b))
		}
		d.Newitem, pos = b[:n], n
	}
	if len(b)-pos < SizeOfIndexTupleData {
		return d, xlShort("xl_btree_split left high key", len(b)-pos, SizeOfIndexTupleData)
	}
	if n := btMaxAlign(btIndexTupleSize(b[pos:])); n == 0 || pos+n != len(b) {
		return d, xlBad("xl_btree_split left high key", "%d bytes at %d of %d", n, pos, len(b))
	}
	d.LeftHikey = b[pos:]
	return d, nil
}

// DecodeBtreeTuples splits the data _bt_restore_page reads (a split's
// right page, block 1; a new non-leaf root, block 0) into its index
// tuples, each MAXALIGN(IndexTupleSize) bytes, in order.
func DecodeBtreeTuples(b []byte) ([][]byte, error) {
	var items [][]byte
	for pos := 0; pos < len(b); {
		if pos+SizeOfIndexTupleData > len(b) {
			return nil, xlBad("btree page items", "tuple %d at %d: header past the %d-byte data", len(items), pos, len(b))
		}
		n := btMaxAlign(btIndexTupleSize(b[pos:]))
		if n == 0 || pos+n > len(b) || len(items) == MaxIndexTuplesPerPage {
			return nil, xlBad("btree page items", "tuple %d at %d: %d bytes in %d", len(items), pos, n, len(b))
		}
		items = append(items, b[pos:pos+n])
		pos += n
	}
	return items, nil
}

// XlBtreeDedup is xl_btree_dedup (DEDUP). Block 0's data holds the
// intervals (DecodeBTDedupIntervals).
type XlBtreeDedup struct {
	Nintervals uint16
}

// DecodeXlBtreeDedup decodes the main data of DEDUP.
func DecodeXlBtreeDedup(b []byte) (XlBtreeDedup, error) {
	if len(b) < SizeOfBtreeDedup {
		return XlBtreeDedup{}, xlShort("xl_btree_dedup", len(b), SizeOfBtreeDedup)
	}
	return XlBtreeDedup{Nintervals: xlLE.Uint16(b)}, nil
}

// BTDedupInterval is BTDedupInterval (nbtree.h): the items from Baseoff
// on that one posting list replaces.
type BTDedupInterval struct {
	Baseoff OffsetNumber
	Nitems  uint16
}

// BTDedupIntervals are a DEDUP record's intervals, read in place.
type BTDedupIntervals []byte

// DecodeBTDedupIntervals returns the xl.Nintervals intervals at the start
// of DEDUP's block 0 data.
func DecodeBTDedupIntervals(xl XlBtreeDedup, b []byte) (BTDedupIntervals, error) {
	n := int(xl.Nintervals) * SizeOfBtreeDedupInterval
	if len(b) < n {
		return nil, xlShort("BTDedupInterval array", len(b), n)
	}
	return BTDedupIntervals(b[:n]), nil
}

// Len is the number of intervals.
func (a BTDedupIntervals) Len() int { return len(a) / SizeOfBtreeDedupInterval }

// At returns interval k (0 <= k < Len).
func (a BTDedupIntervals) At(k int) BTDedupInterval {
	b := a[k*SizeOfBtreeDedupInterval:]
	return BTDedupInterval{Baseoff: OffsetNumber(xlLE.Uint16(b)), Nitems: xlLE.Uint16(b[2:])}
}

// XlBtreeReusePage is xl_btree_reuse_page (REUSE_PAGE: a recovery
// conflict only).
type XlBtreeReusePage struct {
	Node                 RelFileNode
	Block                BlockNumber
	LatestRemovedFullXid uint64 // FullTransactionId
}

// DecodeXlBtreeReusePage decodes the main data of REUSE_PAGE.
func DecodeXlBtreeReusePage(b []byte) (XlBtreeReusePage, error) {
	if len(b) < SizeOfBtreeReusePage {
		return XlBtreeReusePage{}, xlShort("xl_btree_reuse_page", len(b), SizeOfBtreeReusePage)
	}
	return XlBtreeReusePage{Node: xlRel(b), Block: BlockNumber(xlLE.Uint32(b[12:])), LatestRemovedFullXid: xlLE.Uint64(b[16:])}, nil
}

// XlBtreeVacuum is xl_btree_vacuum (VACUUM). Block 0's data:
// DecodeBtreeDeletion.
type XlBtreeVacuum struct {
	Ndeleted uint16
	Nupdated uint16
}

// DecodeXlBtreeVacuum decodes the main data of VACUUM.
func DecodeXlBtreeVacuum(b []byte) (XlBtreeVacuum, error) {
	if len(b) < SizeOfBtreeVacuum {
		return XlBtreeVacuum{}, xlShort("xl_btree_vacuum", len(b), SizeOfBtreeVacuum)
	}
	return XlBtreeVacuum{Ndeleted: xlLE.Uint16(b), Nupdated: xlLE.Uint16(b[2:])}, nil
}

// XlBtreeDelete is xl_btree_delete (DELETE). Block 0's data:
// DecodeBtreeDeletion.
type XlBtreeDelete struct {
	LatestRemovedXid uint32
	Ndeleted         uint16
	Nupdated         uint16
}

// DecodeXlBtreeDelete decodes the main data of DELETE.
func DecodeXlBtreeDelete(b []byte) (XlBtreeDelete, error) {
	if len(b) < SizeOfBtreeDelete {
		return XlBtreeDelete{}, xlShort("xl_btree_delete", len(b), SizeOfBtreeDelete)
	}
	return XlBtreeDelete{LatestRemovedXid: xlLE.Uint32(b), Ndeleted: xlLE.Uint16(b[4:]), Nupdated: xlLE.Uint16(b[6:])}, nil
}

// XlBtreeUpdate is xl_btree_update with the offset of the posting list
// tuple it updates (from the updated-offsets array before the updates).
type XlBtreeUpdate struct {
	Offnum       OffsetNumber
	Ndeletedtids uint16
	Deletetids   []uint16 // positions in the posting list, ascending
}

// DecodeBtreeDeletion decodes the block 0 data of DELETE and VACUUM:
// ndeleted offsets, nupdated offsets, then nupdated xl_btree_update, each
// followed by its tids, packed.
func DecodeBtreeDeletion(b []byte, ndeleted, nupdated uint16) ([]OffsetNumber, []XlBtreeUpdate, error) {
	nd, nu := int(ndeleted), int(nupdated)
	if len(b) < 2*(nd+nu) {
		return nil, nil, xlShort("btree deletion offsets", len(b), 2*(nd+nu))
	}
	// Check the updates and count their tids first, so that all tids
	// share one array.
	ntids := 0
	pos := 2 * (nd + nu)
	for k := range nu {
		if pos+SizeOfBtreeUpdate > len(b) {
			return nil, nil, xlBad("xl_btree_update", "update %d of %d at %d past the %d-byte data", k, nu, pos, len(b))
		}
		n := int(xlLE.Uint16(b[pos:]))
		pos += SizeOfBtreeUpdate
		if pos+2*n > len(b) {
			return nil, nil, xlBad("xl_btree_update", "update %d of %d: %d tids at %d past the %d-byte data", k, nu, n, pos, len(b))
		}
		ntids += n
		pos += 2 * n
	}
	deleted := decodeOffsetArray(b, nd)
	updates := make([]XlBtreeUpdate, nu)
	tids := make([]uint16, ntids)
	pos = 2 * (nd + nu)
	for k := range updates {
		u := &updates[k]
		u.Offnum = OffsetNumber(xlLE.Uint16(b[2*(nd+k):]))
		u.Ndeletedtids = xlLE.Uint16(b[pos:])
		pos += SizeOfBtreeUpdate
		n := int(u.Ndeletedtids)
		u.Deletetids = tids[:n:n]
		tids = tids[n:]
		for j := range n {
			u.Deletetids[j] = xlLE.Uint16(b[pos+2*j:])
		}
		pos += 2 * n
	}
	return deleted, updates, nil
}

// XlBtreeMarkPageHalfdead is xl_btree_mark_page_halfdead
// (MARK_PAGE_HALFDEAD). Block 0 is the leaf, block 1 the parent.
type XlBtreeMarkPageHalfdead struct {
	Poffset   OffsetNumber
	Leafblk   BlockNumber
	Leftblk   BlockNumber
	Rightblk  BlockNumber
	Topparent BlockNumber
}

// DecodeXlBtreeMarkPageHalfdead decodes the main data of
// MARK_PAGE_HALFDEAD.
func DecodeXlBtreeMarkPageHalfdead(b []byte) (XlBtreeMarkPageHalfdead, error) {
	if len(b) < SizeOfBtreeMarkPageHalfDead {
		return XlBtreeMarkPageHalfdead{}, xlShort("xl_btree_mark_page_halfdead", len(b), SizeOfBtreeMarkPageHalfDead)
	}
	return XlBtreeMarkPageHalfdead{
		Poffset:   OffsetNumber(xlLE.Uint16(b)),
		Leafblk:   BlockNumber(xlLE.Uint32(b[4:])),
		Leftblk:   BlockNumber(xlLE.Uint32(b[8:])),
		Rightblk:  BlockNumber(xlLE.Uint32(b[12:])),
		Topparent: BlockNumber(xlLE.Uint32(b[16:])),
	}, nil
}

// XlBtreeUnlinkPage is xl_btree_unlink_page (UNLINK_PAGE,
// UNLINK_PAGE_META; the metadata of the latter is block 4's data).
type XlBtreeUnlinkPage struct {
	Leftsib       BlockNumber
	Rightsib      BlockNumber
	Level         uint32
	Safexid       uint64 // FullTransactionId
	Leafleftsib   BlockNumber
	Leafrightsib  BlockNumber
	Leaftopparent BlockNumber
}

// DecodeXlBtreeUnlinkPage decodes the main data of UNLINK_PAGE and
// UNLINK_PAGE_META.
func DecodeXlBtreeUnlinkPage(b []byte) (XlBtreeUnlinkPage, error) {
	if len(b) < SizeOfBtreeUnlinkPage {
		return XlBtreeUnlinkPage{}, xlShort("xl_btree_unlink_page", len(b), SizeOfBtreeUnlinkPage)
	}
	return XlBtreeUnlinkPage{
		Leftsib:       BlockNumber(xlLE.Uint32(b)),
		Rightsib:      BlockNumber(xlLE.Uint32(b[4:])),
		Level:         xlLE.Uint32(b[8:]),
		Safexid:       xlLE.Uint64(b[16:]),
		Leafleftsib:   BlockNumber(xlLE.Uint32(b[24:])),
		Leafrightsib:  BlockNumber(xlLE.Uint32(b[28:])),
		Leaftopparent: BlockNumber(xlLE.Uint32(b[32:])),
	}, nil
}

// XlBtreeNewroot is xl_btree_newroot (NEWROOT). Block 0 is the new root
// (data: its items when non-leaf), block 1 the left child, block 2 the
// metapage.
type XlBtreeNewroot struct {
	Rootblk BlockNumber
	Level   uint32
}

// DecodeXlBtreeNewroot decodes the main data of NEWROOT.
func DecodeXlBtreeNewroot(b []byte) (XlBtreeNewroot, error) {
	if len(b) < SizeOfBtreeNewroot {
		return XlBtreeNewroot{}, xlShort("xl_btree_newroot", len(b), SizeOfBtreeNewroot)
	}
	return XlBtreeNewroot{Rootblk: BlockNumber(xlLE.Uint32(b)), Level: xlLE.Uint32(b[4:])}, nil
}
