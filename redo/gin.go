package redo

import (
	"errors"
	"github.com/pagemill/pagemill/schema"
)

// GIN redo (access/gin/ginxlog.c, gin_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.

// ginRedo is gin_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) ginRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false // TODO(issue 13)
}

// MaskGin is gin_mask (access/gin/ginxlog.c).
func MaskGin(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("gin_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	special, err := maskOpaque(page, maskGinOpaqueSize)
	maskHintBits(page)

	// A deleted page is reinitialized empty: ignore all of its content.
	// Otherwise mask the hole if pd_lower looks set.
	if flags, ok := maskGet16(page, special+maskGinFlags); ok && flags&maskGinDeleted != 0 {
		maskPageContent(page)
	} else if maskLower(page) > maskPageHeaderSize {
		err = errors.Join(err, maskUnusedSpace(page))
	}
	return maskWrap("gin_mask", err)
}
