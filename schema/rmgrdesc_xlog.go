package schema

import "fmt"

// XLOG descriptions (xlogdesc.c), decoded with xlogxlog.go, ParseCheckPoint
// and ParseParameters. pg_waldump's record line and block references are
// in waldump.go.

// rdWalLevelName is the first wal_level_options entry with the value, as
// xlog_desc looks it up.
func rdWalLevelName(v WALLevel) string {
	if v < WALLevelMinimal || v > WALLevelLogical {
		return "?"
	}
	return v.String()
}

// rdOnOff is C's `x ? "on" : "off"`.
func rdOnOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// rdTrueFalse is C's `x ? "true" : "false"`.
func rdTrueFalse(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

func (d *descCtx) xlog(b []byte) []byte {
	rec := d.data
	switch op := d.op(); op {
	case XLogCheckpointShutdown, XLogCheckpointOnline:
		cp, err := ParseCheckPoint(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "redo %s; tli %d; prev tli %d; fpw %s; xid ",
			cp.Redo.Short(), cp.ThisTimeLineID, cp.PrevTimeLineID, rdTrueFalse(cp.FullPageWrites))
		b = rdAppendFullXid(b, cp.NextXid)
		b = fmt.Appendf(b, "; oid %d; multi %d; offset %d; oldest xid %d in DB %d; oldest multi %d in DB %d; "+
			"oldest/newest commit timestamp xid: %d/%d; oldest running xid %d; ",
			cp.NextOid, cp.NextMulti, cp.NextMultiOffset, cp.OldestXid, cp.OldestXidDB,
			cp.OldestMulti, cp.OldestMultiDB, cp.OldestCommitTsXid, cp.NewestCommitTsXid, cp.OldestActiveXid)
		if op == XLogCheckpointShutdown {
			b = append(b, "shutdown"...)
		} else {
			b = append(b, "online"...)
		}
	case XLogNextOid:
		oid, err := DecodeXLogNextOid(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d", oid)
	case XLogRestorePoint:
		xl, err := DecodeXlRestorePoint(rec)
		b = append(b, xl.RpName...)
		if err != nil {
			return rdTruncated(b)
		}
	case XLogFPIForHint, XLogFPI: // nothing
	case XLogBackupEnd:
		startpoint, err := DecodeXLogBackupEnd(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = append(b, startpoint.Short()...)
	case XLogParameterChange:
		p, err := ParseParameters(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "max_connections=%d max_worker_processes=%d max_wal_senders=%d "+
			"max_prepared_xacts=%d max_locks_per_xact=%d wal_level=%s wal_log_hints=%s track_commit_timestamp=%s",
			p.MaxConnections, p.MaxWorkerProcesses, p.MaxWALSenders, p.MaxPreparedXacts, p.MaxLocksPerXact,
			rdWalLevelName(p.WALLevel), rdOnOff(p.WALLogHints), rdOnOff(p.TrackCommitTimestamp))
	case XLogFPWChange:
		fpw, err := DecodeXLogFPWChange(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = append(b, rdTrueFalse(fpw)...)
	case XLogEndOfRecovery:
		xl, err := DecodeXlEndOfRecovery(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "tli %d; prev tli %d; time ", xl.ThisTimeLineID, xl.PrevTimeLineID)
		b = rdAppendTimestamptz(b, int64(xl.EndTime), d.loc)
	case XLogOverwriteContrecord:
		xl, err := DecodeXlOverwriteContrecord(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "lsn %s; time ", xl.OverwrittenLsn.Short())
		b = rdAppendTimestamptz(b, int64(xl.OverwriteTime), d.loc)
	}
	return b
}
