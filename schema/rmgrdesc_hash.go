package schema

import "fmt"

// Hash record descriptions (hashdesc.c).

func (d *descCtx) hash(b []byte) []byte {
	rec := d.data
	need := func(n int) bool { return len(rec) >= n }
	switch d.op() {
	case 0x00: // INIT_META_PAGE: num_tuples f64, procid @8, ffactor u16 @12
		if !need(14) {
			return rdTruncated(b)
		}
		b = append(b, "num_tuples "...)
		b = rdAppendCFloatG(b, rdF64(rec, 0))
		b = fmt.Appendf(b, ", fillfactor %d", rdU16(rec, 12))
	case 0x10: // INIT_BITMAP_PAGE: bmsize u16
		if !need(2) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "bmsize %d", rdU16(rec, 0))
	case 0x20: // INSERT: offnum
		if !need(2) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", rdU16(rec, 0))
	case 0x30: // ADD_OVFL_PAGE: bmsize u16, bmpage_found bool
		if !need(3) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "bmsize %d, bmpage_found %c", rdU16(rec, 0), rdBoolTF(rec[2] != 0))
	case 0x40: // SPLIT_ALLOCATE_PAGE: new_bucket, old/new_bucket_flag, flags u8 @8
		if !need(9) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "new_bucket %d, meta_page_masks_updated %c, issplitpoint_changed %c",
			rdU32(rec, 0), rdBoolTF(rec[8]&0x01 != 0), rdBoolTF(rec[8]&0x02 != 0))
	case 0x60: // SPLIT_COMPLETE: old_bucket_flag, new_bucket_flag
		if !need(4) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "old_bucket_flag %d, new_bucket_flag %d", rdU16(rec, 0), rdU16(rec, 2))
	case 0x70: // MOVE_PAGE_CONTENTS: ntups u16, is_prim_bucket_same_wrt
		if !need(3) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ntups %d, is_primary %c", rdU16(rec, 0), rdBoolTF(rec[2] != 0))
	case 0x80: // SQUEEZE_PAGE: prevblkno, nextblkno, ntups u16 @8, is_prim @10
		if !need(11) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "prevblkno %d, nextblkno %d, ntups %d, is_primary %c",
			rdU32(rec, 0), rdU32(rec, 4), rdU16(rec, 8), rdBoolTF(rec[10] != 0))
	case 0x90: // DELETE: clear_dead_marking, is_primary_bucket_page
		if !need(2) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "clear_dead_marking %c, is_primary %c", rdBoolTF(rec[0] != 0), rdBoolTF(rec[1] != 0))
	case 0xB0: // UPDATE_META_PAGE: ntuples f64
		if !need(8) {
			return rdTruncated(b)
		}
		b = append(b, "ntuples "...)
		b = rdAppendCFloatG(b, rdF64(rec, 0))
	case 0xC0: // VACUUM_ONE_PAGE: latestRemovedXid, ntuples int
		if !need(8) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ntuples %d, latestRemovedXid %d", rdI32(rec, 4), rdU32(rec, 0))
	}
	// SPLIT_PAGE (0x50) and SPLIT_CLEANUP (0xA0) print nothing.
	return b
}
