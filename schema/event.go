package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// WAL events: how records travel through JetStream.
//
// One JetStream message carries a RecordBatch: the records of one ingest
// round that belong to one subject (a shard, or the meta subject), in LSN
// order, each with its raw bytes exactly as in the WAL (header included), so
// a consumer re-verifies the CRC and decodes with DecodeRecord. Layout,
// little-endian, version 1:
//
//	magic    [4]byte "PMRB"
//	version  uint8   (1)
//	flags    uint8   (0; reserved)
//	reserved uint16  (0)
//	count    uint32
//	count × { start LSN uint64, end LSN uint64, len uint32, raw [len]byte }
//
// Readers reject unknown versions and any bytes left over.
const (
	recordBatchMagic   = "PMRB"
	RecordBatchVersion = 1
	recordBatchHeader  = 12
	recordEntryHeader  = 20
)

// ErrBadEvent is matched by errors from DecodeRecordBatch.
var ErrBadEvent = errors.New("malformed WAL event")

// RecordBatchEntry is one record inside a RecordBatch.
type RecordBatchEntry struct {
	LSN    LSN
	EndLSN LSN
	Raw    []byte
}

// AppendRecordBatchHeader starts a batch of count records.
func AppendRecordBatchHeader(dst []byte, count int) []byte {
	dst = append(dst, recordBatchMagic...)
	dst = append(dst, RecordBatchVersion, 0, 0, 0)
	return binary.LittleEndian.AppendUint32(dst, uint32(count))
}

// RecordBatchHeaderSize is the size of a batch header; a writer may reserve
// it and fill it in later with PutRecordBatchHeader.
const RecordBatchHeaderSize = recordBatchHeader

// PutRecordBatchHeader writes a header for count records into
// dst[:RecordBatchHeaderSize].
func PutRecordBatchHeader(dst []byte, count int) {
	AppendRecordBatchHeader(dst[:0], count)
}

// AppendRecordBatchEntry appends one record to a batch.
func AppendRecordBatchEntry(dst []byte, rec *DecodedRecord) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(rec.LSN))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(rec.EndLSN))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(rec.Raw)))
	return append(dst, rec.Raw...)
}

// RecordBatchSize is the encoded size of a batch holding records whose raw
// lengths sum to rawBytes.
func RecordBatchSize(count, rawBytes int) int {
	return recordBatchHeader + count*recordEntryHeader + rawBytes
}

// DecodeRecordBatch splits a batch into entries aliasing b. It checks the
// framing only; DecodeRecord verifies each record.
func DecodeRecordBatch(b []byte) ([]RecordBatchEntry, error) {
	return AppendRecordBatch(nil, b)
}

// AppendRecordBatch is DecodeRecordBatch appending to dst (a decoder of
// many batches reuses one slice).
func AppendRecordBatch(dst []RecordBatchEntry, b []byte) ([]RecordBatchEntry, error) {
	if len(b) < recordBatchHeader || string(b[:4]) != recordBatchMagic {
		return nil, fmt.Errorf("%w: no record batch header", ErrBadEvent)
	}
	if b[4] != RecordBatchVersion {
		return nil, fmt.Errorf("%w: record batch version %d, want %d", ErrBadEvent, b[4], RecordBatchVersion)
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n)*recordEntryHeader > uint64(len(b)) {
		return nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrBadEvent, n, len(b))
	}
	out := slices.Grow(dst, int(n))
	p := b[recordBatchHeader:]
	var prevEnd LSN
	for i := uint32(0); i < n; i++ {
		if len(p) < recordEntryHeader {
			return nil, fmt.Errorf("%w: record %d of %d truncated", ErrBadEvent, i, n)
		}
		e := RecordBatchEntry{
			LSN:    LSN(binary.LittleEndian.Uint64(p)),
			EndLSN: LSN(binary.LittleEndian.Uint64(p[8:])),
		}
		l := binary.LittleEndian.Uint32(p[16:])
		p = p[recordEntryHeader:]
		if uint64(l) > uint64(len(p)) || l < SizeOfXLogRecord {
			return nil, fmt.Errorf("%w: record %d at %s has length %d with %d bytes left", ErrBadEvent, i, e.LSN, l, len(p))
		}
		if e.EndLSN <= e.LSN || e.LSN < prevEnd {
			return nil, fmt.Errorf("%w: record %d at %s..%s out of order", ErrBadEvent, i, e.LSN, e.EndLSN)
		}
		e.Raw = p[:l:l]
		p = p[l:]
		prevEnd = e.EndLSN
		out = append(out, e)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last record", ErrBadEvent, len(p))
	}
	return out, nil
}
