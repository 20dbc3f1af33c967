package schema

import "bytes"

// XLOG resource manager record layouts (catalog/pg_control.h,
// access/xlog_internal.h, PostgreSQL 15, x86-64), decoded here only: the
// descriptions (rmgrdesc_xlog.go) and redo (redo/xlog.go) use these. The
// checkpoint records' CheckPoint is decoded by ParseCheckPoint
// (controlfile.go, shared with pg_control) and PARAMETER_CHANGE's
// xl_parameter_change by ParseParameters (xactinfo.go). FPI and
// FPI_FOR_HINT have no main data: their block images are the record.
// See xlogdecode.go for the conventions.

// XLOG record opcodes (XLOG_*), xl_info & ~XLR_INFO_MASK.
const (
	XLogCheckpointShutdown  uint8 = 0x00 // XLOG_CHECKPOINT_SHUTDOWN
	XLogCheckpointOnline    uint8 = 0x10 // XLOG_CHECKPOINT_ONLINE
	XLogNoop                uint8 = 0x20 // XLOG_NOOP
	XLogNextOid             uint8 = 0x30 // XLOG_NEXTOID
	XLogSwitch              uint8 = 0x40 // XLOG_SWITCH
	XLogBackupEnd           uint8 = 0x50 // XLOG_BACKUP_END
	XLogParameterChange     uint8 = 0x60 // XLOG_PARAMETER_CHANGE
	XLogRestorePoint        uint8 = 0x70 // XLOG_RESTORE_POINT
	XLogFPWChange           uint8 = 0x80 // XLOG_FPW_CHANGE
	XLogEndOfRecovery       uint8 = 0x90 // XLOG_END_OF_RECOVERY
	XLogFPIForHint          uint8 = 0xA0 // XLOG_FPI_FOR_HINT
	XLogFPI                 uint8 = 0xB0 // XLOG_FPI
	XLogOverwriteContrecord uint8 = 0xD0 // XLOG_OVERWRITE_CONTRECORD
)

// Bytes PostgreSQL writes for each record's main data.
const (
	SizeOfXLogNextOid          = 4  // Oid nextOid
	SizeOfXLogBackupEnd        = 8  // XLogRecPtr startpoint
	SizeOfXLogFPWChange        = 1  // bool fullPageWrites
	SizeOfXLogRestorePointTime = 8  // rp_time; rp_name[MAXFNAMELEN] follows, NUL-terminated
	SizeOfXLogEndOfRecovery    = 16 // sizeof(xl_end_of_recovery)
	SizeOfXLogOverwriteContrec = 16 // sizeof(xl_overwrite_contrecord)
)

// DecodeXLogNextOid decodes the main data of NEXTOID: the next OID.
func DecodeXLogNextOid(b []byte) (uint32, error) {
	if len(b) < SizeOfXLogNextOid {
		return 0, xlShort("XLOG_NEXTOID nextOid", len(b), SizeOfXLogNextOid)
	}
	return xlLE.Uint32(b), nil
}

// DecodeXLogBackupEnd decodes the main data of BACKUP_END: the backup's
// start point.
func DecodeXLogBackupEnd(b []byte) (LSN, error) {
	if len(b) < SizeOfXLogBackupEnd {
		return 0, xlShort("XLOG_BACKUP_END startpoint", len(b), SizeOfXLogBackupEnd)
	}
	return LSN(xlLE.Uint64(b)), nil
}

// DecodeXLogFPWChange decodes the main data of FPW_CHANGE: the new
// full_page_writes.
func DecodeXLogFPWChange(b []byte) (bool, error) {
	if len(b) < SizeOfXLogFPWChange {
		return false, xlShort("XLOG_FPW_CHANGE fullPageWrites", len(b), SizeOfXLogFPWChange)
	}
	return b[0] != 0, nil
}

// XlRestorePoint is xl_restore_point (RESTORE_POINT).
type XlRestorePoint struct {
	RpTime TimestampTz
	RpName string
}

// DecodeXlRestorePoint decodes the main data of RESTORE_POINT. A name
// without its NUL is returned as far as the data goes, with the error.
func DecodeXlRestorePoint(b []byte) (XlRestorePoint, error) {
	if len(b) < SizeOfXLogRestorePointTime {
		return XlRestorePoint{}, xlShort("xl_restore_point", len(b), SizeOfXLogRestorePointTime)
	}
	x := XlRestorePoint{RpTime: TimestampTz(xlLE.Uint64(b))}
	name := b[SizeOfXLogRestorePointTime:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		x.RpName = string(name[:i])
		return x, nil
	}
	x.RpName = string(name)
	return x, xlBad("xl_restore_point", "rp_name of %d bytes has no NUL", len(name))
}

// XlEndOfRecovery is xl_end_of_recovery (END_OF_RECOVERY).
type XlEndOfRecovery struct {
	EndTime        TimestampTz
	ThisTimeLineID TimeLineID
	PrevTimeLineID TimeLineID
}

// DecodeXlEndOfRecovery decodes the main data of END_OF_RECOVERY.
func DecodeXlEndOfRecovery(b []byte) (XlEndOfRecovery, error) {
	if len(b) < SizeOfXLogEndOfRecovery {
		return XlEndOfRecovery{}, xlShort("xl_end_of_recovery", len(b), SizeOfXLogEndOfRecovery)
	}
	return XlEndOfRecovery{
		EndTime:        TimestampTz(xlLE.Uint64(b)),
		ThisTimeLineID: TimeLineID(xlLE.Uint32(b[8:])),
		PrevTimeLineID: TimeLineID(xlLE.Uint32(b[12:])),
	}, nil
}

// XlOverwriteContrecord is xl_overwrite_contrecord (OVERWRITE_CONTRECORD).
type XlOverwriteContrecord struct {
	OverwrittenLsn LSN
	OverwriteTime  TimestampTz
}

// DecodeXlOverwriteContrecord decodes the main data of
// OVERWRITE_CONTRECORD.
func DecodeXlOverwriteContrecord(b []byte) (XlOverwriteContrecord, error) {
	if len(b) < SizeOfXLogOverwriteContrec {
		return XlOverwriteContrecord{}, xlShort("xl_overwrite_contrecord", len(b), SizeOfXLogOverwriteContrec)
	}
	return XlOverwriteContrecord{OverwrittenLsn: LSN(xlLE.Uint64(b)), OverwriteTime: TimestampTz(xlLE.Uint64(b[8:]))}, nil
}
