package redo

import (
	"github.com/pagemill/pagemill/schema"
)

// Generic WAL redo (access/transam/generic_xlog.c, generic_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.

// genericRedo is generic_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) genericRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false // TODO(issue 13)
}

// MaskGeneric is generic_mask (access/transam/generic_xlog.c).
func MaskGeneric(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("generic_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	return maskWrap("generic_mask", maskUnusedSpace(page))
}
