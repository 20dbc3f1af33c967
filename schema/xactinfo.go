package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// What a data directory that starts without WAL replay needs from the
// records before its LSN (see package restore): commit times, prepared
// transactions, and the control data a shutdown checkpoint would carry —
// the transaction ids seen, the OID counter (XLOG NEXTOID), the multixact
// counters (MultiXact CREATE_ID), the oldest xid and multixact kept
// (CLOG TRUNCATE, MultiXact TRUNCATE_ID) and the settings pg_control
// records (XLOG PARAMETER_CHANGE).

// Transaction id constants (transam.h).
const (
	// FirstNormalTransactionID is FirstNormalTransactionId: ids below it
	// (invalid, bootstrap, frozen) are never assigned.
	FirstNormalTransactionID = 3
	// FirstMultiXactID is FirstMultiXactId.
	FirstMultiXactID = 1
)

// XidPrecedes is TransactionIdPrecedes for normal ids: a comes before b
// in the circular xid space.
func XidPrecedes(a, b uint32) bool { return int32(a-b) < 0 }

// MultiXactPrecedes is MultiXactIdPrecedes.
func MultiXactPrecedes(a, b uint32) bool { return int32(a-b) < 0 }

// FullXidNear widens the 32-bit xid to the FullTransactionId (epoch<<32 |
// xid) nearest to near, a full id within 2^31 of it (the next xid of a
// checkpoint, say).
func FullXidNear(xid uint32, near uint64) uint64 {
	d := int64(int32(xid - uint32(near)))
	return uint64(int64(near) + d)
}

// TimestampTz is PostgreSQL's TimestampTz: microseconds since 2000-01-01
// 00:00:00 UTC.
type TimestampTz int64

// pgEpochUnixMicros is 2000-01-01 00:00:00 UTC in Unix microseconds.
const pgEpochUnixMicros = rdPGEpochUnixSecs * rdUsecsPerSec

// Time is the instant t names.
func (t TimestampTz) Time() time.Time {
	return time.UnixMicro(int64(t) + pgEpochUnixMicros).UTC()
}

// String is the instant in RFC 3339 with microseconds, UTC.
func (t TimestampTz) String() string { return t.Time().Format("2006-01-02 15:04:05.999999Z07:00") }

// TimestampTzOf is the TimestampTz of instant t (truncated to the
// microsecond).
func TimestampTzOf(t time.Time) TimestampTz { return TimestampTz(t.UnixMicro() - pgEpochUnixMicros) }

// XactEnd says when a transaction record (COMMIT, ABORT, COMMIT_PREPARED,
// ABORT_PREPARED) ended its transaction: the xact_time it carries, as
// recovery_target_time compares it.
type XactEnd struct {
	Commit bool
	Time   TimestampTz
	// Prepared: the record ends a prepared transaction (COMMIT PREPARED
	// or ROLLBACK PREPARED); Xid is then the prepared transaction's.
	Prepared bool
	Xid      uint32
}

// XactEndOf returns what rec ends, or nil when it is no commit or abort
// record.
func XactEndOf(rec *DecodedRecord) (*XactEnd, error) {
	var p xactEnd
	if ok, err := parseXactEnd(rec, &p); !ok {
		return nil, recordErr(rec, err)
	}
	return &XactEnd{Commit: p.commit, Time: p.XactTime, Prepared: p.prepared, Xid: p.xid}, nil
}

// Two-phase state files (twophase.c).
const (
	// TwoPhaseMagic is TWOPHASE_MAGIC, the first word of a state file.
	TwoPhaseMagic = 0x57F94534
	// TwoPhaseDir is where the state files are.
	TwoPhaseDir = "pg_twophase"
)

// PreparedXact is a transaction PREPARE TRANSACTION left prepared: its
// state as the PREPARE record carries it, which is the state file
// (pg_twophase/XID) without its trailing CRC.
type PreparedXact struct {
	Xid        uint32
	GID        string
	PreparedAt TimestampTz
	Subxids    []uint32
	State      []byte
}

// ParsePrepare reads a Transaction PREPARE record; nil for other records.
func ParsePrepare(rec *DecodedRecord) (*PreparedXact, error) {
	if rec.Rmgr() != RmgrTransaction || rec.Info()&XLogXactOpMask != XLogXactPrepare {
		return nil, nil
	}
	p, err := ParseTwoPhaseState(rec.MainData, false)
	if err != nil {
		return nil, recordErr(rec, err)
	}
	return p, nil
}

// ParseTwoPhaseState checks and reads two-phase state: a PREPARE record's
// main data, or a state file (withCRC: its last four bytes are the
// CRC-32C of the rest, as ReadTwoPhaseFile checks).
func ParseTwoPhaseState(b []byte, withCRC bool) (*PreparedXact, error) {
	data := b
	if withCRC {
		if len(b) < 4 {
			return nil, fmt.Errorf("two-phase state file of %d bytes", len(b))
		}
		data = b[:len(b)-4]
		if got, want := binary.LittleEndian.Uint32(b[len(b)-4:]), crc32.Checksum(data, castagnoli); got != want {
			return nil, fmt.Errorf("two-phase state file: CRC %08X, computed %08X", got, want)
		}
	}
	// The header is TwoPhaseFileHeader, which is xl_xact_prepare.
	if len(data) < SizeOfXactPrepare {
		return nil, fmt.Errorf("two-phase state of %d bytes is shorter than its %d-byte header", len(data), SizeOfXactPrepare)
	}
	x, p, err := ParsePrepareRecord(data)
	if x.Magic != TwoPhaseMagic {
		return nil, fmt.Errorf("two-phase state: magic %08X, want %08X", x.Magic, TwoPhaseMagic)
	}
	if int(x.TotalLen) != len(data)+4 {
		return nil, fmt.Errorf("two-phase state: total_len %d, but %d bytes and a CRC", x.TotalLen, len(data))
	}
	if err != nil {
		return nil, fmt.Errorf("two-phase state of transaction %d: %w", x.Xid, err)
	}
	if x.Xid < FirstNormalTransactionID {
		return nil, fmt.Errorf("two-phase state of transaction %d: not a normal transaction id", x.Xid)
	}
	px := &PreparedXact{Xid: x.Xid, GID: p.TwophaseGID, PreparedAt: x.PreparedAt, State: data}
	for i := 0; i < p.Subxacts.Len(); i++ {
		px.Subxids = append(px.Subxids, p.Subxacts.At(i))
	}
	return px, nil
}

// TwoPhaseFileName is the state file of xid under pg_twophase (PostgreSQL
// 15 TwoPhaseFilePath: eight upper-case hex digits).
func TwoPhaseFileName(xid uint32) string { return fmt.Sprintf("%08X", xid) }

// TwoPhaseFile is the state file PostgreSQL writes for p (RecreateTwoPhaseFile):
// the state followed by its CRC-32C.
func (p *PreparedXact) TwoPhaseFile() []byte {
	out := make([]byte, len(p.State), len(p.State)+4)
	copy(out, p.State)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(p.State, castagnoli))
}

// ErrNotControlRecord is returned by ControlEventOf for records that change
// no control data.
var ErrNotControlRecord = errors.New("not a control record")

// ControlEventKind names what a ControlEvent changes.
type ControlEventKind uint8

// ControlEvent kinds.
const (
	// EventNextOID: XLOG NEXTOID, the OID counter's new upper bound.
	EventNextOID ControlEventKind = 1
	// EventMultiXact: MultiXact CREATE_ID, the next multixact and member
	// offset after it.
	EventMultiXact ControlEventKind = 2
	// EventMultiXactTruncate: MultiXact TRUNCATE_ID, the oldest multixact
	// kept and its database.
	EventMultiXactTruncate ControlEventKind = 3
	// EventClogTruncate: CLOG TRUNCATE, the oldest xid kept and its
	// database.
	EventClogTruncate ControlEventKind = 4
	// EventParameters: XLOG PARAMETER_CHANGE, the settings pg_control
	// records.
	EventParameters ControlEventKind = 5
	// EventFullPageWrites: XLOG FPW_CHANGE.
	EventFullPageWrites ControlEventKind = 6
)

// ControlEvent is a record's change to the control data. A and B are the
// kind's two values (EventNextOID: the OID; EventMultiXact: next multi,
// next offset; the truncations: oldest id, its database;
// EventFullPageWrites: 1 or 0); Params is set for EventParameters.
type ControlEvent struct {
	Kind   ControlEventKind
	A, B   uint32
	Params *Parameters
}

// Parameters are the settings pg_control keeps for standbys
// (xl_parameter_change).
type Parameters struct {
	MaxConnections       int32
	MaxWorkerProcesses   int32
	MaxWALSenders        int32
	MaxPreparedXacts     int32
	MaxLocksPerXact      int32
	WALLevel             WALLevel
	WALLogHints          bool
	TrackCommitTimestamp bool
}

// sizeOfParameterChange is sizeof(xl_parameter_change).
const sizeOfParameterChange = 28

// ParseParameters reads xl_parameter_change.
func ParseParameters(b []byte) (*Parameters, error) {
	if len(b) < sizeOfParameterChange {
		return nil, fmt.Errorf("parameter change: %d bytes, want %d", len(b), sizeOfParameterChange)
	}
	p := &Parameters{}
	getFields(b, p.fields())
	return p, nil
}

// fields are p's fields at their xl_parameter_change offsets.
func (p *Parameters) fields() []structField {
	return []structField{
		{0, &p.MaxConnections},
		{4, &p.MaxWorkerProcesses},
		{8, &p.MaxWALSenders},
		{12, &p.MaxPreparedXacts},
		{16, &p.MaxLocksPerXact},
		{20, (*int32)(&p.WALLevel)},
		{24, &p.WALLogHints},
		{25, &p.TrackCommitTimestamp},
	}
}

// Bytes is the xl_parameter_change of p.
func (p *Parameters) Bytes() []byte {
	b := make([]byte, sizeOfParameterChange)
	putFields(b, p.fields())
	return b
}

// ControlEventOf returns rec's change to the control data;
// ErrNotControlRecord when it makes none.
func ControlEventOf(rec *DecodedRecord) (*ControlEvent, error) {
	e, err := controlEventOf(rec.Rmgr(), rec.Info()&XLRRmgrInfoMask, rec.MainData)
	if err != nil {
		return nil, recordErr(rec, err)
	}
	if e == nil {
		return nil, ErrNotControlRecord
	}
	return e, nil
}

// controlEventOf is ControlEventOf of a record's rmgr, opcode and main
// data; nil when it changes no control data.
func controlEventOf(rmid RmgrID, info uint8, d []byte) (*ControlEvent, error) {
	switch {
	case rmid == RmgrXLOG && info == XLogNextOid:
		oid, err := DecodeXLogNextOid(d)
		return &ControlEvent{Kind: EventNextOID, A: oid}, err
	case rmid == RmgrXLOG && info == XLogParameterChange:
		p, err := ParseParameters(d)
		return &ControlEvent{Kind: EventParameters, Params: p}, err
	case rmid == RmgrXLOG && info == XLogFPWChange:
		on, err := DecodeXLogFPWChange(d)
		e := &ControlEvent{Kind: EventFullPageWrites}
		if on {
			e.A = 1
		}
		return e, err
	case rmid == RmgrMultiXact && info == XLogMultixactCreateID:
		x, err := decodeMultiXactCreate(d)
		// multixact_redo: MultiXactAdvanceNextMXact(mid + 1, moff + nmembers).
		return &ControlEvent{Kind: EventMultiXact, A: x.Mid + 1, B: x.Moff + uint32(x.Members.Len())}, err
	case rmid == RmgrMultiXact && info == XLogMultixactTruncateID:
		// Redo sets the oldest multixact kept to endTruncOff.
		x, err := DecodeXlMultixactTruncate(d)
		return &ControlEvent{Kind: EventMultiXactTruncate, A: x.EndTruncOff, B: x.OldestMultiDB}, err
	case rmid == RmgrCLOG && info == ClogTruncate:
		x, err := DecodeXlClogTruncate(d)
		return &ControlEvent{Kind: EventClogTruncate, A: x.OldestXact, B: x.OldestXactDb}, err
	}
	return nil, nil
}

// Encode is the event as stored: kind, then its values.
func (e *ControlEvent) Encode() []byte {
	b := []byte{byte(e.Kind)}
	if e.Kind == EventParameters && e.Params != nil {
		return append(b, e.Params.Bytes()...)
	}
	b = binary.BigEndian.AppendUint32(b, e.A)
	return binary.BigEndian.AppendUint32(b, e.B)
}

// DecodeControlEvent reads what Encode wrote.
func DecodeControlEvent(b []byte) (*ControlEvent, error) {
	if len(b) < 1 {
		return nil, errors.New("control event: empty")
	}
	e := &ControlEvent{Kind: ControlEventKind(b[0])}
	switch e.Kind {
	case EventParameters:
		p, err := ParseParameters(b[1:])
		if err != nil {
			return nil, fmt.Errorf("control event: %w", err)
		}
		e.Params = p
	case EventNextOID, EventMultiXact, EventMultiXactTruncate, EventClogTruncate, EventFullPageWrites:
		if len(b) != 9 {
			return nil, fmt.Errorf("control event of kind %d: %d bytes, want 9", e.Kind, len(b))
		}
		e.A, e.B = binary.BigEndian.Uint32(b[1:]), binary.BigEndian.Uint32(b[5:])
	default:
		return nil, fmt.Errorf("control event of unknown kind %d", e.Kind)
	}
	return e, nil
}

// XidsOf calls fn with the transaction ids rec shows were assigned: its
// xl_xid, the subtransactions a commit, abort, assignment or prepare
// lists, the prepared transaction a COMMIT/ABORT PREPARED ends, the
// members of a new multixact, and the id before the next xid a
// running-xacts record reports. Ids below FirstNormalTransactionID are
// left out. The next xid after a record is past all of them (recovery's
// AdvanceNextFullTransactionIdPastXid does the same walk). Malformed
// records contribute their xl_xid only.
func XidsOf(rec *DecodedRecord, fn func(xid uint32)) {
	emit := func(x uint32) {
		if x >= FirstNormalTransactionID {
			fn(x)
		}
	}
	emit(rec.Xid())
	d := rec.MainData
	info := rec.Info() & XLRRmgrInfoMask
	switch rec.Rmgr() {
	case RmgrTransaction:
		switch info & XLogXactOpMask {
		case XLogXactPrepare:
			if p, err := ParseTwoPhaseState(d, false); err == nil {
				emit(p.Xid)
				for _, x := range p.Subxids {
					emit(x)
				}
			}
		case XLogXactAssignment:
			if a, err := DecodeXlXactAssignment(d); err == nil {
				emit(a.Xtop)
				for i := 0; i < a.Xsub.Len(); i++ {
					emit(a.Xsub.At(i))
				}
			}
		default:
			var t XactTree
			if ok, err := XactTreeInto(&t, rec); err == nil && ok {
				emit(t.Xid)
				for _, x := range t.Subxids {
					emit(x)
				}
			}
		}
	case RmgrMultiXact:
		if info == XLogMultixactCreateID {
			if c, err := decodeMultiXactCreate(d); err == nil {
				for i := 0; i < c.Members.Len(); i++ {
					emit(c.Members.At(i).Xid)
				}
			}
		}
	case RmgrStandby:
		if info == XLogRunningXacts {
			if r, err := DecodeXlRunningXacts(d); err == nil {
				emit(r.NextXid - 1)
			}
		}
	}
}

// IsCheckpointRecord reports whether rec is an XLOG CHECKPOINT_SHUTDOWN or
// CHECKPOINT_ONLINE record.
func IsCheckpointRecord(rec *DecodedRecord) bool {
	info := rec.Info() & XLRRmgrInfoMask
	return rec.Rmgr() == RmgrXLOG && (info == XLogCheckpointShutdown || info == XLogCheckpointOnline)
}
