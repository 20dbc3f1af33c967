package redo

import (
	"github.com/pagemill/pagemill/schema"
)

// Generic WAL redo (access/transam/generic_xlog.c, generic_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.

// genericRedo is generic_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value). Every block is independent: one
// that is restored, up to date or unavailable does not stop the others.
func (e *Engine) genericRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	// Check every delta first, so that a record PostgreSQL does not write
	// changes no page.
	for i := range rec.Blocks {
		blk := &rec.Blocks[i]
		if blk.ID >= schema.MaxGenericXLogPages || !redoModeMatches(blk, false) {
			return false // past buffers[] in generic_redo; PANIC on WILL_INIT
		}
		if blk.ApplyImage() {
			continue // BLK_RESTORED: the delta is not read (nor logged)
		}
		if schema.CheckGenericDelta(blk.Data) != nil {
			return false
		}
	}
	for i := range rec.Blocks {
		page, action := readBufferForRedoNormal(rec, pages, restored, i, res)
		if action != blkNeedsRedo {
			continue
		}
		if !applyPageRedo(page, rec.Blocks[i].Data) {
			return false
		}
		if !e.finishPage(rec, page, rec.Blocks[i].Tag.Block) {
			return false
		}
	}
	return true
}

// applyPageRedo is applyPageRedo plus the rest of generic_redo's page
// change: the fragments of delta (checked by schema.CheckGenericDelta) are
// copied in order, then the hole between the resulting pd_lower and
// pd_upper is zeroed, as GenericXLogFinish zeroed it on the primary. It is
// false, the page half changed, where PostgreSQL's memset would run
// outside the page (pd_lower > pd_upper or pd_upper past the end).
func applyPageRedo(page schema.Page, delta []byte) bool {
	for p := 0; p < len(delta); {
		var f schema.GenericDeltaFragment
		f, p = schema.NextGenericFragment(delta, p)
		copy(page[f.Offset:int(f.Offset)+int(f.Length)], f.Data)
	}
	lower, upper := int(page.Lower()), int(page.Upper())
	if lower > upper || upper > len(page) {
		return false
	}
	clear(page[lower:upper])
	return true
}

// MaskGeneric is generic_mask (access/transam/generic_xlog.c).
func MaskGeneric(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("generic_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	return maskWrap("generic_mask", maskUnusedSpace(page))
}
