package redo

import "github.com/pagemill/pagemill/schema"

// btreeRedo is btree_redo (access/nbtree/nbtxlog.c) for the opcodes
// implemented so far (see heapRedo for the contract of the return value).
func (e *Engine) btreeRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false
}
