package schema

// Record layouts of the resource managers without relation pages of their
// own that pagemill acts on (PostgreSQL 15, x86-64): Storage
// (catalog/storage_xlog.h), Database (commands/dbcommands_xlog.h), CLOG
// (access/clog.h), MultiXact (access/multixact.h), Standby
// (storage/standbydefs.h), RelMap (utils/relmapper.h) and Sequence
// (commands/sequence.h). Decoded here only: the descriptions
// (rmgrdesc_misc.go), relation-level changes (relchange.go), auxiliary
// pages (aux.go) and redo (redo/slru.go, redo/seq.go, redo/engine.go) use
// these. See xlogdecode.go for the conventions.

// Storage record opcodes and xl_smgr_truncate flags.
const (
	XLogSmgrCreate   uint8 = 0x10 // XLOG_SMGR_CREATE
	XLogSmgrTruncate uint8 = 0x20 // XLOG_SMGR_TRUNCATE

	SmgrTruncateHeap int32 = 0x0001 // SMGR_TRUNCATE_HEAP
	SmgrTruncateVM   int32 = 0x0002 // SMGR_TRUNCATE_VM
	SmgrTruncateFSM  int32 = 0x0004 // SMGR_TRUNCATE_FSM
)

// Database record opcodes.
const (
	XLogDbaseCreateFileCopy uint8 = 0x00 // XLOG_DBASE_CREATE_FILE_COPY
	XLogDbaseCreateWalLog   uint8 = 0x10 // XLOG_DBASE_CREATE_WAL_LOG
	XLogDbaseDrop           uint8 = 0x20 // XLOG_DBASE_DROP
)

// CLOG, MultiXact, Standby, RelMap and Sequence record opcodes.
const (
	ClogZeropage             uint8 = 0x00 // CLOG_ZEROPAGE
	ClogTruncate             uint8 = 0x10 // CLOG_TRUNCATE
	XLogMultixactZeroOffPage uint8 = 0x00 // XLOG_MULTIXACT_ZERO_OFF_PAGE
	XLogMultixactZeroMemPage uint8 = 0x10 // XLOG_MULTIXACT_ZERO_MEM_PAGE
	XLogMultixactCreateID    uint8 = 0x20 // XLOG_MULTIXACT_CREATE_ID
	XLogMultixactTruncateID  uint8 = 0x30 // XLOG_MULTIXACT_TRUNCATE_ID
	XLogStandbyLock          uint8 = 0x00 // XLOG_STANDBY_LOCK
	XLogRunningXacts         uint8 = 0x10 // XLOG_RUNNING_XACTS
	XLogInvalidations        uint8 = 0x20 // XLOG_INVALIDATIONS
	XLogRelmapUpdate         uint8 = 0x00 // XLOG_RELMAP_UPDATE
	XLogSeqLog               uint8 = 0x00 // XLOG_SEQ_LOG
)

// Bytes PostgreSQL writes for each struct (the fixed part before a
// flexible array).
const (
	SizeOfSmgrCreate          = 16 // rnode, forkNum int
	SizeOfSmgrTruncate        = 20 // blkno, rnode, flags int
	SizeOfDbaseCreateFileCopy = 16 // db_id, tablespace_id, src_db_id, src_tablespace_id
	SizeOfDbaseCreateWalLog   = 8  // db_id, tablespace_id
	SizeOfDbaseDrop           = 8  // db_id, ntablespaces int; tablespace_ids follow
	SizeOfClogPageno          = 4  // int pageno (ZEROPAGE; MultiXact ZERO_OFF_PAGE, ZERO_MEM_PAGE)
	SizeOfClogTruncate        = 12 // pageno, oldestXact, oldestXactDb
	SizeOfMultiXactCreate     = 12 // mid, moff, nmembers int32; members follow
	SizeOfMultiXactMember     = 8  // xid, status
	SizeOfMultiXactTruncate   = 20 // oldestMultiDB, startTruncOff, endTruncOff, startTruncMemb, endTruncMemb
	SizeOfStandbyLocks        = 4  // nlocks int; xl_standby_lock follow
	SizeOfStandbyLock         = 12 // xid, dbOid, relOid
	SizeOfXactRunningXacts    = 24 // xcnt, subxcnt, subxid_overflow, nextXid, oldestRunningXid, latestCompletedXid; xids follow
	SizeOfInvalidations       = 16 // dbId, tsId, relcacheInitFileInval, nmsgs; msgs follow
	SizeOfRelmapUpdate        = 12 // dbid, tsid, nbytes int32; data follows
	SizeOfSeqRec              = 12 // node; the tuple follows
)

// XlSmgrCreate is xl_smgr_create (Storage CREATE).
type XlSmgrCreate struct {
	Rnode   RelFileNode
	ForkNum ForkNumber
}

// DecodeXlSmgrCreate decodes the main data of CREATE.
func DecodeXlSmgrCreate(b []byte) (XlSmgrCreate, error) {
	if len(b) < SizeOfSmgrCreate {
		return XlSmgrCreate{}, xlShort("xl_smgr_create", len(b), SizeOfSmgrCreate)
	}
	return XlSmgrCreate{Rnode: xlRel(b), ForkNum: ForkNumber(int32(xlLE.Uint32(b[12:])))}, nil
}

// XlSmgrTruncate is xl_smgr_truncate (Storage TRUNCATE).
type XlSmgrTruncate struct {
	Blkno BlockNumber // the main fork's new size
	Rnode RelFileNode
	Flags int32 // SMGR_TRUNCATE_*
}

// DecodeXlSmgrTruncate decodes the main data of TRUNCATE.
func DecodeXlSmgrTruncate(b []byte) (XlSmgrTruncate, error) {
	if len(b) < SizeOfSmgrTruncate {
		return XlSmgrTruncate{}, xlShort("xl_smgr_truncate", len(b), SizeOfSmgrTruncate)
	}
	return XlSmgrTruncate{Blkno: BlockNumber(xlLE.Uint32(b)), Rnode: xlRel(b[4:]), Flags: int32(xlLE.Uint32(b[16:]))}, nil
}

// XlDbaseCreateFileCopyRec is xl_dbase_create_file_copy_rec
// (CREATE_FILE_COPY).
type XlDbaseCreateFileCopyRec struct {
	DbID            uint32
	TablespaceID    uint32
	SrcDbID         uint32
	SrcTablespaceID uint32
}

// DecodeXlDbaseCreateFileCopyRec decodes the main data of
// CREATE_FILE_COPY.
func DecodeXlDbaseCreateFileCopyRec(b []byte) (XlDbaseCreateFileCopyRec, error) {
	if len(b) < SizeOfDbaseCreateFileCopy {
		return XlDbaseCreateFileCopyRec{}, xlShort("xl_dbase_create_file_copy_rec", len(b), SizeOfDbaseCreateFileCopy)
	}
	return XlDbaseCreateFileCopyRec{DbID: xlLE.Uint32(b), TablespaceID: xlLE.Uint32(b[4:]), SrcDbID: xlLE.Uint32(b[8:]), SrcTablespaceID: xlLE.Uint32(b[12:])}, nil
}

// XlDbaseCreateWalLogRec is xl_dbase_create_wal_log_rec (CREATE_WAL_LOG).
type XlDbaseCreateWalLogRec struct {
	DbID         uint32
	TablespaceID uint32
}

// DecodeXlDbaseCreateWalLogRec decodes the main data of CREATE_WAL_LOG.
func DecodeXlDbaseCreateWalLogRec(b []byte) (XlDbaseCreateWalLogRec, error) {
	if len(b) < SizeOfDbaseCreateWalLog {
		return XlDbaseCreateWalLogRec{}, xlShort("xl_dbase_create_wal_log_rec", len(b), SizeOfDbaseCreateWalLog)
	}
	return XlDbaseCreateWalLogRec{DbID: xlLE.Uint32(b), TablespaceID: xlLE.Uint32(b[4:])}, nil
}

// XlDbaseDropRec is xl_dbase_drop_rec (DROP).
type XlDbaseDropRec struct {
	DbID         uint32
	NTablespaces int32
	// TablespaceIDs are the ids present, at most NTablespaces.
	TablespaceIDs Uint32Array
}

// DecodeXlDbaseDropRec decodes the main data of DROP. Fewer ids than
// NTablespaces is not an error here (see Complete).
func DecodeXlDbaseDropRec(b []byte) (XlDbaseDropRec, error) {
	if len(b) < SizeOfDbaseDrop {
		return XlDbaseDropRec{}, xlShort("xl_dbase_drop_rec", len(b), SizeOfDbaseDrop)
	}
	n := int32(xlLE.Uint32(b[4:]))
	return XlDbaseDropRec{DbID: xlLE.Uint32(b), NTablespaces: n, TablespaceIDs: uint32ArrayOf(b[SizeOfDbaseDrop:], int64(n))}, nil
}

// Complete reports an error when the count is negative or fewer ids
// follow.
func (x XlDbaseDropRec) Complete() error {
	return xlComplete("xl_dbase_drop_rec tablespace_ids", x.TablespaceIDs.Len(), int64(x.NTablespaces))
}

// DecodeSlruPageno decodes the main data of CLOG ZEROPAGE and MultiXact
// ZERO_OFF_PAGE and ZERO_MEM_PAGE: an int page number.
func DecodeSlruPageno(b []byte) (int32, error) {
	if len(b) < SizeOfClogPageno {
		return 0, xlShort("SLRU zero-page pageno", len(b), SizeOfClogPageno)
	}
	return int32(xlLE.Uint32(b)), nil
}

// XlClogTruncate is xl_clog_truncate (CLOG TRUNCATE).
type XlClogTruncate struct {
	Pageno       int32
	OldestXact   uint32
	OldestXactDb uint32
}

// DecodeXlClogTruncate decodes the main data of CLOG TRUNCATE.
func DecodeXlClogTruncate(b []byte) (XlClogTruncate, error) {
	if len(b) < SizeOfClogTruncate {
		return XlClogTruncate{}, xlShort("xl_clog_truncate", len(b), SizeOfClogTruncate)
	}
	return XlClogTruncate{Pageno: int32(xlLE.Uint32(b)), OldestXact: xlLE.Uint32(b[4:]), OldestXactDb: xlLE.Uint32(b[8:])}, nil
}

// MultiXactMembers are the members of a xl_multixact_create, read in
// place.
type MultiXactMembers []byte

// Len is the number of members.
func (a MultiXactMembers) Len() int { return len(a) / SizeOfMultiXactMember }

// At returns member i (0 <= i < Len).
func (a MultiXactMembers) At(i int) MultiXactMember {
	b := a[i*SizeOfMultiXactMember:]
	return MultiXactMember{Xid: xlLE.Uint32(b), Status: xlLE.Uint32(b[4:])}
}

// XlMultixactCreate is xl_multixact_create (CREATE_ID).
type XlMultixactCreate struct {
	Mid      uint32 // MultiXactId
	Moff     uint32 // MultiXactOffset of the first member
	Nmembers int32
	// Members are the members present, at most Nmembers.
	Members MultiXactMembers
}

// DecodeXlMultixactCreate decodes the main data of CREATE_ID. Fewer
// members than Nmembers is not an error here (see Complete).
func DecodeXlMultixactCreate(b []byte) (XlMultixactCreate, error) {
	if len(b) < SizeOfMultiXactCreate {
		return XlMultixactCreate{}, xlShort("xl_multixact_create", len(b), SizeOfMultiXactCreate)
	}
	n := int32(xlLE.Uint32(b[8:]))
	have := int64(len(b)-SizeOfMultiXactCreate) / SizeOfMultiXactMember
	m := min(max(int64(n), 0), have)
	return XlMultixactCreate{
		Mid:      xlLE.Uint32(b),
		Moff:     xlLE.Uint32(b[4:]),
		Nmembers: n,
		Members:  MultiXactMembers(b[SizeOfMultiXactCreate : SizeOfMultiXactCreate+m*SizeOfMultiXactMember]),
	}, nil
}

// Complete reports an error when the count is negative or fewer members
// follow.
func (x XlMultixactCreate) Complete() error {
	return xlComplete("xl_multixact_create members", x.Members.Len(), int64(x.Nmembers))
}

// XlMultixactTruncate is xl_multixact_truncate (TRUNCATE_ID).
type XlMultixactTruncate struct {
	OldestMultiDB  uint32
	StartTruncOff  uint32 // MultiXactId
	EndTruncOff    uint32 // MultiXactId
	StartTruncMemb uint32 // MultiXactOffset
	EndTruncMemb   uint32 // MultiXactOffset
}

// DecodeXlMultixactTruncate decodes the main data of TRUNCATE_ID.
func DecodeXlMultixactTruncate(b []byte) (XlMultixactTruncate, error) {
	if len(b) < SizeOfMultiXactTruncate {
		return XlMultixactTruncate{}, xlShort("xl_multixact_truncate", len(b), SizeOfMultiXactTruncate)
	}
	return XlMultixactTruncate{
		OldestMultiDB:  xlLE.Uint32(b),
		StartTruncOff:  xlLE.Uint32(b[4:]),
		EndTruncOff:    xlLE.Uint32(b[8:]),
		StartTruncMemb: xlLE.Uint32(b[12:]),
		EndTruncMemb:   xlLE.Uint32(b[16:]),
	}, nil
}

// XlStandbyLock is xl_standby_lock: an AccessExclusiveLock held.
type XlStandbyLock struct {
	Xid    uint32
	DbOid  uint32
	RelOid uint32
}

// XlStandbyLockArray are the locks of a xl_standby_locks, read in place.
type XlStandbyLockArray []byte

// Len is the number of locks.
func (a XlStandbyLockArray) Len() int { return len(a) / SizeOfStandbyLock }

// At returns lock i (0 <= i < Len).
func (a XlStandbyLockArray) At(i int) XlStandbyLock {
	b := a[i*SizeOfStandbyLock:]
	return XlStandbyLock{Xid: xlLE.Uint32(b), DbOid: xlLE.Uint32(b[4:]), RelOid: xlLE.Uint32(b[8:])}
}

// XlStandbyLocks is xl_standby_locks (Standby LOCK).
type XlStandbyLocks struct {
	Nlocks int32
	// Locks are the locks present, at most Nlocks.
	Locks XlStandbyLockArray
}

// DecodeXlStandbyLocks decodes the main data of LOCK; fewer locks than
// Nlocks is not an error here.
func DecodeXlStandbyLocks(b []byte) (XlStandbyLocks, error) {
	if len(b) < SizeOfStandbyLocks {
		return XlStandbyLocks{}, xlShort("xl_standby_locks", len(b), SizeOfStandbyLocks)
	}
	n := int32(xlLE.Uint32(b))
	m := min(max(int64(n), 0), int64(len(b)-SizeOfStandbyLocks)/SizeOfStandbyLock)
	return XlStandbyLocks{Nlocks: n, Locks: XlStandbyLockArray(b[SizeOfStandbyLocks : SizeOfStandbyLocks+m*SizeOfStandbyLock])}, nil
}

// XlRunningXacts is xl_running_xacts (RUNNING_XACTS).
type XlRunningXacts struct {
	Xcnt               int32
	Subxcnt            int32
	SubxidOverflow     bool
	NextXid            uint32
	OldestRunningXid   uint32
	LatestCompletedXid uint32
	// Xids are the top-level then the subtransaction ids present, at
	// most Xcnt + Subxcnt.
	Xids Uint32Array
}

// DecodeXlRunningXacts decodes the main data of RUNNING_XACTS; fewer ids
// than the counts is not an error here.
func DecodeXlRunningXacts(b []byte) (XlRunningXacts, error) {
	if len(b) < SizeOfXactRunningXacts {
		return XlRunningXacts{}, xlShort("xl_running_xacts", len(b), SizeOfXactRunningXacts)
	}
	x := XlRunningXacts{
		Xcnt:               int32(xlLE.Uint32(b)),
		Subxcnt:            int32(xlLE.Uint32(b[4:])),
		SubxidOverflow:     b[8] != 0,
		NextXid:            xlLE.Uint32(b[12:]),
		OldestRunningXid:   xlLE.Uint32(b[16:]),
		LatestCompletedXid: xlLE.Uint32(b[20:]),
	}
	x.Xids = uint32ArrayOf(b[SizeOfXactRunningXacts:], max(int64(x.Xcnt), 0)+max(int64(x.Subxcnt), 0))
	return x, nil
}

// XlInvalidations is xl_invalidations (Standby INVALIDATIONS).
type XlInvalidations struct {
	DbID                  uint32
	TsID                  uint32
	RelcacheInitFileInval bool
	Nmsgs                 int32
	// Msgs are the messages present, at most Nmsgs.
	Msgs SharedInvalMessages
}

// DecodeXlInvalidations decodes the main data of INVALIDATIONS; fewer
// messages than Nmsgs is not an error here.
func DecodeXlInvalidations(b []byte) (XlInvalidations, error) {
	if len(b) < SizeOfInvalidations {
		return XlInvalidations{}, xlShort("xl_invalidations", len(b), SizeOfInvalidations)
	}
	n := int32(xlLE.Uint32(b[12:]))
	return XlInvalidations{
		DbID:                  xlLE.Uint32(b),
		TsID:                  xlLE.Uint32(b[4:]),
		RelcacheInitFileInval: b[8] != 0,
		Nmsgs:                 n,
		Msgs:                  sharedInvalMessagesOf(b[SizeOfInvalidations:], n),
	}, nil
}

// XlRelmapUpdate is xl_relmap_update (RelMap UPDATE).
type XlRelmapUpdate struct {
	Dbid   uint32
	Tsid   uint32
	Nbytes int32
	data   []byte
}

// DecodeXlRelmapUpdate decodes the fixed part of UPDATE's main data.
func DecodeXlRelmapUpdate(b []byte) (XlRelmapUpdate, error) {
	if len(b) < SizeOfRelmapUpdate {
		return XlRelmapUpdate{}, xlShort("xl_relmap_update", len(b), SizeOfRelmapUpdate)
	}
	return XlRelmapUpdate{Dbid: xlLE.Uint32(b), Tsid: xlLE.Uint32(b[4:]), Nbytes: int32(xlLE.Uint32(b[8:])), data: b[SizeOfRelmapUpdate:]}, nil
}

// Data returns the Nbytes of the new map file, which must be at most
// RelMapFileSize and present.
func (x XlRelmapUpdate) Data() ([]byte, error) {
	if x.Nbytes < 0 || x.Nbytes > RelMapFileSize || int(x.Nbytes) > len(x.data) {
		return nil, xlBad("xl_relmap_update", "map of %d bytes in %d", x.Nbytes, len(x.data))
	}
	return x.data[:x.Nbytes], nil
}

// XlSeqRec is xl_seq_rec (Sequence LOG) with the sequence tuple that
// follows it.
type XlSeqRec struct {
	Node  RelFileNode
	Tuple []byte
}

// DecodeXlSeqRec decodes the main data of LOG.
func DecodeXlSeqRec(b []byte) (XlSeqRec, error) {
	if len(b) < SizeOfSeqRec {
		return XlSeqRec{}, xlShort("xl_seq_rec", len(b), SizeOfSeqRec)
	}
	return XlSeqRec{Node: xlRel(b), Tuple: b[SizeOfSeqRec:]}, nil
}
