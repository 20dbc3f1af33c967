package schema

import "fmt"

// Heap and Heap2 descriptions (heapdesc.c). Struct offsets are those of
// access/heapam_xlog.h on a 64-bit build.

// Main data sizes read by heap_desc / heap2_desc.
const (
	descSizeHeapInsert      = 3  // offnum u16, flags u8
	descSizeHeapDelete      = 8  // xmax, offnum, infobits_set, flags
	descSizeHeapUpdate      = 14 // old_xmax, old_offnum, old_infobits, flags, new_xmax, new_offnum
	descSizeHeapTruncate    = 12 // dbId, nrelids, flags (+pad); relids follow
	descSizeHeapConfirm     = 2
	descSizeHeapLock        = 8 // locking_xid, offnum, infobits_set, flags
	descSizeHeapInplace     = 2
	descSizeHeapPrune       = 8 // latestRemovedXid, nredirected, ndead
	descSizeHeapVacuum      = 2
	descSizeHeapFreezePage  = 6 // cutoff_xid, ntuples
	descSizeHeapVisible     = 5 // cutoff_xid, flags
	descSizeHeapMultiInsert = 4 // flags, pad, ntuples
	descSizeHeapLockUpdated = 8 // xmax, offnum, infobits_set, flags
	descSizeHeapNewCid      = 34
)

// rdAppendInfobits appends the XLHL_* bits of an infobits_set byte, each
// followed by a space.
func rdAppendInfobits(b []byte, infobits uint8) []byte {
	if infobits&0x01 != 0 {
		b = append(b, "IS_MULTI "...)
	}
	if infobits&0x02 != 0 {
		b = append(b, "LOCK_ONLY "...)
	}
	if infobits&0x04 != 0 {
		b = append(b, "EXCL_LOCK "...)
	}
	if infobits&0x08 != 0 {
		b = append(b, "KEYSHR_LOCK "...)
	}
	if infobits&0x10 != 0 {
		b = append(b, "KEYS_UPDATED "...)
	}
	return b
}

func (d *descCtx) heap(b []byte) []byte {
	rec := d.data
	switch d.op() & 0x70 { // XLOG_HEAP_OPMASK: +INIT is described like the plain op
	case 0x00: // INSERT
		if len(rec) < descSizeHeapInsert {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d flags 0x%02X", rdU16(rec, 0), rec[2])
	case 0x10: // DELETE
		if len(rec) < descSizeHeapDelete {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d flags 0x%02X ", rdU16(rec, 4), rec[7])
		b = rdAppendInfobits(b, rec[6])
	case 0x20, 0x40: // UPDATE, HOT_UPDATE
		if len(rec) < descSizeHeapUpdate {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d xmax %d flags 0x%02X ", rdU16(rec, 4), rdU32(rec, 0), rec[7])
		b = rdAppendInfobits(b, rec[6])
		b = fmt.Appendf(b, "; new off %d xmax %d", rdU16(rec, 12), rdU32(rec, 8))
	case 0x30: // TRUNCATE
		if len(rec) < descSizeHeapTruncate {
			return rdTruncated(b)
		}
		flags := rec[8]
		if flags&0x01 != 0 { // XLH_TRUNCATE_CASCADE
			b = append(b, "cascade "...)
		}
		if flags&0x02 != 0 { // XLH_TRUNCATE_RESTART_SEQS
			b = append(b, "restart_seqs "...)
		}
		n := rdU32(rec, 4)
		b = fmt.Appendf(b, "nrelids %d relids", n)
		for i := uint32(0); i < n; i++ {
			off := descSizeHeapTruncate + 4*int(i)
			if off+4 > len(rec) {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " %d", rdU32(rec, off))
		}
	case 0x50: // CONFIRM
		if len(rec) < descSizeHeapConfirm {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", rdU16(rec, 0))
	case 0x60: // LOCK
		if len(rec) < descSizeHeapLock {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d: xid %d: flags 0x%02X ", rdU16(rec, 4), rdU32(rec, 0), rec[7])
		b = rdAppendInfobits(b, rec[6])
	case 0x70: // INPLACE
		if len(rec) < descSizeHeapInplace {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", rdU16(rec, 0))
	}
	return b
}

func (d *descCtx) heap2(b []byte) []byte {
	rec := d.data
	switch d.op() & 0x70 {
	case 0x00: // REWRITE: heap2_desc prints nothing
	case 0x10: // PRUNE
		if len(rec) < descSizeHeapPrune {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "latestRemovedXid %d nredirected %d ndead %d",
			rdU32(rec, 0), rdU16(rec, 4), rdU16(rec, 6))
	case 0x20: // VACUUM
		if len(rec) < descSizeHeapVacuum {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "nunused %d", rdU16(rec, 0))
	case 0x30: // FREEZE_PAGE
		if len(rec) < descSizeHeapFreezePage {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "cutoff xid %d ntuples %d", rdU32(rec, 0), rdU16(rec, 4))
	case 0x40: // VISIBLE
		if len(rec) < descSizeHeapVisible {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "cutoff xid %d flags 0x%02X", rdU32(rec, 0), rec[4])
	case 0x50: // MULTI_INSERT (and +INIT)
		if len(rec) < descSizeHeapMultiInsert {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d tuples flags 0x%02X", rdU16(rec, 2), rec[0])
	case 0x60: // LOCK_UPDATED
		if len(rec) < descSizeHeapLockUpdated {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d: xmax %d: flags 0x%02X ", rdU16(rec, 4), rdU32(rec, 0), rec[7])
		b = rdAppendInfobits(b, rec[6])
	case 0x70: // NEW_CID
		if len(rec) < descSizeHeapNewCid {
			return rdTruncated(b)
		}
		rn := rdRel(rec, 16)
		b = fmt.Appendf(b, "rel %d/%d/%d; tid %d/%d", rn.SpcNode, rn.DbNode, rn.RelNode,
			rdBlockID(rec, 28), rdU16(rec, 32))
		b = fmt.Appendf(b, "; cmin: %d, cmax: %d, combo: %d", rdU32(rec, 4), rdU32(rec, 8), rdU32(rec, 12))
	}
	return b
}
