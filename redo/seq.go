package redo

import (
	"encoding/binary"

	"github.com/pagemill/pagemill/schema"
)

const (
	seqLogOp      = 0x00   // XLOG_SEQ_LOG
	seqMagic      = 0x1717 // SEQ_MAGIC
	sizeOfSeqRec  = 12     // xl_seq_rec: RelFileNode; the tuple follows
	sizeOfSeqSpec = 4      // sequence_magic
)

// seqRedo is seq_redo (commands/sequence.c): the sequence's only page is
// always rebuilt from the record, whether or not it had an image — a
// fresh page with the magic in its special space and the logged tuple at
// offset 1.
func (e *Engine) seqRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	i := blockIndex(rec, 0)
	if rec.Info()&schema.XLRRmgrInfoMask != seqLogOp || i < 0 || len(rec.MainData) <= sizeOfSeqRec {
		return false
	}
	tag := rec.Blocks[i].Tag
	local := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(local, sizeOfSeqSpec)
	binary.LittleEndian.PutUint32(local[local.Special():], seqMagic)
	if _, err := PageAddItemExtended(local, rec.MainData[sizeOfSeqRec:], schema.FirstOffsetNumber, 0); err != nil {
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
