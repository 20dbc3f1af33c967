package schema

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeXLogRecords(t *testing.T) {
	runXlStructCases(t, []xlStructCase{
		{"XLOG_NEXTOID", hxU32s(32768),
			func(b []byte) (any, error) { return DecodeXLogNextOid(b) },
			uint32(32768)},
		{"XLOG_BACKUP_END", hxU32s(0x2000028, 0),
			func(b []byte) (any, error) { return DecodeXLogBackupEnd(b) },
			LSN(0x2000028)},
		{"XLOG_FPW_CHANGE", []byte{1},
			func(b []byte) (any, error) { return DecodeXLogFPWChange(b) },
			true},
		{"xl_end_of_recovery", hxCat(newDescBuf().i64(descTS).b, hxU32s(2, 1)),
			func(b []byte) (any, error) { return DecodeXlEndOfRecovery(b) },
			XlEndOfRecovery{EndTime: TimestampTz(descTS), ThisTimeLineID: 2, PrevTimeLineID: 1}},
		{"xl_overwrite_contrecord", hxCat(hxU32s(0x3FFFFF8, 0), newDescBuf().i64(descTS).b),
			func(b []byte) (any, error) { return DecodeXlOverwriteContrecord(b) },
			XlOverwriteContrecord{OverwrittenLsn: 0x3FFFFF8, OverwriteTime: TimestampTz(descTS)}},
	})
}

func TestDecodeXlRestorePoint(t *testing.T) {
	b := append(newDescBuf().i64(descTS).b, "before_upgrade"...)
	b = append(b, make([]byte, 72-len(b))...)
	x, err := DecodeXlRestorePoint(b)
	if err != nil || x.RpTime != TimestampTz(descTS) || x.RpName != "before_upgrade" {
		t.Fatalf("got %+v, %v", x, err)
	}
	// Without its NUL the name is returned as far as it goes.
	x, err = DecodeXlRestorePoint(b[:8+6])
	if !errors.Is(err, ErrCorrupt) || x.RpName != "before" {
		t.Fatalf("no NUL: %+v, %v", x, err)
	}
	if _, err := DecodeXlRestorePoint(b[:7]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_restore_point") {
		t.Fatalf("short: %v", err)
	}
}
