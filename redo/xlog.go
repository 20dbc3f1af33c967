package redo

import "github.com/pagemill/pagemill/schema"

// applyXLOG is the page side of xlog_redo. XLOG_FPI and XLOG_FPI_FOR_HINT
// consist of nothing but block references, each with an image to apply;
// the images were restored by Apply before this is called, so the record
// is done once every block is known to have been restored (xlog_redo
// raises ERROR on any other XLogReadBufferForRedo result). Every other
// XLOG record (checkpoints, NEXTOID, SWITCH, BACKUP_END, PARAMETER_CHANGE,
// RESTORE_POINT, FPW_CHANGE, END_OF_RECOVERY, OVERWRITE_CONTRECORD, NOOP)
// changes shared-memory state or control-file fields only: no page.
func applyXLOG(rec *schema.DecodedRecord, restored []bool) bool {
	switch rec.Info() & schema.XLRRmgrInfoMask {
	case schema.XLogFPI, schema.XLogFPIForHint:
		if len(rec.Blocks) == 0 {
			return false
		}
		for _, ok := range restored {
			if !ok {
				return false
			}
		}
		return true
	default:
		// xlog_redo asserts that only FPI records carry block references.
		return len(rec.Blocks) == 0
	}
}
