package schema

import (
	"encoding/binary"
	"fmt"
)

// Helpers shared by the record-layout decoders of the heap, btree, XLOG,
// transaction and small resource managers (heapxlog.go, nbtxlog.go,
// xlogxlog.go, xactxlog.go, miscxlog.go). Those decoders follow the index
// AMs' pattern: each C struct has a Go type named after it and one
// decoder, which checks the bytes PostgreSQL writes (SizeOfXxx where that
// omits trailing padding) and returns an error naming the struct; redo,
// the pg_waldump descriptions and record routing all decode through them.
// Where PostgreSQL walks a record with a function (ParseCommitRecord),
// that function is ported under its own name.
//
// Arrays that follow a struct (FLEXIBLE_ARRAY_MEMBER) are returned as
// views of the record's bytes holding the whole entries present, at most
// the struct's count, so that descriptions can print what is there and
// redo checks completeness without copying.

var xlLE = binary.LittleEndian

// xlShort is the error of a decoder given fewer bytes than it reads. It
// is a composite literal, not a call, so that the decoders stay small
// enough for the compiler to inline them.
func xlShort(name string, got, want int) error {
	return &xlShortError{name: name, got: got, want: want}
}

// xlShortError is xlShort's error; it matches ErrCorrupt.
type xlShortError struct {
	name      string
	got, want int
}

func (e *xlShortError) Error() string {
	return fmt.Sprintf("%s: %d bytes, want %d: %v", e.name, e.got, e.want, ErrCorrupt)
}

func (e *xlShortError) Unwrap() error { return ErrCorrupt }

// xlBad is the error of a decoder whose input PostgreSQL would not have
// written.
func xlBad(name, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(format, args...), ErrCorrupt)
}

// recordErr is err, of decoding rec's data, with the record's type and
// LSN; nil when err is.
func recordErr(rec *DecodedRecord, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s at %s: %w", RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
}

// xlRel reads a RelFileNode (spcNode, dbNode, relNode).
func xlRel(b []byte) RelFileNode {
	return RelFileNode{SpcNode: xlLE.Uint32(b), DbNode: xlLE.Uint32(b[4:]), RelNode: xlLE.Uint32(b[8:])}
}

// xlBlockID reads a BlockIdData (bi_hi, bi_lo).
func xlBlockID(b []byte) BlockNumber {
	return BlockNumber(xlLE.Uint16(b))<<16 | BlockNumber(xlLE.Uint16(b[2:]))
}

// Uint32Array is an array of 4-byte little-endian values (Oid,
// TransactionId) in a record, read in place.
type Uint32Array []byte

// uint32ArrayOf returns the whole 4-byte entries of b, at most n (none
// for a negative n).
func uint32ArrayOf(b []byte, n int64) Uint32Array {
	have := int64(len(b) / 4)
	if n < 0 {
		n = 0
	}
	return Uint32Array(b[:4*min(n, have)])
}

// Len is the number of entries.
func (a Uint32Array) Len() int { return len(a) / 4 }

// At returns entry i (0 <= i < Len).
func (a Uint32Array) At(i int) uint32 { return xlLE.Uint32(a[4*i:]) }

// xlArrayShort is the error of a flexible array with fewer entries than
// its count says.
func xlArrayShort(name string, have int, n int64) error {
	return fmt.Errorf("%s: %d entries follow, count is %d: %w", name, have, n, ErrCorrupt)
}

// xlComplete is the Complete of an array view holding have entries of
// count n: an error when n is negative or fewer entries are present.
func xlComplete(name string, have int, n int64) error {
	if n < 0 || int64(have) != n {
		return xlArrayShort(name, have, n)
	}
	return nil
}

// OffsetNumberArray is an array of OffsetNumbers in a record, read in
// place.
type OffsetNumberArray []byte

// Len is the number of offsets.
func (a OffsetNumberArray) Len() int { return len(a) / 2 }

// At returns offset i (0 <= i < Len).
func (a OffsetNumberArray) At(i int) OffsetNumber { return OffsetNumber(xlLE.Uint16(a[2*i:])) }

// decodeOffsetArray reads n OffsetNumbers from the start of b (which
// holds them).
func decodeOffsetArray(b []byte, n int) []OffsetNumber {
	offs := make([]OffsetNumber, n)
	for i := range offs {
		offs[i] = OffsetNumber(xlLE.Uint16(b[2*i:]))
	}
	return offs
}
