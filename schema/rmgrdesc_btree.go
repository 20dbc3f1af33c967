package schema

import "fmt"

// Btree descriptions (nbtdesc.c); offsets per access/nbtxlog.h.

const (
	descSizeBtreeInsert       = 2  // offnum
	descSizeBtreeSplit        = 10 // level u32, firstrightoff, newitemoff, postingoff
	descSizeBtreeDedup        = 2  // nintervals
	descSizeBtreeVacuum       = 4  // ndeleted, nupdated
	descSizeBtreeDelete       = 8  // latestRemovedXid, ndeleted, nupdated
	descSizeBtreeHalfDead     = 20 // poffset (+pad), leafblk, leftblk, rightblk, topparent
	descSizeBtreeUnlinkPage   = 36 // leftsib, rightsib, level, pad, safexid u64 @16, leafleftsib, leafrightsib, leaftopparent
	descSizeBtreeNewroot      = 8  // rootblk, level
	descSizeBtreeReusePage    = 24 // RelFileNode, block, latestRemovedFullXid u64 @16
	descSizeBtreeMetadataRead = 24 // xl_btree_metadata up to last_cleanup_num_delpages @20
)

func (d *descCtx) btree(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x00, 0x10, 0x20, 0x50: // INSERT_LEAF, INSERT_UPPER, INSERT_META, INSERT_POST
		if len(rec) < descSizeBtreeInsert {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", rdU16(rec, 0))
	case 0x30, 0x40: // SPLIT_L, SPLIT_R
		if len(rec) < descSizeBtreeSplit {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "level %d, firstrightoff %d, newitemoff %d, postingoff %d",
			rdU32(rec, 0), rdU16(rec, 4), rdU16(rec, 6), rdU16(rec, 8))
	case 0x60: // DEDUP
		if len(rec) < descSizeBtreeDedup {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "nintervals %d", rdU16(rec, 0))
	case 0xC0: // VACUUM
		if len(rec) < descSizeBtreeVacuum {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndeleted %d; nupdated %d", rdU16(rec, 0), rdU16(rec, 2))
	case 0x70: // DELETE
		if len(rec) < descSizeBtreeDelete {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "latestRemovedXid %d; ndeleted %d; nupdated %d",
			rdU32(rec, 0), rdU16(rec, 4), rdU16(rec, 6))
	case 0xB0: // MARK_PAGE_HALFDEAD
		if len(rec) < descSizeBtreeHalfDead {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "topparent %d; leaf %d; left %d; right %d",
			rdU32(rec, 16), rdU32(rec, 4), rdU32(rec, 8), rdU32(rec, 12))
	case 0x80, 0x90: // UNLINK_PAGE, UNLINK_PAGE_META
		if len(rec) < descSizeBtreeUnlinkPage {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "left %d; right %d; level %d; safexid ", rdU32(rec, 0), rdU32(rec, 4), rdU32(rec, 8))
		b = rdAppendFullXid(b, rdU64(rec, 16))
		b = fmt.Appendf(b, "; leafleft %d; leafright %d; leaftopparent %d",
			rdU32(rec, 24), rdU32(rec, 28), rdU32(rec, 32))
	case 0xA0: // NEWROOT
		if len(rec) < descSizeBtreeNewroot {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "lev %d", rdU32(rec, 4))
	case 0xD0: // REUSE_PAGE
		if len(rec) < descSizeBtreeReusePage {
			return rdTruncated(b)
		}
		rn := rdRel(rec, 0)
		b = fmt.Appendf(b, "rel %d/%d/%d; latestRemovedXid ", rn.SpcNode, rn.DbNode, rn.RelNode)
		b = rdAppendFullXid(b, rdU64(rec, 16))
	case 0xE0: // META_CLEANUP: the metadata is block 0's data, not main data
		blk := d.r.Block(0)
		if blk == nil || len(blk.Data) < descSizeBtreeMetadataRead {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "last_cleanup_num_delpages %d", rdU32(blk.Data, 20))
	}
	return b
}
