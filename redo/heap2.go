package redo

import "github.com/pagemill/pagemill/schema"

// heap2Redo is heap2_redo for the opcodes implemented so far (see
// heapRedo for the contract of the return value).
func (e *Engine) heap2Redo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & heapOpcodeMask {
	case heap2MultiInsOp:
		return e.heapMultiInsert(rec, pages, restored, res)
	}
	return false
}
