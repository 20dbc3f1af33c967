package schema

import "fmt"

// GiST record descriptions (gistdesc.c).

func (d *descCtx) gist(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x20: // PAGE_REUSE: RelFileNode, block @12, latestRemovedFullXid u64 @16
		if len(rec) < 24 {
			return rdTruncated(b)
		}
		rn := rdRel(rec, 0)
		b = fmt.Appendf(b, "rel %d/%d/%d; blk %d; latestRemovedXid ", rn.SpcNode, rn.DbNode, rn.RelNode, rdU32(rec, 12))
		b = rdAppendFullXid(b, rdU64(rec, 16))
	case 0x10: // DELETE: latestRemovedXid, ntodelete u16
		if len(rec) < 6 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "delete: latestRemovedXid %d, nitems: %d", rdU32(rec, 0), rdU16(rec, 4))
	case 0x30: // PAGE_SPLIT: origrlink, orignsn u64 @8, origleaf @16, npage u16 @18
		if len(rec) < 20 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "page_split: splits to %d pages", rdU16(rec, 18))
	case 0x60: // PAGE_DELETE: deleteXid u64, downlinkOffset u16 @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = append(b, "deleteXid "...)
		b = rdAppendFullXid(b, rdU64(rec, 0))
		b = fmt.Appendf(b, "; downlink %d", rdU16(rec, 8))
	}
	// PAGE_UPDATE and ASSIGN_LSN print nothing.
	return b
}
