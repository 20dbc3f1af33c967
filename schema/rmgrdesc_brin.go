package schema

import "fmt"

// BRIN record descriptions (brindesc.c).

func (d *descCtx) brin(b []byte) []byte {
	rec := d.data
	switch d.op() & 0x70 { // XLOG_BRIN_OPMASK: +INIT is described like the plain op
	case 0x00: // CREATE_INDEX: pagesPerRange, version u16 @4
		if len(rec) < 6 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "v%d pagesPerRange %d", rdU16(rec, 4), rdU32(rec, 0))
	case 0x10: // INSERT: heapBlk, pagesPerRange, offnum @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "heapBlk %d pagesPerRange %d offnum %d", rdU32(rec, 0), rdU32(rec, 4), rdU16(rec, 8))
	case 0x20: // UPDATE: oldOffnum, xl_brin_insert @4
		if len(rec) < 14 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "heapBlk %d pagesPerRange %d old offnum %d, new offnum %d",
			rdU32(rec, 4), rdU32(rec, 8), rdU16(rec, 0), rdU16(rec, 12))
	case 0x30: // SAMEPAGE_UPDATE: offnum
		if len(rec) < 2 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "offnum %d", rdU16(rec, 0))
	case 0x40: // REVMAP_EXTEND: targetBlk
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "targetBlk %d", rdU32(rec, 0))
	case 0x50: // DESUMMARIZE: pagesPerRange, heapBlk, regOffset @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "pagesPerRange %d, heapBlk %d, page offset %d", rdU32(rec, 0), rdU32(rec, 4), rdU16(rec, 8))
	}
	return b
}
