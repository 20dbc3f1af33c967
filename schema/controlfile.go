package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"time"
)

// pg_control (catalog/pg_control.h), PostgreSQL 15 on x86-64: the layout of
// ControlFileData and of the CheckPoint struct that both the control file and
// the XLOG CHECKPOINT_SHUTDOWN / CHECKPOINT_ONLINE records carry.

// Sizes and constants of PostgreSQL 15's pg_control.
const (
	// PGControlVersion is PG_CONTROL_VERSION of PostgreSQL 15.
	PGControlVersion = 1300
	// PGControlFileSize is PG_CONTROL_FILE_SIZE: pg_control is written as
	// this many bytes, the struct followed by zeros.
	PGControlFileSize = 8192
	// SizeOfControlFileData is sizeof(ControlFileData).
	SizeOfControlFileData = 296
	// ControlFileCRCOffset is offsetof(ControlFileData, crc): the CRC-32C
	// covers the bytes before it.
	ControlFileCRCOffset = 288
	// SizeOfCheckPoint is sizeof(CheckPoint), the main data of a checkpoint
	// record.
	SizeOfCheckPoint = 88
	// FloatFormatValue is FLOATFORMAT_VALUE, stored in floatFormat.
	FloatFormatValue = 1234567.0
	// MockAuthNonceLen is MOCK_AUTH_NONCE_LEN.
	MockAuthNonceLen = 32
	// ControlFilePath is pg_control's path inside a data directory.
	ControlFilePath = "global/pg_control"
)

// ErrBadControlFile is matched (errors.Is) by every error of
// ParseControlFile and ReadControlFile about the file's content.
var ErrBadControlFile = errors.New("invalid pg_control")

// CheckPoint is PostgreSQL's CheckPoint struct: the main data of an XLOG
// CHECKPOINT_SHUTDOWN or CHECKPOINT_ONLINE record, and the copy of the last
// one kept in pg_control.
type CheckPoint struct {
	Redo              LSN        // redo: where replay of this checkpoint starts
	ThisTimeLineID    TimeLineID // ThisTimeLineID
	PrevTimeLineID    TimeLineID // PrevTimeLineID: differs when a timeline begins here
	FullPageWrites    bool       // fullPageWrites
	NextXid           uint64     // nextXid, a FullTransactionId: epoch<<32 | xid
	NextOid           uint32     // nextOid
	NextMulti         uint32     // nextMulti
	NextMultiOffset   uint32     // nextMultiOffset
	OldestXid         uint32     // oldestXid: cluster-wide minimum datfrozenxid
	OldestXidDB       uint32     // oldestXidDB
	OldestMulti       uint32     // oldestMulti: cluster-wide minimum datminmxid
	OldestMultiDB     uint32     // oldestMultiDB
	Time              int64      // time: pg_time_t, seconds since the Unix epoch
	OldestCommitTsXid uint32     // oldestCommitTsXid
	NewestCommitTsXid uint32     // newestCommitTsXid
	OldestActiveXid   uint32     // oldestActiveXid: 0 in a shutdown checkpoint
}

// Byte offsets of the CheckPoint fields.
const (
	cpOffRedo              = 0
	cpOffThisTimeLineID    = 8
	cpOffPrevTimeLineID    = 12
	cpOffFullPageWrites    = 16
	cpOffNextXid           = 24
	cpOffNextOid           = 32
	cpOffNextMulti         = 36
	cpOffNextMultiOffset   = 40
	cpOffOldestXid         = 44
	cpOffOldestXidDB       = 48
	cpOffOldestMulti       = 52
	cpOffOldestMultiDB     = 56
	cpOffTime              = 64
	cpOffOldestCommitTsXid = 72
	cpOffNewestCommitTsXid = 76
	cpOffOldestActiveXid   = 80
)

// NextXidEpoch is the epoch half of NextXid.
func (c CheckPoint) NextXidEpoch() uint32 { return uint32(c.NextXid >> 32) }

// NextXidXid is the 32-bit transaction id half of NextXid.
func (c CheckPoint) NextXidXid() uint32 { return uint32(c.NextXid) }

// ParseCheckPoint reads a CheckPoint from the first SizeOfCheckPoint bytes of
// b: the main data of a checkpoint record, or the bytes of pg_control's
// checkPointCopy.
func ParseCheckPoint(b []byte) (CheckPoint, error) {
	if len(b) < SizeOfCheckPoint {
		return CheckPoint{}, fmt.Errorf("checkpoint: %d bytes, want at least %d (sizeof(CheckPoint))", len(b), SizeOfCheckPoint)
	}
	var c CheckPoint
	getFields(b, c.fields())
	return c, nil
}

// fields are c's fields at their offsets.
func (c *CheckPoint) fields() []structField {
	return []structField{
		{cpOffRedo, (*uint64)(&c.Redo)},
		{cpOffThisTimeLineID, (*uint32)(&c.ThisTimeLineID)},
		{cpOffPrevTimeLineID, (*uint32)(&c.PrevTimeLineID)},
		{cpOffFullPageWrites, &c.FullPageWrites},
		{cpOffNextXid, &c.NextXid},
		{cpOffNextOid, &c.NextOid},
		{cpOffNextMulti, &c.NextMulti},
		{cpOffNextMultiOffset, &c.NextMultiOffset},
		{cpOffOldestXid, &c.OldestXid},
		{cpOffOldestXidDB, &c.OldestXidDB},
		{cpOffOldestMulti, &c.OldestMulti},
		{cpOffOldestMultiDB, &c.OldestMultiDB},
		{cpOffTime, &c.Time},
		{cpOffOldestCommitTsXid, &c.OldestCommitTsXid},
		{cpOffNewestCommitTsXid, &c.NewestCommitTsXid},
		{cpOffOldestActiveXid, &c.OldestActiveXid},
	}
}

// Append appends the SizeOfCheckPoint bytes of c, padding zero, as
// PostgreSQL writes a checkpoint record's main data.
func (c CheckPoint) Append(dst []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, SizeOfCheckPoint)...)
	c.put(dst[n:])
	return dst
}

// put writes c's fields into b[:SizeOfCheckPoint], leaving the padding bytes
// as they are. A bool whose truth did not change keeps its stored byte.
func (c CheckPoint) put(b []byte) { putFields(b, c.fields()) }

// structField is a field of a C struct at its byte offset, so that one
// list both reads and writes the struct. ptr is a *uint64, *int64,
// *uint32, *int32 or *bool (a named type's field converted to one).
type structField struct {
	off int
	ptr any
}

// getFields reads the fields from b.
func getFields(b []byte, fields []structField) {
	le := binary.LittleEndian
	for _, f := range fields {
		switch p := f.ptr.(type) {
		case *uint64:
			*p = le.Uint64(b[f.off:])
		case *int64:
			*p = int64(le.Uint64(b[f.off:]))
		case *uint32:
			*p = le.Uint32(b[f.off:])
		case *int32:
			*p = int32(le.Uint32(b[f.off:]))
		case *bool:
			*p = b[f.off] != 0
		default:
			panic(fmt.Sprintf("structField of %T", f.ptr))
		}
	}
}

// putFields writes the fields into b; a bool whose truth did not change
// keeps its stored byte (putBool).
func putFields(b []byte, fields []structField) {
	le := binary.LittleEndian
	for _, f := range fields {
		switch p := f.ptr.(type) {
		case *uint64:
			le.PutUint64(b[f.off:], *p)
		case *int64:
			le.PutUint64(b[f.off:], uint64(*p))
		case *uint32:
			le.PutUint32(b[f.off:], *p)
		case *int32:
			le.PutUint32(b[f.off:], uint32(*p))
		case *bool:
			putBool(b[f.off:], *p)
		default:
			panic(fmt.Sprintf("structField of %T", f.ptr))
		}
	}
}

// putBool stores v in b[0] unless b[0] already has that truth value.
func putBool(b []byte, v bool) {
	if (b[0] != 0) == v {
		return
	}
	if v {
		b[0] = 1
	} else {
		b[0] = 0
	}
}

// DBState is the cluster state recorded in pg_control (DBState).
type DBState uint32

// DBState values.
const (
	DBStartup              DBState = 0 // DB_STARTUP
	DBShutdowned           DBState = 1 // DB_SHUTDOWNED
	DBShutdownedInRecovery DBState = 2 // DB_SHUTDOWNED_IN_RECOVERY
	DBShutdowning          DBState = 3 // DB_SHUTDOWNING
	DBInCrashRecovery      DBState = 4 // DB_IN_CRASH_RECOVERY
	DBInArchiveRecovery    DBState = 5 // DB_IN_ARCHIVE_RECOVERY
	DBInProduction         DBState = 6 // DB_IN_PRODUCTION
)

// String names the state as pg_controldata prints it ("shut down",
// "in production", ...).
func (s DBState) String() string {
	switch s {
	case DBStartup:
		return "starting up"
	case DBShutdowned:
		return "shut down"
	case DBShutdownedInRecovery:
		return "shut down in recovery"
	case DBShutdowning:
		return "shutting down"
	case DBInCrashRecovery:
		return "in crash recovery"
	case DBInArchiveRecovery:
		return "in archive recovery"
	case DBInProduction:
		return "in production"
	}
	return "unrecognized status code"
}

// WALLevel is the wal_level stored in pg_control (WalLevel).
type WALLevel int32

// WALLevel values.
const (
	WALLevelMinimal WALLevel = 0
	WALLevelReplica WALLevel = 1
	WALLevelLogical WALLevel = 2
)

// String is the setting's name ("minimal", "replica", "logical").
func (l WALLevel) String() string {
	switch l {
	case WALLevelMinimal:
		return "minimal"
	case WALLevelReplica:
		return "replica"
	case WALLevelLogical:
		return "logical"
	}
	return "unrecognized wal_level"
}

// Byte offsets of the ControlFileData fields (x86-64).
const (
	cfOffSystemIdentifier     = 0
	cfOffPgControlVersion     = 8
	cfOffCatalogVersionNo     = 12
	cfOffState                = 16
	cfOffTime                 = 24
	cfOffCheckPoint           = 32
	cfOffCheckPointCopy       = 40
	cfOffUnloggedLSN          = 128
	cfOffMinRecoveryPoint     = 136
	cfOffMinRecoveryPointTLI  = 144
	cfOffBackupStartPoint     = 152
	cfOffBackupEndPoint       = 160
	cfOffBackupEndRequired    = 168
	cfOffWALLevel             = 172
	cfOffWALLogHints          = 176
	cfOffMaxConnections       = 180
	cfOffMaxWorkerProcesses   = 184
	cfOffMaxWALSenders        = 188
	cfOffMaxPreparedXacts     = 192
	cfOffMaxLocksPerXact      = 196
	cfOffTrackCommitTimestamp = 200
	cfOffMaxAlign             = 204
	cfOffFloatFormat          = 208
	cfOffBlcksz               = 216
	cfOffRelSegSize           = 220
	cfOffXLogBlcksz           = 224
	cfOffXLogSegSize          = 228
	cfOffNameDataLen          = 232
	cfOffIndexMaxKeys         = 236
	cfOffToastMaxChunkSize    = 240
	cfOffLOBlkSize            = 244
	cfOffFloat8ByVal          = 248
	cfOffDataChecksumVersion  = 252
	cfOffMockAuthNonce        = 256
)

// ControlFile is a parsed pg_control file (ControlFileData). Change its
// exported fields and call Bytes to get the file back with those fields
// written at their offsets and the CRC recomputed; every byte the struct does
// not model (alignment padding, the zeros after the struct) is kept as read.
type ControlFile struct {
	SystemIdentifier uint64  // system_identifier
	PgControlVersion uint32  // pg_control_version
	CatalogVersionNo uint32  // catalog_version_no
	State            DBState // state
	Time             int64   // time: last update of pg_control, seconds since the Unix epoch

	CheckPoint     LSN        // checkPoint: start of the last checkpoint record
	CheckPointCopy CheckPoint // checkPointCopy: that record's CheckPoint

	UnloggedLSN LSN // unloggedLSN: the fake LSN counter for unlogged relations

	MinRecoveryPoint    LSN        // minRecoveryPoint
	MinRecoveryPointTLI TimeLineID // minRecoveryPointTLI
	BackupStartPoint    LSN        // backupStartPoint
	BackupEndPoint      LSN        // backupEndPoint
	BackupEndRequired   bool       // backupEndRequired

	// Settings that must match on a standby.
	WALLevel             WALLevel // wal_level
	WALLogHints          bool     // wal_log_hints
	MaxConnections       int32    // MaxConnections
	MaxWorkerProcesses   int32    // max_worker_processes
	MaxWALSenders        int32    // max_wal_senders
	MaxPreparedXacts     int32    // max_prepared_xacts
	MaxLocksPerXact      int32    // max_locks_per_xact
	TrackCommitTimestamp bool     // track_commit_timestamp

	// Build-time constants of the server that wrote the file.
	MaxAlign          uint32  // maxAlign
	FloatFormat       float64 // floatFormat: FloatFormatValue
	Blcksz            uint32  // blcksz
	RelSegSize        uint32  // relseg_size
	XLogBlcksz        uint32  // xlog_blcksz
	XLogSegSize       uint32  // xlog_seg_size
	NameDataLen       uint32  // nameDataLen
	IndexMaxKeys      uint32  // indexMaxKeys
	ToastMaxChunkSize uint32  // toast_max_chunk_size
	LOBlkSize         uint32  // loblksize
	Float8ByVal       bool    // float8ByVal

	DataChecksumVersion uint32 // data_checksum_version: 0 = checksums off

	MockAuthenticationNonce [MockAuthNonceLen]byte // mock_authentication_nonce

	raw [PGControlFileSize]byte // the file as read
}

// ReadControlFile reads and parses the pg_control file of a data directory
// (os.DirFS of it): ControlFilePath.
func ReadControlFile(dataDir fs.FS) (*ControlFile, error) {
	b, err := fs.ReadFile(dataDir, ControlFilePath)
	if err != nil {
		return nil, fmt.Errorf("read pg_control: %w", err)
	}
	c, err := ParseControlFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ControlFilePath, err)
	}
	return c, nil
}

// ParseControlFile parses the PGControlFileSize bytes of a pg_control file.
// It checks the size, pg_control_version (PGControlVersion) and the CRC-32C
// of the bytes before the crc field, as PostgreSQL does when it reads the
// file; the errors match ErrBadControlFile.
func ParseControlFile(b []byte) (*ControlFile, error) {
	if len(b) != PGControlFileSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d (PG_CONTROL_FILE_SIZE)", ErrBadControlFile, len(b), PGControlFileSize)
	}
	le := binary.LittleEndian
	version := le.Uint32(b[cfOffPgControlVersion:])
	if version != PGControlVersion {
		hint := ""
		if version%65536 == 0 && version/65536 != 0 {
			hint = " (the file may come from a server of the other byte order)"
		}
		return nil, fmt.Errorf("%w: pg_control_version is %d, want %d (PostgreSQL 15)%s", ErrBadControlFile, version, PGControlVersion, hint)
	}
	stored := le.Uint32(b[ControlFileCRCOffset:])
	if sum := controlFileCRC(b); sum != stored {
		return nil, fmt.Errorf("%w: CRC-32C mismatch: stored %08X, computed %08X over bytes 0-%d (the file is damaged)",
			ErrBadControlFile, stored, sum, ControlFileCRCOffset-1)
	}
	c := &ControlFile{}
	copy(c.raw[:], b)
	cp, err := ParseCheckPoint(b[cfOffCheckPointCopy:])
	if err != nil {
		return nil, err // cannot happen: the slice is long enough
	}
	getFields(b, c.fields())
	c.CheckPointCopy = cp
	c.FloatFormat = math.Float64frombits(le.Uint64(b[cfOffFloatFormat:]))
	copy(c.MockAuthenticationNonce[:], b[cfOffMockAuthNonce:])
	return c, nil
}

// controlFileCRC is the CRC-32C PostgreSQL stores in pg_control's crc field.
func controlFileCRC(b []byte) uint32 {
	return crc32.Checksum(b[:ControlFileCRCOffset], castagnoli)
}

// fields are c's fields at their offsets, but for CheckPointCopy,
// FloatFormat and MockAuthenticationNonce.
func (c *ControlFile) fields() []structField {
	return []structField{
		{cfOffSystemIdentifier, &c.SystemIdentifier},
		{cfOffPgControlVersion, &c.PgControlVersion},
		{cfOffCatalogVersionNo, &c.CatalogVersionNo},
		{cfOffState, (*uint32)(&c.State)},
		{cfOffTime, &c.Time},
		{cfOffCheckPoint, (*uint64)(&c.CheckPoint)},
		{cfOffUnloggedLSN, (*uint64)(&c.UnloggedLSN)},
		{cfOffMinRecoveryPoint, (*uint64)(&c.MinRecoveryPoint)},
		{cfOffMinRecoveryPointTLI, (*uint32)(&c.MinRecoveryPointTLI)},
		{cfOffBackupStartPoint, (*uint64)(&c.BackupStartPoint)},
		{cfOffBackupEndPoint, (*uint64)(&c.BackupEndPoint)},
		{cfOffBackupEndRequired, &c.BackupEndRequired},
		{cfOffWALLevel, (*int32)(&c.WALLevel)},
		{cfOffWALLogHints, &c.WALLogHints},
		{cfOffMaxConnections, &c.MaxConnections},
		{cfOffMaxWorkerProcesses, &c.MaxWorkerProcesses},
		{cfOffMaxWALSenders, &c.MaxWALSenders},
		{cfOffMaxPreparedXacts, &c.MaxPreparedXacts},
		{cfOffMaxLocksPerXact, &c.MaxLocksPerXact},
		{cfOffTrackCommitTimestamp, &c.TrackCommitTimestamp},
		{cfOffMaxAlign, &c.MaxAlign},
		{cfOffBlcksz, &c.Blcksz},
		{cfOffRelSegSize, &c.RelSegSize},
		{cfOffXLogBlcksz, &c.XLogBlcksz},
		{cfOffXLogSegSize, &c.XLogSegSize},
		{cfOffNameDataLen, &c.NameDataLen},
		{cfOffIndexMaxKeys, &c.IndexMaxKeys},
		{cfOffToastMaxChunkSize, &c.ToastMaxChunkSize},
		{cfOffLOBlkSize, &c.LOBlkSize},
		{cfOffFloat8ByVal, &c.Float8ByVal},
		{cfOffDataChecksumVersion, &c.DataChecksumVersion},
	}
}

// StoredCRC is the crc field of the file as it was read.
func (c *ControlFile) StoredCRC() uint32 {
	return binary.LittleEndian.Uint32(c.raw[ControlFileCRCOffset:])
}

// Bytes returns the PGControlFileSize-byte file: the bytes that were read,
// with every exported field written back at its offset and the CRC
// recomputed. Parsing a file and calling Bytes without changes returns the
// file unchanged.
func (c *ControlFile) Bytes() []byte {
	b := make([]byte, PGControlFileSize)
	copy(b, c.raw[:])
	le := binary.LittleEndian
	putFields(b, c.fields())
	c.CheckPointCopy.put(b[cfOffCheckPointCopy:])
	// Keep the stored bits when the value is unchanged (a NaN payload, -0).
	if f := math.Float64frombits(le.Uint64(b[cfOffFloatFormat:])); f != c.FloatFormat && !(math.IsNaN(f) && math.IsNaN(c.FloatFormat)) {
		le.PutUint64(b[cfOffFloatFormat:], math.Float64bits(c.FloatFormat))
	}
	copy(b[cfOffMockAuthNonce:], c.MockAuthenticationNonce[:])
	le.PutUint32(b[ControlFileCRCOffset:], controlFileCRC(b))
	return b
}

// SetShutdownCheckpoint makes c describe a cluster shut down cleanly with
// the shutdown checkpoint record cp at loc (cp.Redo == loc): state "shut
// down", the checkpoint and its copy, no minimum recovery point, no
// backup in progress, the time of the change now. This is what
// pg_resetwal and a clean shutdown leave; PostgreSQL then starts without
// recovery.
func (c *ControlFile) SetShutdownCheckpoint(loc LSN, cp CheckPoint, now time.Time) {
	c.State = DBShutdowned
	c.CheckPoint = loc
	c.CheckPointCopy = cp
	c.MinRecoveryPoint, c.MinRecoveryPointTLI = 0, 0
	c.BackupStartPoint, c.BackupEndPoint, c.BackupEndRequired = 0, 0, false
	c.Time = now.Unix()
}

// SetParameters writes the settings pg_control records (those an XLOG
// PARAMETER_CHANGE record carries).
func (c *ControlFile) SetParameters(p *Parameters) {
	c.MaxConnections = p.MaxConnections
	c.MaxWorkerProcesses = p.MaxWorkerProcesses
	c.MaxWALSenders = p.MaxWALSenders
	c.MaxPreparedXacts = p.MaxPreparedXacts
	c.MaxLocksPerXact = p.MaxLocksPerXact
	c.WALLevel = p.WALLevel
	c.WALLogHints = p.WALLogHints
	c.TrackCommitTimestamp = p.TrackCommitTimestamp
}
