package redo

import (
	"errors"
	"github.com/pagemill/pagemill/schema"
)

// BRIN redo (access/brin/brin_xlog.c, brin_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.

// brinRedo is brin_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) brinRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false // TODO(issue 13)
}

// MaskBRIN is brin_mask (access/brin/brin_xlog.c).
func MaskBRIN(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("brin_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)

	special, err := maskOpaque(page, maskBrinSpecialSize)
	// Regular pages, and meta pages whose pd_lower looks set, have a hole.
	if typ, ok := maskGet16(page, special+maskBrinType); ok &&
		(typ == maskBrinTypeRegular || (typ == maskBrinTypeMeta && maskLower(page) > maskPageHeaderSize)) {
		err = errors.Join(err, maskUnusedSpace(page))
	}
	// BRIN_EVACUATE_PAGE is not WAL-logged.
	if flags, ok := maskGet16(page, special+maskBrinFlags); ok {
		maskPut16(page, special+maskBrinFlags, flags&^maskBrinEvacuate)
	}
	return maskWrap("brin_mask", err)
}
