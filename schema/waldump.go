package schema

import (
	"fmt"
	"strconv"
	"time"
)

// AppendWaldumpLine appends exactly what pg_waldump 15 prints for rec
// (XLogDumpDisplayRecord), trailing newline included: the fixed part,
// "desc: TYPE", the rmgr's description with timestamps in loc (nil:
// time.Local, like pg_waldump's localtime), and the block references;
// detailed selects pg_waldump -b's one-line-per-block form. The common path
// avoids fmt: it is the whole cost of `pagemill waldump`.
func AppendWaldumpLine(dst []byte, rec *DecodedRecord, loc *time.Location, detailed bool) []byte {
	fpi := rec.FPILen()
	dst = append(dst, "rmgr: "...)
	dst = appendPadRight(dst, rec.Rmgr().String(), 11)
	dst = append(dst, " len (rec/tot): "...)
	dst = appendPadLeft(dst, uint64(rec.Header.TotLen-fpi), 6)
	dst = append(dst, '/')
	dst = appendPadLeft(dst, uint64(rec.Header.TotLen), 6)
	dst = append(dst, ", tx: "...)
	dst = appendPadLeft(dst, uint64(rec.Header.Xid), 10)
	dst = append(dst, ", lsn: "...)
	dst = appendLSN(dst, rec.LSN)
	dst = append(dst, ", prev "...)
	dst = appendLSN(dst, rec.Header.Prev)
	dst = append(dst, ", desc: "...)
	if id, ok := Identify(rec.Rmgr(), rec.Info()); ok {
		dst = append(dst, id...)
	} else {
		dst = append(dst, "UNKNOWN ("...)
		dst = strconv.AppendUint(dst, uint64(rec.Info()&^XLRInfoMask), 16)
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	if loc == nil {
		loc = time.Local
	}
	dst = AppendDescription(dst, rec, loc)
	if detailed {
		return appendBlockRefsDetailed(dst, rec)
	}
	for i := range rec.Blocks {
		b := &rec.Blocks[i]
		dst = append(dst, ", blkref #"...)
		dst = strconv.AppendUint(dst, uint64(b.ID), 10)
		dst = append(dst, ": rel "...)
		dst = strconv.AppendUint(dst, uint64(b.Tag.Rel.SpcNode), 10)
		dst = append(dst, '/')
		dst = strconv.AppendUint(dst, uint64(b.Tag.Rel.DbNode), 10)
		dst = append(dst, '/')
		dst = strconv.AppendUint(dst, uint64(b.Tag.Rel.RelNode), 10)
		if b.Tag.Fork != MainForkNum {
			dst = append(dst, " fork "...)
			dst = append(dst, b.Tag.Fork.String()...)
		}
		dst = append(dst, " blk "...)
		dst = strconv.AppendUint(dst, uint64(b.Tag.Block), 10)
		if b.HasImage {
			if b.ApplyImage() {
				dst = append(dst, " FPW"...)
			} else {
				dst = append(dst, " FPW for WAL verification"...)
			}
		}
	}
	return append(dst, '\n')
}

// appendBlockRefsDetailed is XLogRecGetBlockRefInfo's detailed form: a
// newline, then per block a tab-indented line with the image's details.
func appendBlockRefsDetailed(dst []byte, rec *DecodedRecord) []byte {
	dst = append(dst, '\n')
	for i := range rec.Blocks {
		b := &rec.Blocks[i]
		rn := b.Tag.Rel
		dst = fmt.Appendf(dst, "\tblkref #%d: rel %d/%d/%d fork %s blk %d",
			b.ID, rn.SpcNode, rn.DbNode, rn.RelNode, b.Tag.Fork, b.Tag.Block)
		if b.HasImage {
			verif := ""
			if !b.ApplyImage() {
				verif = " for WAL verification"
			}
			if b.Compressed() {
				method := b.CompressionMethod()
				// C computes BLCKSZ - hole_length - bimg_len as int and
				// prints it with %u.
				saved := uint32(int32(BLCKSZ - int(b.HoleLength) - int(b.BimgLen)))
				dst = fmt.Appendf(dst, " (FPW%s); hole: offset: %d, length: %d, compression saved: %d, method: %s",
					verif, b.HoleOffset, b.HoleLength, saved, method)
			} else {
				dst = fmt.Appendf(dst, " (FPW%s); hole: offset: %d, length: %d",
					verif, b.HoleOffset, b.HoleLength)
			}
		}
		dst = append(dst, '\n')
	}
	return dst
}

const hexDigits = "0123456789ABCDEF"

// appendLSN appends "%X/%08X".
func appendLSN(dst []byte, l LSN) []byte {
	hi := uint32(l >> 32)
	if hi == 0 {
		dst = append(dst, '0')
	} else {
		var tmp [8]byte
		i := len(tmp)
		for v := hi; v > 0; v >>= 4 {
			i--
			tmp[i] = hexDigits[v&0xF]
		}
		dst = append(dst, tmp[i:]...)
	}
	dst = append(dst, '/')
	lo := uint32(l)
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(lo>>uint(shift))&0xF])
	}
	return dst
}

func appendPadRight(dst []byte, s string, width int) []byte {
	dst = append(dst, s...)
	for i := len(s); i < width; i++ {
		dst = append(dst, ' ')
	}
	return dst
}

func appendPadLeft(dst []byte, v uint64, width int) []byte {
	var tmp [20]byte
	num := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(num); i < width; i++ {
		dst = append(dst, ' ')
	}
	return append(dst, num...)
}
