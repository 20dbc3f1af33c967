package schema

import "fmt"

// Btree descriptions (nbtdesc.c), decoded with nbtxlog.go.

func (d *descCtx) btree(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case XLogBtreeInsertLeaf, XLogBtreeInsertUpper, XLogBtreeInsertMeta, XLogBtreeInsertPost:
		xl, err := DecodeXlBtreeInsert(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", xl.Offnum)
	case XLogBtreeSplitL, XLogBtreeSplitR:
		xl, err := DecodeXlBtreeSplit(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "level %d, firstrightoff %d, newitemoff %d, postingoff %d",
			xl.Level, xl.Firstrightoff, xl.Newitemoff, xl.Postingoff)
	case XLogBtreeDedup:
		xl, err := DecodeXlBtreeDedup(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "nintervals %d", xl.Nintervals)
	case XLogBtreeVacuum:
		xl, err := DecodeXlBtreeVacuum(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndeleted %d; nupdated %d", xl.Ndeleted, xl.Nupdated)
	case XLogBtreeDelete:
		xl, err := DecodeXlBtreeDelete(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "latestRemovedXid %d; ndeleted %d; nupdated %d", xl.LatestRemovedXid, xl.Ndeleted, xl.Nupdated)
	case XLogBtreeMarkPageHalfdead:
		xl, err := DecodeXlBtreeMarkPageHalfdead(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "topparent %d; leaf %d; left %d; right %d", xl.Topparent, xl.Leafblk, xl.Leftblk, xl.Rightblk)
	case XLogBtreeUnlinkPage, XLogBtreeUnlinkPageMeta:
		xl, err := DecodeXlBtreeUnlinkPage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "left %d; right %d; level %d; safexid ", xl.Leftsib, xl.Rightsib, xl.Level)
		b = rdAppendFullXid(b, xl.Safexid)
		b = fmt.Appendf(b, "; leafleft %d; leafright %d; leaftopparent %d", xl.Leafleftsib, xl.Leafrightsib, xl.Leaftopparent)
	case XLogBtreeNewroot:
		xl, err := DecodeXlBtreeNewroot(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "lev %d", xl.Level)
	case XLogBtreeReusePage:
		xl, err := DecodeXlBtreeReusePage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		rn := xl.Node
		b = fmt.Appendf(b, "rel %d/%d/%d; latestRemovedXid ", rn.SpcNode, rn.DbNode, rn.RelNode)
		b = rdAppendFullXid(b, xl.LatestRemovedFullXid)
	case XLogBtreeMetaCleanup: // the metadata is block 0's data, not main data
		blk := d.r.Block(0)
		if blk == nil {
			return rdTruncated(b)
		}
		md, err := DecodeXlBtreeMetadata(blk.Data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "last_cleanup_num_delpages %d", md.LastCleanupNumDelpages)
	}
	return b
}
