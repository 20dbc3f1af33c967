package schema

import "fmt"

// Hash record descriptions (hashdesc.c), decoded with hashxlog.go.

func (d *descCtx) hash(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case XLogHashInitMetaPage:
		xl, err := DecodeXlHashInitMetaPage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = append(b, "num_tuples "...)
		b = rdAppendCFloatG(b, xl.NumTuples)
		b = fmt.Appendf(b, ", fillfactor %d", xl.Ffactor)
	case XLogHashInitBitmapPage:
		xl, err := DecodeXlHashInitBitmapPage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "bmsize %d", xl.Bmsize)
	case XLogHashInsert:
		xl, err := DecodeXlHashInsert(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", xl.Offnum)
	case XLogHashAddOvflPage:
		xl, err := DecodeXlHashAddOvflPage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "bmsize %d, bmpage_found %c", xl.Bmsize, rdBoolTF(xl.BmpageFound))
	case XLogHashSplitAllocatePage:
		xl, err := DecodeXlHashSplitAllocatePage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "new_bucket %d, meta_page_masks_updated %c, issplitpoint_changed %c",
			xl.NewBucket, rdBoolTF(xl.Flags&XLHSplitMetaUpdateMasks != 0),
			rdBoolTF(xl.Flags&XLHSplitMetaUpdateSplitpoint != 0))
	case XLogHashSplitComplete:
		xl, err := DecodeXlHashSplitComplete(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "old_bucket_flag %d, new_bucket_flag %d", xl.OldBucketFlag, xl.NewBucketFlag)
	case XLogHashMovePageContents:
		xl, err := DecodeXlHashMovePageContents(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ntups %d, is_primary %c", xl.Ntups, rdBoolTF(xl.IsPrimBucketSameWrt))
	case XLogHashSqueezePage:
		xl, err := DecodeXlHashSqueezePage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "prevblkno %d, nextblkno %d, ntups %d, is_primary %c",
			xl.Prevblkno, xl.Nextblkno, xl.Ntups, rdBoolTF(xl.IsPrimBucketSameWrt))
	case XLogHashDelete:
		xl, err := DecodeXlHashDelete(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "clear_dead_marking %c, is_primary %c",
			rdBoolTF(xl.ClearDeadMarking), rdBoolTF(xl.IsPrimaryBucketPage))
	case XLogHashUpdateMetaPage:
		xl, err := DecodeXlHashUpdateMetaPage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = append(b, "ntuples "...)
		b = rdAppendCFloatG(b, xl.Ntuples)
	case XLogHashVacuumOnePage:
		xl, err := DecodeXlHashVacuumOnePage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ntuples %d, latestRemovedXid %d", xl.Ntuples, xl.LatestRemovedXid)
	}
	// SPLIT_PAGE and SPLIT_CLEANUP print nothing.
	return b
}
