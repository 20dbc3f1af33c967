package redo

import (
	"github.com/pagemill/pagemill/schema"
)

// SP-GiST redo (access/spgist/spgxlog.c, spg_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.

// spgRedo is spg_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) spgRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false // TODO(issue 13)
}

// MaskSPGist is spg_mask (access/spgist/spgxlog.c).
func MaskSPGist(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("spg_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	var err error
	if maskLower(page) >= maskPageHeaderSize {
		err = maskUnusedSpace(page)
	}
	return maskWrap("spg_mask", err)
}
