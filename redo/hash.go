package redo

import (
	"errors"
	"github.com/pagemill/pagemill/schema"
)

// Hash redo (access/hash/hash_xlog.c, hash_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.

// hashRedo is hash_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) hashRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false // TODO(issue 13)
}

// MaskHash is hash_mask (access/hash/hash_xlog.c).
func MaskHash(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("hash_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	err := maskUnusedSpace(page)

	special, errS := maskOpaque(page, maskHashOpaqueSize)
	err = errors.Join(err, errS)
	if flag, ok := maskGet16(page, special+maskHashFlag); ok {
		switch flag & maskHashPageType {
		case maskHashUnusedPage:
			maskPageContent(page)
		case maskHashBucketPage, maskHashOverflowPage:
			maskLPFlags(page)
		}
	}
	// Re-read: mask_page_content may have zeroed the special space.
	if flag, ok := maskGet16(page, special+maskHashFlag); ok {
		maskPut16(page, special+maskHashFlag, flag&^maskHashDeadTuples)
	}
	return maskWrap("hash_mask", err)
}
