package schema

import "fmt"

// GiST record descriptions (gistdesc.c). The layouts are decoded by
// gistxlog.go.

func (d *descCtx) gist(b []byte) []byte {
	switch d.op() {
	case XLogGistPageReuse:
		x, err := DecodeGistxlogPageReuse(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "rel %d/%d/%d; blk %d; latestRemovedXid ", x.Node.SpcNode, x.Node.DbNode, x.Node.RelNode, x.Block)
		b = rdAppendFullXid(b, x.LatestRemovedFullXid)
	case XLogGistDelete:
		x, err := DecodeGistxlogDelete(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "delete: latestRemovedXid %d, nitems: %d", x.LatestRemovedXid, x.NToDelete)
	case XLogGistPageSplit:
		x, err := DecodeGistxlogPageSplit(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "page_split: splits to %d pages", x.NPage)
	case XLogGistPageDelete:
		x, err := DecodeGistxlogPageDelete(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = append(b, "deleteXid "...)
		b = rdAppendFullXid(b, x.DeleteXid)
		b = fmt.Appendf(b, "; downlink %d", x.DownlinkOffset)
	}
	// PAGE_UPDATE and ASSIGN_LSN print nothing (gistdesc.c reads no field).
	return b
}
