package redo

import "github.com/pagemill/pagemill/schema"

// seqRedo is seq_redo (commands/sequence.c).
func (e *Engine) seqRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	return false
}
