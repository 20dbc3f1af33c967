package schema

import "fmt"

// XLOG descriptions (xlogdesc.c). pg_waldump's record line and block
// references are in waldump.go.

const (
	descSizeCheckPoint       = 84 // fields up to oldestActiveXid @80 (sizeof 88)
	descSizeParameterChange  = 26 // six ints, two bools (sizeof 28)
	descSizeEndOfRecovery    = 16 // end_time, ThisTimeLineID, PrevTimeLineID
	descSizeOverwriteContrec = 16 // overwritten_lsn, overwrite_time
	descOffRestorePointName  = 8  // rp_name[64] after rp_time
)

// rdWalLevelName is the first wal_level_options entry with the value, as
// xlog_desc looks it up.
func rdWalLevelName(v int32) string {
	switch v {
	case 0:
		return "minimal"
	case 1:
		return "replica"
	case 2:
		return "logical"
	}
	return "?"
}

func (d *descCtx) xlog(b []byte) []byte {
	rec := d.data
	switch op := d.op(); op {
	case 0x00, 0x10: // CHECKPOINT_SHUTDOWN, CHECKPOINT_ONLINE
		if len(rec) < descSizeCheckPoint {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "redo %s; tli %d; prev tli %d; fpw %s; xid ",
			LSN(rdU64(rec, 0)).Short(), rdU32(rec, 8), rdU32(rec, 12), rdBoolStr(rec[16], "true", "false"))
		b = rdAppendFullXid(b, rdU64(rec, 24))
		b = fmt.Appendf(b, "; oid %d; multi %d; offset %d; oldest xid %d in DB %d; oldest multi %d in DB %d; "+
			"oldest/newest commit timestamp xid: %d/%d; oldest running xid %d; ",
			rdU32(rec, 32), rdU32(rec, 36), rdU32(rec, 40), rdU32(rec, 44), rdU32(rec, 48),
			rdU32(rec, 52), rdU32(rec, 56), rdU32(rec, 72), rdU32(rec, 76), rdU32(rec, 80))
		if op == 0x00 {
			b = append(b, "shutdown"...)
		} else {
			b = append(b, "online"...)
		}
	case 0x30: // NEXTOID
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d", rdU32(rec, 0))
	case 0x70: // RESTORE_POINT
		name, ok := rdCString(rec, descOffRestorePointName)
		b = append(b, name...)
		if !ok {
			return rdTruncated(b)
		}
	case 0xA0, 0xB0: // FPI_FOR_HINT, FPI: nothing
	case 0x50: // BACKUP_END
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = append(b, LSN(rdU64(rec, 0)).Short()...)
	case 0x60: // PARAMETER_CHANGE
		if len(rec) < descSizeParameterChange {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "max_connections=%d max_worker_processes=%d max_wal_senders=%d "+
			"max_prepared_xacts=%d max_locks_per_xact=%d wal_level=%s wal_log_hints=%s track_commit_timestamp=%s",
			rdI32(rec, 0), rdI32(rec, 4), rdI32(rec, 8), rdI32(rec, 12), rdI32(rec, 16),
			rdWalLevelName(rdI32(rec, 20)), rdBoolStr(rec[24], "on", "off"), rdBoolStr(rec[25], "on", "off"))
	case 0x80: // FPW_CHANGE
		if len(rec) < 1 {
			return rdTruncated(b)
		}
		b = append(b, rdBoolStr(rec[0], "true", "false")...)
	case 0x90: // END_OF_RECOVERY
		if len(rec) < descSizeEndOfRecovery {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "tli %d; prev tli %d; time ", rdU32(rec, 8), rdU32(rec, 12))
		b = rdAppendTimestamptz(b, rdI64(rec, 0), d.loc)
	case 0xD0: // OVERWRITE_CONTRECORD
		if len(rec) < descSizeOverwriteContrec {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "lsn %s; time ", LSN(rdU64(rec, 0)).Short())
		b = rdAppendTimestamptz(b, rdI64(rec, 8), d.loc)
	}
	return b
}
