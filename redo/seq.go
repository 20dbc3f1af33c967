package redo

import (
	"encoding/binary"

	"github.com/pagemill/pagemill/schema"
)

// The sequence page's special space (commands/sequence.c); the record is
// schema.XlSeqRec.
const (
	seqMagic      = 0x1717 // SEQ_MAGIC
	sizeOfSeqSpec = 4      // sequence_magic
)

// seqRedo is seq_redo (commands/sequence.c): the sequence's only page is
// always rebuilt from the record, whether or not it had an image — a
// fresh page with the magic in its special space and the logged tuple at
// offset 1.
func (e *Engine) seqRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	i := blockIndex(rec, 0)
	if rec.Info()&schema.XLRRmgrInfoMask != schema.XLogSeqLog || i < 0 {
		return false
	}
	xl, err := schema.DecodeXlSeqRec(rec.MainData)
	if err != nil || len(xl.Tuple) == 0 {
		return false
	}
	tag := rec.Blocks[i].Tag
	local := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(local, sizeOfSeqSpec)
	binary.LittleEndian.PutUint32(local[local.Special():], seqMagic)
	if _, err := PageAddItemExtended(local, xl.Tuple, schema.FirstOffsetNumber, 0); err != nil {
		return false // PANIC "failed to add item to page"
	}
	page, ok := pages.Get(tag)
	if !ok || len(page) != schema.BLCKSZ {
		page = make(schema.Page, schema.BLCKSZ)
	}
	copy(page, local)
	restored[i] = false
	pages.Put(tag, page)
	return e.finishPage(rec, page, tag.Block)
}
