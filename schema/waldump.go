package schema

import "fmt"

// AppendWaldumpLine appends the line pg_waldump prints for rec (without
// --bkp-details, no newline): the fixed part, "desc: TYPE", the rmgr's
// description when Describe knows it, and the block references.
func AppendWaldumpLine(dst []byte, rec *DecodedRecord) []byte {
	fpi := rec.FPILen()
	dst = fmt.Appendf(dst, "rmgr: %-11s len (rec/tot): %6d/%6d, tx: %10d, lsn: %s, prev %s, ",
		rec.Rmgr(), rec.Header.TotLen-fpi, rec.Header.TotLen, rec.Header.Xid, rec.LSN, rec.Header.Prev)
	if id, ok := Identify(rec.Rmgr(), rec.Info()); ok {
		dst = fmt.Appendf(dst, "desc: %s ", id)
	} else {
		dst = fmt.Appendf(dst, "desc: UNKNOWN (%x) ", rec.Info()&^XLRInfoMask)
	}
	dst = append(dst, Describe(rec)...)
	for i := range rec.Blocks {
		b := &rec.Blocks[i]
		dst = fmt.Appendf(dst, ", blkref #%d: %s", b.ID, b.Tag)
		if b.HasImage {
			if b.ApplyImage() {
				dst = append(dst, " FPW"...)
			} else {
				dst = append(dst, " FPW for WAL verification"...)
			}
		}
	}
	return dst
}
