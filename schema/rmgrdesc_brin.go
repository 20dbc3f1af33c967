package schema

import "fmt"

// BRIN record descriptions (brindesc.c), from the decoders of brinxlog.go.

func (d *descCtx) brin(b []byte) []byte {
	switch d.op() & XLogBrinOpMask { // +INIT is described like the plain op
	case XLogBrinCreateIndex:
		xl, err := DecodeXlBrinCreateidx(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "v%d pagesPerRange %d", xl.Version, xl.PagesPerRange)
	case XLogBrinInsert:
		xl, err := DecodeXlBrinInsert(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "heapBlk %d pagesPerRange %d offnum %d", xl.HeapBlk, xl.PagesPerRange, xl.Offnum)
	case XLogBrinUpdate:
		xl, err := DecodeXlBrinUpdate(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "heapBlk %d pagesPerRange %d old offnum %d, new offnum %d",
			xl.Insert.HeapBlk, xl.Insert.PagesPerRange, xl.OldOffnum, xl.Insert.Offnum)
	case XLogBrinSamepageUpdate:
		xl, err := DecodeXlBrinSamepageUpdate(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "offnum %d", xl.Offnum)
	case XLogBrinRevmapExtend:
		xl, err := DecodeXlBrinRevmapExtend(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "targetBlk %d", xl.TargetBlk)
	case XLogBrinDesummarize:
		xl, err := DecodeXlBrinDesummarize(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "pagesPerRange %d, heapBlk %d, page offset %d", xl.PagesPerRange, xl.HeapBlk, xl.RegOffset)
	}
	return b
}
