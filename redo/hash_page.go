package redo

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/pagemill/pagemill/schema"
)

// Hash page layout (access/hash.h) and the page initializers hash redo
// uses (hashpage.c, hashovfl.c, hashutil.c).

const (
	// HashPageOpaqueData, at pd_special.
	hashOpaqueSize = 16
	hashoPrevblkno = 0
	hashoNextblkno = 4
	hashoBucket    = 8
	hashoFlag      = 12
	hashoPageID    = 14

	hashoPageIDValue = 0xFF80 // HASHO_PAGE_ID
	hashInvalidBkt   = 0xFFFFFFFF

	// hasho_flag bits.
	lhUnusedPage              = 0
	lhOverflowPage            = 1 << 0
	lhBucketPage              = 1 << 1
	lhBitmapPage              = 1 << 2
	lhMetaPage                = 1 << 3
	lhBucketNeedsSplitCleanup = 1 << 6
	lhPageHasDeadTuples       = 1 << 7
	lhPageType                = lhOverflowPage | lhBucketPage | lhBitmapPage | lhMetaPage // LH_PAGE_TYPE

	// HashMetaPageData, at PageGetContents (MAXALIGN(SizeOfPageHeaderData)).
	hashMetaOff        = 24
	hashmMagic         = 0
	hashmVersion       = 4
	hashmNtuples       = 8 // float64
	hashmFfactor       = 16
	hashmBsize         = 18
	hashmBmsize        = 20
	hashmBmshift       = 22
	hashmMaxbucket     = 24
	hashmHighmask      = 28
	hashmLowmask       = 32
	hashmOvflpoint     = 36
	hashmFirstfree     = 40
	hashmNmaps         = 44
	hashmProcid        = 48
	hashmSpares        = 52  // uint32[HASH_MAX_SPLITPOINTS]
	hashmMapp          = 444 // BlockNumber[HASH_MAX_BITMAPS]
	sizeOfHashMetaPage = 4544

	hashMagic          = 0x6440640
	hashVersion        = 4
	hashMaxSplitpoints = 98   // HASH_MAX_SPLITPOINTS
	hashMaxBitmaps     = 1024 // HASH_MAX_BITMAPS

	// The bitmap of a bitmap page starts at PageGetContents.
	hashBitmapOff = 24
)

// hashOpaque is a page's HashPageOpaqueData.
type hashOpaque []byte

// hashPageGetOpaque is PageGetSpecialPointer on a hash page; it refuses a
// page whose special space is not a HashPageOpaqueData at the end of the
// page, as every hash page has (_hash_pageinit).
func hashPageGetOpaque(page schema.Page) (hashOpaque, bool) {
	if len(page) != schema.BLCKSZ || int(page.Special()) != schema.BLCKSZ-maxAlign(hashOpaqueSize) {
		return nil, false
	}
	return hashOpaque(page[page.Special():]), true
}

func (o hashOpaque) flag() uint16        { return binary.LittleEndian.Uint16(o[hashoFlag:]) }
func (o hashOpaque) setFlag(f uint16)    { binary.LittleEndian.PutUint16(o[hashoFlag:], f) }
func (o hashOpaque) clearFlag(f uint16)  { o.setFlag(o.flag() &^ f) }
func (o hashOpaque) setPrev(b uint32)    { binary.LittleEndian.PutUint32(o[hashoPrevblkno:], b) }
func (o hashOpaque) setNext(b uint32)    { binary.LittleEndian.PutUint32(o[hashoNextblkno:], b) }
func (o hashOpaque) setBucket(b uint32)  { binary.LittleEndian.PutUint32(o[hashoBucket:], b) }
func (o hashOpaque) setPageID(id uint16) { binary.LittleEndian.PutUint16(o[hashoPageID:], id) }

// set writes all five fields.
func (o hashOpaque) set(prev, next, bucket uint32, flag uint16) {
	o.setPrev(prev)
	o.setNext(next)
	o.setBucket(bucket)
	o.setFlag(flag)
	o.setPageID(hashoPageIDValue)
}

// hashMeta is HashPageGetMeta of a page: the HashMetaPageData bytes.
type hashMeta []byte

func hashPageGetMeta(page schema.Page) hashMeta {
	return hashMeta(page[hashMetaOff : hashMetaOff+sizeOfHashMetaPage])
}

func (m hashMeta) u32(off int) uint32       { return binary.LittleEndian.Uint32(m[off:]) }
func (m hashMeta) setU32(off int, v uint32) { binary.LittleEndian.PutUint32(m[off:], v) }
func (m hashMeta) ntuples() float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(m[hashmNtuples:]))
}
func (m hashMeta) setNtuples(v float64) {
	binary.LittleEndian.PutUint64(m[hashmNtuples:], math.Float64bits(v))
}

// spare returns the offset of hashm_spares[i], refusing an index past the
// array (where PostgreSQL would write into the fields after it).
func (m hashMeta) spare(i uint32) (int, bool) {
	return hashmSpares + 4*int(i), i < hashMaxSplitpoints
}

// mapp returns the offset of hashm_mapp[i], refusing an index past the
// array.
func (m hashMeta) mapp(i uint32) (int, bool) {
	return hashmMapp + 4*int(i), i < hashMaxBitmaps
}

// hashPageInit is _hash_pageinit.
func hashPageInit(page schema.Page) {
	_ = PageInit(page, hashOpaqueSize) // cannot fail on a BLCKSZ page
}

// hashInitBuf is _hash_initbuf with initpage: a fresh page whose special
// space says bucket num_bucket, flag, prev max_bucket and no next page.
func hashInitBuf(page schema.Page, maxBucket, numBucket uint32, flag uint16) {
	hashPageInit(page)
	o, _ := hashPageGetOpaque(page)
	o.set(maxBucket, uint32(schema.InvalidBlockNumber), numBucket, flag)
}

// hashInitBitmapBuffer is _hash_initbitmapbuffer with initpage: every bit
// of the bmsize-byte bitmap set ("in use"), pd_lower just past it. It
// refuses a bitmap that would not fit before the special space.
func hashInitBitmapBuffer(page schema.Page, bmsize uint16) bool {
	if hashBitmapOff+int(bmsize) > schema.BLCKSZ-maxAlign(hashOpaqueSize) {
		return false
	}
	hashPageInit(page)
	o, _ := hashPageGetOpaque(page)
	o.set(uint32(schema.InvalidBlockNumber), uint32(schema.InvalidBlockNumber), hashInvalidBkt, lhBitmapPage)
	bm := page[hashBitmapOff : hashBitmapOff+int(bmsize)]
	for i := range bm {
		bm[i] = 0xFF
	}
	page.SetLower(uint16(hashBitmapOff + int(bmsize)))
	return true
}

// hashBitmapWord returns the page offset of the uint32 word holding bit of
// a bitmap page (SETBIT/CLRBIT index the array at PageGetContents),
// refusing one outside the page's contents.
func hashBitmapWord(page schema.Page, bit uint32) (int, bool) {
	off := hashBitmapOff + 4*int(bit/32)
	return off, off+4 <= int(page.Special()) && int(page.Special()) <= len(page)
}

// hashSetBit is SETBIT on a bitmap page.
func hashSetBit(page schema.Page, bit uint32) bool {
	off, ok := hashBitmapWord(page, bit)
	if ok {
		binary.LittleEndian.PutUint32(page[off:], binary.LittleEndian.Uint32(page[off:])|1<<(bit%32))
	}
	return ok
}

// hashClrBit is CLRBIT on a bitmap page.
func hashClrBit(page schema.Page, bit uint32) bool {
	off, ok := hashBitmapWord(page, bit)
	if ok {
		binary.LittleEndian.PutUint32(page[off:], binary.LittleEndian.Uint32(page[off:])&^(1<<(bit%32)))
	}
	return ok
}

// pgCeilLog2_32 is pg_ceil_log2_32.
func pgCeilLog2_32(n uint32) uint32 {
	if n < 2 {
		return 0
	}
	return uint32(bits.Len32(n - 1))
}

// pgNextPower2_32 is pg_nextpower2_32 (0 for inputs above 2^31, as in C).
func pgNextPower2_32(n uint32) uint32 {
	if n&(n-1) == 0 {
		return n
	}
	return 1 << bits.Len32(n)
}

// hashSpareIndex is _hash_spareindex.
func hashSpareIndex(numBucket uint32) uint32 {
	group := pgCeilLog2_32(numBucket)
	if group < 10 { // HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE
		return group
	}
	// Four phases per group from there on.
	return 10 + ((group - 10) << 2) + (((numBucket - 1) >> (group - 3)) & 3)
}

// hashGetTotalBuckets is _hash_get_totalbuckets.
func hashGetTotalBuckets(splitpointPhase uint32) uint32 {
	if splitpointPhase < 10 {
		return 1 << splitpointPhase
	}
	group := 10 + ((splitpointPhase - 10) >> 2)
	total := uint32(1) << (group - 1)
	return total + (total>>2)*(((splitpointPhase-10)&3)+1)
}

// hashInitMetabuffer is _hash_init_metabuffer with initpage. It refuses a
// num_tuples / ffactor that is NaN, whose conversion to a bucket count C
// leaves undefined.
func hashInitMetabuffer(page schema.Page, numTuples float64, procid uint32, ffactor uint16) bool {
	dnumbuckets := numTuples / float64(ffactor)
	var numBuckets uint32
	switch {
	case math.IsNaN(dnumbuckets):
		return false
	case dnumbuckets <= 2.0:
		numBuckets = 2
	case dnumbuckets >= float64(0x40000000):
		numBuckets = 0x40000000
	default:
		// The double goes to _hash_spareindex's uint32 by truncation.
		numBuckets = hashGetTotalBuckets(hashSpareIndex(uint32(dnumbuckets)))
	}
	spareIndex := hashSpareIndex(numBuckets)
	if spareIndex >= hashMaxSplitpoints {
		return false
	}

	hashPageInit(page)
	o, _ := hashPageGetOpaque(page)
	o.set(uint32(schema.InvalidBlockNumber), uint32(schema.InvalidBlockNumber), hashInvalidBkt, lhMetaPage)

	m := hashPageGetMeta(page)
	le := binary.LittleEndian
	m.setU32(hashmMagic, hashMagic)
	m.setU32(hashmVersion, hashVersion)
	m.setNtuples(0)
	m.setU32(hashmNmaps, 0)
	le.PutUint16(m[hashmFfactor:], ffactor)
	// HashGetMaxBitmapSize: the page minus its header and special space.
	bsize := uint16(page.PageSize() - hashMetaOff - maxAlign(hashOpaqueSize))
	le.PutUint16(m[hashmBsize:], bsize)
	lshift := uint16(bits.Len16(bsize) - 1) // pg_leftmost_one_pos32
	le.PutUint16(m[hashmBmsize:], 1<<lshift)
	le.PutUint16(m[hashmBmshift:], lshift+3) // BYTE_TO_BIT
	m.setU32(hashmProcid, procid)
	m.setU32(hashmMaxbucket, numBuckets-1)
	highmask := pgNextPower2_32(numBuckets+1) - 1
	m.setU32(hashmHighmask, highmask)
	m.setU32(hashmLowmask, highmask>>1)
	// spares[] and mapp[] are zero after PageInit.
	off, _ := m.spare(spareIndex)
	m.setU32(off, 1)
	m.setU32(hashmOvflpoint, spareIndex)
	m.setU32(hashmFirstfree, 0)
	// pd_lower just past the metadata, so that a compressed image keeps it.
	page.SetLower(uint16(hashMetaOff + sizeOfHashMetaPage))
	return true
}
