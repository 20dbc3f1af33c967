package schema

// Transaction record layouts (access/xact.h, PostgreSQL 15, x86-64),
// decoded here only: ParseCommitRecord, ParseAbortRecord and
// ParsePrepareRecord are xactdesc.c's functions of those names. The
// descriptions (rmgrdesc_xact.go), the pg_xact pages a commit or abort
// changes and their redo (XactTreeOf: aux.go, redo/slru.go), the relation
// drops at transaction end (relchange.go) and the transaction index
// (xactinfo.go: XactEndOf, XidsOf, ParseTwoPhaseState) use these. See
// xlogdecode.go for the conventions.

// Transaction record opcodes (XLOG_XACT_*), xl_info & XLOG_XACT_OPMASK.
const (
	XLogXactCommit         uint8 = 0x00 // XLOG_XACT_COMMIT
	XLogXactPrepare        uint8 = 0x10 // XLOG_XACT_PREPARE
	XLogXactAbort          uint8 = 0x20 // XLOG_XACT_ABORT
	XLogXactCommitPrepared uint8 = 0x30 // XLOG_XACT_COMMIT_PREPARED
	XLogXactAbortPrepared  uint8 = 0x40 // XLOG_XACT_ABORT_PREPARED
	XLogXactAssignment     uint8 = 0x50 // XLOG_XACT_ASSIGNMENT
	XLogXactInvalidations  uint8 = 0x60 // XLOG_XACT_INVALIDATIONS
	XLogXactOpMask         uint8 = 0x70 // XLOG_XACT_OPMASK
	// XLogXactHasInfo says an xl_xact_xinfo follows xl_xact_commit or
	// xl_xact_abort (XLOG_XACT_HAS_INFO).
	XLogXactHasInfo uint8 = 0x80
)

// xl_xact_xinfo bits: which parts follow, and the completion flags.
const (
	XactXinfoHasDBInfo       uint32 = 1 << 0 // XACT_XINFO_HAS_DBINFO
	XactXinfoHasSubxacts     uint32 = 1 << 1 // XACT_XINFO_HAS_SUBXACTS
	XactXinfoHasRelfilenodes uint32 = 1 << 2 // XACT_XINFO_HAS_RELFILENODES
	XactXinfoHasInvals       uint32 = 1 << 3 // XACT_XINFO_HAS_INVALS
	XactXinfoHasTwophase     uint32 = 1 << 4 // XACT_XINFO_HAS_TWOPHASE
	XactXinfoHasOrigin       uint32 = 1 << 5 // XACT_XINFO_HAS_ORIGIN
	XactXinfoHasAELocks      uint32 = 1 << 6 // XACT_XINFO_HAS_AE_LOCKS
	XactXinfoHasGID          uint32 = 1 << 7 // XACT_XINFO_HAS_GID
	XactXinfoHasDroppedStats uint32 = 1 << 8 // XACT_XINFO_HAS_DROPPED_STATS

	XactCompletionApplyFeedback   uint32 = 1 << 29 // XACT_COMPLETION_APPLY_FEEDBACK
	XactCompletionUpdateRelcache  uint32 = 1 << 30 // XACT_COMPLETION_UPDATE_RELCACHE_FILE
	XactCompletionForceSyncCommit uint32 = 1 << 31 // XACT_COMPLETION_FORCE_SYNC_COMMIT
)

// Bytes PostgreSQL writes for each struct (the fixed part before a
// flexible array).
const (
	SizeOfXactCommit         = 8   // MinSizeOfXactCommit, MinSizeOfXactAbort: xact_time
	SizeOfXactXinfo          = 4   // sizeof(xl_xact_xinfo)
	SizeOfXactDbinfo         = 8   // sizeof(xl_xact_dbinfo): dbId, tsId
	SizeOfXactCount          = 4   // int nsubxacts, nrels, nitems, nmsgs before their arrays
	SizeOfXactTwophase       = 4   // sizeof(xl_xact_twophase): xid
	SizeOfXactOrigin         = 16  // sizeof(xl_xact_origin): origin_lsn, origin_timestamp
	SizeOfXactStatsItem      = 12  // sizeof(xl_xact_stats_item): kind int, dboid, objoid
	SizeOfSharedInvalMessage = 16  // sizeof(SharedInvalidationMessage)
	SizeOfXactPrepare        = 72  // MAXALIGN(sizeof(xl_xact_prepare))
	SizeOfXactAssignment     = 8   // MinSizeOfXactAssignment: xtop, nsubxacts; xsub follow
	SizeOfXactInvals         = 4   // MinSizeOfXactInvals: nmsgs; msgs follow
	GIDSize                  = 200 // GIDSIZE, with the terminating NUL
)

// xactEndOp reports whether op (xl_info & XLOG_XACT_OPMASK) ends a
// transaction — COMMIT, ABORT, COMMIT_PREPARED, ABORT_PREPARED — and
// whether it commits and whether the transaction was prepared.
func xactEndOp(op uint8) (commit, prepared, ok bool) {
	switch op {
	case XLogXactCommit:
		return true, false, true
	case XLogXactAbort:
		return false, false, true
	case XLogXactCommitPrepared:
		return true, true, true
	case XLogXactAbortPrepared:
		return false, true, true
	}
	return false, false, false
}

// RelFileNodeArray is an array of RelFileNodes in a record, read in
// place.
type RelFileNodeArray []byte

// Len is the number of relations.
func (a RelFileNodeArray) Len() int { return len(a) / SizeOfRelFileNode }

// At returns relation i (0 <= i < Len).
func (a RelFileNodeArray) At(i int) RelFileNode { return xlRel(a[i*SizeOfRelFileNode:]) }

// XlXactStatsItem is xl_xact_stats_item: statistics dropped with an
// object.
type XlXactStatsItem struct {
	Kind   int32 // PgStat_Kind
	Dboid  uint32
	Objoid uint32
}

// XlXactStatsItems are xl_xact_stats_items, read in place.
type XlXactStatsItems []byte

// Len is the number of items.
func (a XlXactStatsItems) Len() int { return len(a) / SizeOfXactStatsItem }

// At returns item i (0 <= i < Len).
func (a XlXactStatsItems) At(i int) XlXactStatsItem {
	b := a[i*SizeOfXactStatsItem:]
	return XlXactStatsItem{Kind: int32(xlLE.Uint32(b)), Dboid: xlLE.Uint32(b[4:]), Objoid: xlLE.Uint32(b[8:])}
}

// SharedInvalidationMessage is one member of sinval.h's union: ID says
// which (>= 0: a catcache id; SHAREDINVAL*_ID below zero), DbID is the
// dbId of those that have one (catcache, catalog, relcache, relmap,
// snapshot) and ObjID their third word (catcache hashValue, catalog
// catId, relcache and snapshot relId).
type SharedInvalidationMessage struct {
	ID    int8
	DbID  uint32
	ObjID uint32
}

// SharedInvalidationMessage ids below zero (sinval.h).
const (
	SharedInvalCatalogID  int8 = -1 // SHAREDINVALCATALOG_ID
	SharedInvalRelcacheID int8 = -2 // SHAREDINVALRELCACHE_ID
	SharedInvalSmgrID     int8 = -3 // SHAREDINVALSMGR_ID
	SharedInvalRelmapID   int8 = -4 // SHAREDINVALRELMAP_ID
	SharedInvalSnapshotID int8 = -5 // SHAREDINVALSNAPSHOT_ID
)

// SharedInvalMessages are SharedInvalidationMessages in a record, read in
// place.
type SharedInvalMessages []byte

// Len is the number of messages.
func (a SharedInvalMessages) Len() int { return len(a) / SizeOfSharedInvalMessage }

// At returns message i (0 <= i < Len).
func (a SharedInvalMessages) At(i int) SharedInvalidationMessage {
	b := a[i*SizeOfSharedInvalMessage:]
	return SharedInvalidationMessage{ID: int8(b[0]), DbID: xlLE.Uint32(b[4:]), ObjID: xlLE.Uint32(b[8:])}
}

// XlXactParsedCommit is xl_xact_parsed_commit: a COMMIT or
// COMMIT_PREPARED record (ParseCommitRecord), an ABORT or ABORT_PREPARED
// (ParseAbortRecord: xl_xact_parsed_abort is the same without the
// invalidations, and the abort-only fields) or a PREPARE
// (ParsePrepareRecord) with its parts located. Each array holds the
// entries present, at most its count.
type XlXactParsedCommit struct {
	XactTime TimestampTz
	Xinfo    uint32 // XACT_XINFO_* and XACT_COMPLETION_*; 0 for PREPARE
	DbID     uint32
	TsID     uint32

	Nsubxacts int32
	Subxacts  Uint32Array
	Nrels     int32
	Xnodes    RelFileNodeArray
	Nstats    int32
	Stats     XlXactStatsItems
	Nmsgs     int32
	Msgs      SharedInvalMessages

	TwophaseXid uint32 // the prepared transaction; 0 when none
	TwophaseGID string

	// PREPARE only: the relations and statistics dropped on abort.
	Nabortrels  int32
	Abortnodes  RelFileNodeArray
	Nabortstats int32
	Abortstats  XlXactStatsItems

	OriginLSN       LSN
	OriginTimestamp TimestampTz
}

// XlXactParsedAbort is xl_xact_parsed_abort, which ParseAbortRecord fills;
// it has the fields of xl_xact_parsed_commit less the invalidations.
type XlXactParsedAbort = XlXactParsedCommit

// XlXactParsedPrepare is xl_xact_parsed_prepare, a typedef of
// xl_xact_parsed_commit in xact.h.
type XlXactParsedPrepare = XlXactParsedCommit

// xactWalk reads the parts of a commit or abort record in order, as
// ParseCommitRecord advances its data pointer. After a part is missing it
// reads nothing more and err says which.
type xactWalk struct {
	b    []byte
	off  int
	name string
	err  error
}

// fixed returns the next n bytes, or nil when they are not there.
func (w *xactWalk) fixed(part string, n int) []byte {
	if w.err != nil {
		return nil
	}
	if len(w.b)-w.off < n {
		w.err = xlShort(w.name+" "+part, len(w.b)-w.off, n)
		return nil
	}
	f := w.b[w.off : w.off+n]
	w.off += n
	return f
}

// array reads an int count and the entries of sz bytes after it: the view
// holds the entries present, at most the count. A negative count or fewer
// entries ends the walk.
func (w *xactWalk) array(part string, sz int) (int32, []byte) {
	c := w.fixed(part, SizeOfXactCount)
	if c == nil {
		return 0, nil
	}
	n := int32(xlLE.Uint32(c))
	if n < 0 {
		w.err = xlBad(w.name+" "+part, "count %d", n)
		return n, nil
	}
	rest := w.b[w.off:]
	have := min(int(n), len(rest)/sz)
	w.off += have * sz
	if have < int(n) {
		w.err = xlArrayShort(w.name+" "+part, have, int64(n))
	}
	return n, rest[:have*sz]
}

// ParseCommitRecord decodes the main data of COMMIT and COMMIT_PREPARED;
// info is the record's xl_info, whose XLOG_XACT_HAS_INFO bit says
// whether an xl_xact_xinfo follows xact_time. On an error (a part
// missing, an array shorter than its count) the parts before it are set,
// as pg_waldump would print them.
func ParseCommitRecord(info uint8, b []byte) (XlXactParsedCommit, error) {
	return parseXactCommitAbort(info, b, true, "xl_xact_commit")
}

// ParseAbortRecord decodes the main data of ABORT and ABORT_PREPARED as
// ParseCommitRecord does; an abort has no invalidations, so
// XACT_XINFO_HAS_INVALS is not looked at.
func ParseAbortRecord(info uint8, b []byte) (XlXactParsedAbort, error) {
	return parseXactCommitAbort(info, b, false, "xl_xact_abort")
}

// xactXinfo is the xl_xact_xinfo of a commit's or abort's main data
// (0 without one), read without parsing the rest: every redo shard looks
// at every transaction end for the relations it drops, and most drop none.
func xactXinfo(info uint8, b []byte) uint32 {
	if info&XLogXactHasInfo == 0 || len(b) < SizeOfXactCommit+SizeOfXactXinfo {
		return 0
	}
	return xlLE.Uint32(b[SizeOfXactCommit:])
}

func parseXactCommitAbort(info uint8, b []byte, commit bool, name string) (XlXactParsedCommit, error) {
	var p XlXactParsedCommit
	if len(b) < SizeOfXactCommit {
		return p, xlShort(name, len(b), SizeOfXactCommit)
	}
	p.XactTime = TimestampTz(xlLE.Uint64(b))
	w := xactWalk{b: b, off: SizeOfXactCommit, name: name}
	if info&XLogXactHasInfo != 0 {
		if f := w.fixed("xl_xact_xinfo", SizeOfXactXinfo); f != nil {
			p.Xinfo = xlLE.Uint32(f)
		}
	}
	if p.Xinfo&XactXinfoHasDBInfo != 0 {
		if f := w.fixed("xl_xact_dbinfo", SizeOfXactDbinfo); f != nil {
			p.DbID, p.TsID = xlLE.Uint32(f), xlLE.Uint32(f[4:])
		}
	}
	if p.Xinfo&XactXinfoHasSubxacts != 0 {
		var a []byte
		p.Nsubxacts, a = w.array("xl_xact_subxacts", 4)
		p.Subxacts = Uint32Array(a)
	}
	if p.Xinfo&XactXinfoHasRelfilenodes != 0 {
		var a []byte
		p.Nrels, a = w.array("xl_xact_relfilenodes", SizeOfRelFileNode)
		p.Xnodes = RelFileNodeArray(a)
	}
	if p.Xinfo&XactXinfoHasDroppedStats != 0 {
		var a []byte
		p.Nstats, a = w.array("xl_xact_stats_items", SizeOfXactStatsItem)
		p.Stats = XlXactStatsItems(a)
	}
	if commit && p.Xinfo&XactXinfoHasInvals != 0 {
		var a []byte
		p.Nmsgs, a = w.array("xl_xact_invals", SizeOfSharedInvalMessage)
		p.Msgs = SharedInvalMessages(a)
	}
	if p.Xinfo&XactXinfoHasTwophase != 0 {
		if f := w.fixed("xl_xact_twophase", SizeOfXactTwophase); f != nil {
			p.TwophaseXid = xlLE.Uint32(f)
		}
		if p.Xinfo&XactXinfoHasGID != 0 && w.err == nil {
			// strlcpy into char[GIDSIZE], then past strlen + 1.
			gid, ok := rdCString(w.b, w.off)
			w.off += len(gid) + 1
			if len(gid) >= GIDSize {
				gid = gid[:GIDSize-1]
			}
			p.TwophaseGID = gid
			if !ok {
				w.err = xlBad(name+" twophase_gid", "no terminating NUL")
			}
		}
	}
	if p.Xinfo&XactXinfoHasOrigin != 0 {
		if f := w.fixed("xl_xact_origin", SizeOfXactOrigin); f != nil {
			p.OriginLSN, p.OriginTimestamp = LSN(xlLE.Uint64(f)), TimestampTz(xlLE.Uint64(f[8:]))
		}
	}
	return p, w.err
}

// XlXactPrepare is xl_xact_prepare: the header of PREPARE's main data and
// of a two-phase state file (TwoPhaseFileHeader).
type XlXactPrepare struct {
	Magic           uint32 // TWOPHASE_MAGIC
	TotalLen        uint32 // the state file's length
	Xid             uint32
	Database        uint32
	PreparedAt      TimestampTz
	Owner           uint32
	Nsubxacts       int32
	Ncommitrels     int32
	Nabortrels      int32
	Ncommitstats    int32
	Nabortstats     int32
	Ninvalmsgs      int32
	Initfileinval   bool
	Gidlen          uint16 // the GID's bytes after the header, with its NUL
	OriginLSN       LSN
	OriginTimestamp TimestampTz
}

// DecodeXlXactPrepare decodes the header of PREPARE's main data.
func DecodeXlXactPrepare(b []byte) (XlXactPrepare, error) {
	if len(b) < SizeOfXactPrepare {
		return XlXactPrepare{}, xlShort("xl_xact_prepare", len(b), SizeOfXactPrepare)
	}
	return XlXactPrepare{
		Magic:           xlLE.Uint32(b),
		TotalLen:        xlLE.Uint32(b[4:]),
		Xid:             xlLE.Uint32(b[8:]),
		Database:        xlLE.Uint32(b[12:]),
		PreparedAt:      TimestampTz(xlLE.Uint64(b[16:])),
		Owner:           xlLE.Uint32(b[24:]),
		Nsubxacts:       int32(xlLE.Uint32(b[28:])),
		Ncommitrels:     int32(xlLE.Uint32(b[32:])),
		Nabortrels:      int32(xlLE.Uint32(b[36:])),
		Ncommitstats:    int32(xlLE.Uint32(b[40:])),
		Nabortstats:     int32(xlLE.Uint32(b[44:])),
		Ninvalmsgs:      int32(xlLE.Uint32(b[48:])),
		Initfileinval:   b[52] != 0,
		Gidlen:          xlLE.Uint16(b[54:]),
		OriginLSN:       LSN(xlLE.Uint64(b[56:])),
		OriginTimestamp: TimestampTz(xlLE.Uint64(b[64:])),
	}, nil
}

// ParsePrepareRecord decodes the main data of PREPARE: its header and
// the parts after it, each MAXALIGNed (the GID, the subtransactions, the
// relations dropped on commit and on abort, the statistics dropped on
// commit and on abort, the invalidations). The GID is what strncpy of
// gidlen bytes leaves, up to its first NUL. On an error other than a
// short header, every part that lies in b is set.
func ParsePrepareRecord(b []byte) (XlXactPrepare, XlXactParsedPrepare, error) {
	x, err := DecodeXlXactPrepare(b)
	if err != nil {
		return x, XlXactParsedPrepare{}, err
	}
	p := XlXactParsedPrepare{
		XactTime:        x.PreparedAt,
		OriginLSN:       x.OriginLSN,
		OriginTimestamp: x.OriginTimestamp,
		TwophaseXid:     x.Xid,
		DbID:            x.Database,
		Nsubxacts:       x.Nsubxacts,
		Nrels:           x.Ncommitrels,
		Nabortrels:      x.Nabortrels,
		Nstats:          x.Ncommitstats,
		Nabortstats:     x.Nabortstats,
		Nmsgs:           x.Ninvalmsgs,
	}
	off := SizeOfXactPrepare
	gid := b[off:min(off+int(x.Gidlen), len(b))]
	if off+int(x.Gidlen) > len(b) {
		err = xlShort("xl_xact_prepare gid", len(gid), int(x.Gidlen))
	}
	for i, c := range gid {
		if c == 0 {
			gid = gid[:i]
			break
		}
	}
	p.TwophaseGID = string(gid)
	off += int(MaxAlign(uint64(x.Gidlen)))
	// part returns the whole entries of n of sz bytes at off, at most n,
	// and moves off past the MAXALIGNed array.
	part := func(name string, n int32, sz int) []byte {
		if n < 0 || off < 0 {
			if err == nil {
				err = xlBad("xl_xact_prepare", "%s count %d", name, n)
			}
			off = -1
			return nil
		}
		have := 0
		if off < len(b) {
			have = min(int(n), (len(b)-off)/sz)
		}
		a := b[min(off, len(b)):][:have*sz]
		if have < int(n) && err == nil {
			err = xlArrayShort("xl_xact_prepare "+name, have, int64(n))
		}
		off += int(MaxAlign(uint64(int64(n) * int64(sz))))
		return a
	}
	p.Subxacts = Uint32Array(part("subxacts", x.Nsubxacts, 4))
	p.Xnodes = RelFileNodeArray(part("commitrels", x.Ncommitrels, SizeOfRelFileNode))
	p.Abortnodes = RelFileNodeArray(part("abortrels", x.Nabortrels, SizeOfRelFileNode))
	p.Stats = XlXactStatsItems(part("commitstats", x.Ncommitstats, SizeOfXactStatsItem))
	p.Abortstats = XlXactStatsItems(part("abortstats", x.Nabortstats, SizeOfXactStatsItem))
	p.Msgs = SharedInvalMessages(part("invalmsgs", x.Ninvalmsgs, SizeOfSharedInvalMessage))
	return x, p, err
}

// XlXactAssignment is xl_xact_assignment (ASSIGNMENT): subtransactions
// assigned to a top-level transaction.
type XlXactAssignment struct {
	Xtop      uint32
	Nsubxacts int32
	// Xsub are the ids present, at most Nsubxacts.
	Xsub Uint32Array
}

// DecodeXlXactAssignment decodes the main data of ASSIGNMENT; fewer ids
// than Nsubxacts is not an error here.
func DecodeXlXactAssignment(b []byte) (XlXactAssignment, error) {
	if len(b) < SizeOfXactAssignment {
		return XlXactAssignment{}, xlShort("xl_xact_assignment", len(b), SizeOfXactAssignment)
	}
	n := int32(xlLE.Uint32(b[4:]))
	return XlXactAssignment{Xtop: xlLE.Uint32(b), Nsubxacts: n, Xsub: uint32ArrayOf(b[SizeOfXactAssignment:], int64(n))}, nil
}

// XlXactInvals is xl_xact_invals (INVALIDATIONS).
type XlXactInvals struct {
	Nmsgs int32
	// Msgs are the messages present, at most Nmsgs.
	Msgs SharedInvalMessages
}

// DecodeXlXactInvals decodes the main data of INVALIDATIONS; fewer
// messages than Nmsgs is not an error here.
func DecodeXlXactInvals(b []byte) (XlXactInvals, error) {
	if len(b) < SizeOfXactInvals {
		return XlXactInvals{}, xlShort("xl_xact_invals", len(b), SizeOfXactInvals)
	}
	n := int32(xlLE.Uint32(b))
	return XlXactInvals{Nmsgs: n, Msgs: sharedInvalMessagesOf(b[SizeOfXactInvals:], n)}, nil
}

// sharedInvalMessagesOf returns the whole messages of b, at most n.
func sharedInvalMessagesOf(b []byte, n int32) SharedInvalMessages {
	m := min(max(int(n), 0), len(b)/SizeOfSharedInvalMessage)
	return SharedInvalMessages(b[:m*SizeOfSharedInvalMessage])
}

// xactEnd is a record that ends a transaction, decoded.
type xactEnd struct {
	XlXactParsedCommit
	commit   bool   // COMMIT or COMMIT_PREPARED
	prepared bool   // COMMIT_PREPARED or ABORT_PREPARED
	xid      uint32 // the transaction ended: xl_xid, or the prepared one
}

// parseXactEnd decodes rec when it ends a transaction (COMMIT, ABORT,
// COMMIT_PREPARED, ABORT_PREPARED: ParseCommitRecord or
// ParseAbortRecord) into e; false for other records and on an error. It
// allocates nothing (every shard parses every commit record).
func parseXactEnd(rec *DecodedRecord, e *xactEnd) (bool, error) {
	if rec.xact != nil {
		*e = *rec.xact
		return true, nil
	}
	if rec.Rmgr() != RmgrTransaction {
		return false, nil
	}
	info := rec.Info() & XLRRmgrInfoMask
	*e = xactEnd{xid: rec.Xid()}
	var ok bool
	if e.commit, e.prepared, ok = xactEndOp(info & XLogXactOpMask); !ok {
		return false, nil
	}
	parse := ParseAbortRecord
	if e.commit {
		parse = ParseCommitRecord
	}
	var err error
	e.XlXactParsedCommit, err = parse(info, rec.MainData)
	if err == nil && e.prepared && e.TwophaseXid == 0 {
		err = xlBad("xl_xact_twophase", "no prepared transaction id")
	}
	if err != nil {
		return false, err
	}
	if e.prepared {
		e.xid = e.TwophaseXid
	}
	return true, nil
}
