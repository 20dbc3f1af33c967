package redo

import (
	"errors"
	"github.com/pagemill/pagemill/schema"
)

// GiST redo (access/gist/gistxlog.c, gist_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.

// gistRedo is gist_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) gistRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false // TODO(issue 13)
}

// MaskGist is gist_mask (access/gist/gistxlog.c).
func MaskGist(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("gist_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	err := maskUnusedSpace(page)

	special, errS := maskOpaque(page, maskGistOpaqueSize)
	err = errors.Join(err, errS)
	// The NSN is a special-purpose LSN.
	maskPut32(page, special+maskGistNSN, MaskMarker)
	maskPut32(page, special+maskGistNSN+4, MaskMarker)
	// F_FOLLOW_RIGHT is updated after the WAL record is written: force it on.
	if flags, ok := maskGet16(page, special+maskGistFlags); ok {
		maskPut16(page, special+maskGistFlags, flags|maskGistFollowRight)
	}
	if flags, ok := maskGet16(page, special+maskGistFlags); ok && flags&maskGistLeaf != 0 {
		maskLPFlags(page)
	}
	if flags, ok := maskGet16(page, special+maskGistFlags); ok {
		maskPut16(page, special+maskGistFlags, flags&^maskGistHasGarbage)
	}
	return maskWrap("gist_mask", err)
}
