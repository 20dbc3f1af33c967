package pagestore

import (
	"encoding/binary"

	"github.com/pagemill/pagemill/schema"
)

const (
	prefixPage    = 'p'
	prefixSize    = 's'
	prefixDBDrop  = 'd' // no longer written; reserved: older stores may hold such keys
	prefixApplied = 'a'
	prefixMeta    = 'm'

	pageKeyLen = 1 + 4 + 4 + 4 + 1 + 4 + 8 + 4
	tagLen     = 4 + 4 + 4 + 1 + 4
	relKeyLen  = 1 + 4 + 4 + 4 + 1
	sizeKeyLen = relKeyLen + 8 + 2 + 4

	// anyTLI ends a seek key that is to find every timeline's version at
	// an LSN (the timeline is the key's last field).
	anyTLI = schema.TimeLineID(^uint32(0))
)

// FormatVersion is the version of the key layout in this file, recorded
// in the store (meta "format"). 2: page versions and size events carry
// the timeline that wrote them. 3: records are stored in segments (see
// segment.go), not packs of their own. 4: on disk, segments are in
// segment files and their keys point at them (segfile.go). A store of
// format 2 or 3 is read as it is and recorded as 4 when opened. A store
// of another version is refused with ErrFormat (rebuild it from the
// streams).
const FormatVersion = 4

// Kinds of page versions.
const (
	// KindImage: the full page.
	KindImage byte = 1
	// KindRecord: a WAL record to replay on the previous version.
	KindRecord byte = 2
	// KindRecordImage: a WAL record that carries an applied full-page
	// image of this page, so replay may start from it.
	KindRecordImage byte = 3
	// KindUnavailable: the page could not be reconstructed from here on
	// (unsupported redo) until the next image.
	KindUnavailable byte = 4
	// KindAbsent: the page does not exist from here on (relation created,
	// truncated below it, or dropped).
	KindAbsent byte = 5
	// KindRecords: several WAL records to replay in order, keyed by the
	// first one's end LSN; each is its end LSN (8 bytes), the length n of
	// the rest (4), then what a KindRecord value holds (n bytes).
	KindRecords byte = 6
	// KindImageS2: the full page compressed with S2 (written instead of
	// KindImage when that saves at least an eighth).
	KindImageS2 byte = 7
)

// packHeader precedes each record of a KindRecords value: its end LSN
// and the length of its KindRecord value.
const packHeader = 8 + 4

// Kinds of relation size events.
const (
	// SizeExtend: a block was referenced; the size is at least nblocks.
	SizeExtend byte = 1
	// SizeSet: the size is exactly nblocks (base backup, create, truncate).
	SizeSet byte = 2
	// SizeDrop: the relation fork no longer exists.
	SizeDrop byte = 3
	// SizeTruncate: the size becomes min(size before, nblocks).
	SizeTruncate byte = 4
)

func putTag(b []byte, tag schema.BufferTag) {
	be := binary.BigEndian
	be.PutUint32(b[0:], tag.Rel.DbNode)
	be.PutUint32(b[4:], tag.Rel.SpcNode)
	be.PutUint32(b[8:], tag.Rel.RelNode)
	b[12] = byte(tag.Fork)
	be.PutUint32(b[13:], uint32(tag.Block))
}

func getTag(b []byte) schema.BufferTag {
	be := binary.BigEndian
	return schema.BufferTag{
		Rel:   schema.RelFileNode{DbNode: be.Uint32(b[0:]), SpcNode: be.Uint32(b[4:]), RelNode: be.Uint32(b[8:])},
		Fork:  schema.ForkNumber(b[12]),
		Block: schema.BlockNumber(be.Uint32(b[13:])),
	}
}

// pageKey is the key of tag's version at lsn written on timeline tli:
// p | tag | lsn | tli, so a page's versions sort by LSN and a reverse
// seek from (lsn, anyTLI) finds the newest at or below lsn.
func pageKey(tag schema.BufferTag, lsn schema.LSN, tli schema.TimeLineID) []byte {
	k := make([]byte, pageKeyLen)
	k[0] = prefixPage
	putTag(k[1:], tag)
	binary.BigEndian.PutUint64(k[1+tagLen:], uint64(lsn))
	binary.BigEndian.PutUint32(k[1+tagLen+8:], uint32(tli))
	return k
}

// pageKeyLSN and pageKeyTLI read a page key's LSN and timeline.
func pageKeyLSN(k []byte) schema.LSN { return schema.LSN(binary.BigEndian.Uint64(k[1+tagLen:])) }
func pageKeyTLI(k []byte) schema.TimeLineID {
	return schema.TimeLineID(binary.BigEndian.Uint32(k[1+tagLen+8:]))
}

// pagePrefix is the prefix of every version of tag.
func pagePrefix(tag schema.BufferTag) []byte { return pageKey(tag, 0, 0)[:1+tagLen] }

func relPrefix(prefix byte, rel schema.RelFileNode, fork schema.ForkNumber) []byte {
	k := make([]byte, 1+tagLen)
	k[0] = prefix
	putTag(k[1:], schema.BufferTag{Rel: rel, Fork: fork})
	return k[:relKeyLen:relKeyLen]
}

// sizeKey is the key of a size event: s | rel | fork | lsn | shard | tli.
func sizeKey(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, shard int, tli schema.TimeLineID) []byte {
	k := make([]byte, sizeKeyLen)
	copy(k, relPrefix(prefixSize, rel, fork))
	binary.BigEndian.PutUint64(k[relKeyLen:], uint64(lsn))
	binary.BigEndian.PutUint16(k[relKeyLen+8:], uint16(shard))
	binary.BigEndian.PutUint32(k[relKeyLen+10:], uint32(tli))
	return k
}

func sizeKeyTLI(k []byte) schema.TimeLineID {
	return schema.TimeLineID(binary.BigEndian.Uint32(k[relKeyLen+10:]))
}

func appliedKey(shard int) []byte {
	return []byte{prefixApplied, byte(shard >> 8), byte(shard)}
}

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }
