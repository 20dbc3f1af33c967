package schema

import "fmt"

// Heap and Heap2 descriptions (heapdesc.c), decoded with heapxlog.go.

// rdAppendInfobits appends the XLHL_* bits of an infobits_set byte, each
// followed by a space.
func rdAppendInfobits(b []byte, infobits uint8) []byte {
	if infobits&XLHLXmaxIsMulti != 0 {
		b = append(b, "IS_MULTI "...)
	}
	if infobits&XLHLXmaxLockOnly != 0 {
		b = append(b, "LOCK_ONLY "...)
	}
	if infobits&XLHLXmaxExclLock != 0 {
		b = append(b, "EXCL_LOCK "...)
	}
	if infobits&XLHLXmaxKeyshrLock != 0 {
		b = append(b, "KEYSHR_LOCK "...)
	}
	if infobits&XLHLKeysUpdated != 0 {
		b = append(b, "KEYS_UPDATED "...)
	}
	return b
}

func (d *descCtx) heap(b []byte) []byte {
	rec := d.data
	switch d.info & XLogHeapOpMask { // +INIT is described like the plain op
	case XLogHeapInsert:
		xl, err := DecodeXlHeapInsert(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d flags 0x%02X", xl.Offnum, xl.Flags)
	case XLogHeapDelete:
		xl, err := DecodeXlHeapDelete(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d flags 0x%02X ", xl.Offnum, xl.Flags)
		b = rdAppendInfobits(b, xl.InfobitsSet)
	case XLogHeapUpdate, XLogHeapHotUpdate:
		xl, err := DecodeXlHeapUpdate(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d xmax %d flags 0x%02X ", xl.OldOffnum, xl.OldXmax, xl.Flags)
		b = rdAppendInfobits(b, xl.OldInfobitsSet)
		b = fmt.Appendf(b, "; new off %d xmax %d", xl.NewOffnum, xl.NewXmax)
	case XLogHeapTruncate:
		xl, err := DecodeXlHeapTruncate(rec)
		if err != nil {
			return rdTruncated(b)
		}
		if xl.Flags&XLHTruncateCascade != 0 {
			b = append(b, "cascade "...)
		}
		if xl.Flags&XLHTruncateRestartSeqs != 0 {
			b = append(b, "restart_seqs "...)
		}
		b = fmt.Appendf(b, "nrelids %d relids", xl.Nrelids)
		for i := 0; i < xl.Relids.Len(); i++ {
			b = fmt.Appendf(b, " %d", xl.Relids.At(i))
		}
		if xl.Complete() != nil {
			return rdTruncated(b)
		}
	case XLogHeapConfirm:
		xl, err := DecodeXlHeapConfirm(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", xl.Offnum)
	case XLogHeapLock:
		xl, err := DecodeXlHeapLock(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d: xid %d: flags 0x%02X ", xl.Offnum, xl.LockingXid, xl.Flags)
		b = rdAppendInfobits(b, xl.InfobitsSet)
	case XLogHeapInplace:
		xl, err := DecodeXlHeapInplace(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", xl.Offnum)
	}
	return b
}

func (d *descCtx) heap2(b []byte) []byte {
	rec := d.data
	switch d.info & XLogHeapOpMask {
	case XLogHeap2Rewrite: // heap2_desc prints nothing
	case XLogHeap2Prune:
		xl, err := DecodeXlHeapPrune(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "latestRemovedXid %d nredirected %d ndead %d", xl.LatestRemovedXid, xl.Nredirected, xl.Ndead)
	case XLogHeap2Vacuum:
		xl, err := DecodeXlHeapVacuum(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "nunused %d", xl.Nunused)
	case XLogHeap2FreezePage:
		xl, err := DecodeXlHeapFreezePage(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "cutoff xid %d ntuples %d", xl.CutoffXid, xl.Ntuples)
	case XLogHeap2Visible:
		xl, err := DecodeXlHeapVisible(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "cutoff xid %d flags 0x%02X", xl.CutoffXid, xl.Flags)
	case XLogHeap2MultiInsert: // and +INIT
		xl, err := DecodeXlHeapMultiInsert(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d tuples flags 0x%02X", xl.Ntuples, xl.Flags)
	case XLogHeap2LockUpdated:
		xl, err := DecodeXlHeapLockUpdated(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d: xmax %d: flags 0x%02X ", xl.Offnum, xl.Xmax, xl.Flags)
		b = rdAppendInfobits(b, xl.InfobitsSet)
	case XLogHeap2NewCid:
		xl, err := DecodeXlHeapNewCid(rec)
		if err != nil {
			return rdTruncated(b)
		}
		rn := xl.TargetNode
		b = fmt.Appendf(b, "rel %d/%d/%d; tid %d/%d", rn.SpcNode, rn.DbNode, rn.RelNode, xl.TargetTid.Block, xl.TargetTid.Offset)
		b = fmt.Appendf(b, "; cmin: %d, cmax: %d, combo: %d", xl.Cmin, xl.Cmax, xl.Combocid)
	}
	return b
}
