package schema

// RelChange is a relation-level change a record makes outside any page:
// what the page store must know besides page contents. It mirrors what
// redo does to files: smgr_redo (create, truncate), the relation drops at
// transaction end (xact_redo_commit / xact_redo_abort → DropRelationFiles)
// and dbase_redo (copy and drop of a database directory).
type RelChange struct {
	Kind RelChangeKind
	// Create: Rel and Fork. Truncate: Rel, Blocks (new main-fork size)
	// and which forks (TruncMain, TruncFSM, TruncVM).
	Rel                          RelFileNode
	Fork                         ForkNumber
	Blocks                       BlockNumber
	TruncMain, TruncFSM, TruncVM bool
	// Drop: the relations whose files are removed (every fork).
	Rels []RelFileNode
	// CopyDB: database DB in tablespace Spc is created as a copy of
	// SrcDB in SrcSpc. DropDB: DB is removed from the tablespaces Spcs.
	DB, Spc, SrcDB, SrcSpc uint32
	Spcs                   []uint32
}

// RelChangeKind says what a RelChange does.
type RelChangeKind int

const (
	RelCreate RelChangeKind = iota + 1
	RelTruncate
	RelDrop
	DBCopy
	DBDrop
)

// RelChangeOf returns the relation-level change rec makes, or nil.
func RelChangeOf(rec *DecodedRecord) (*RelChange, error) {
	c, err := relChangeOf(rec)
	if err != nil {
		return nil, &DecodeError{LSN: rec.LSN, Reason: RecordTypeName(rec.Rmgr(), rec.Info()), Err: err}
	}
	return c, nil
}

// MayChangeRelations is a cheap test before RelChangeOf: false for the
// transaction ends whose xl_xact_xinfo names no dropped relation (most of
// them, and every redo shard looks at each one) and for records of other
// kinds than RelChangeOf knows. A malformed transaction end may get false
// where RelChangeOf would report it; the transaction index reports those.
func MayChangeRelations(rec *DecodedRecord) bool {
	switch rec.Rmgr() {
	case RmgrStorage, RmgrDatabase:
		return true
	case RmgrTransaction:
		info := rec.Info() & XLRRmgrInfoMask
		if _, _, end := xactEndOp(info & XLogXactOpMask); !end {
			return false
		}
		return xactXinfo(info, rec.MainData)&XactXinfoHasRelfilenodes != 0
	}
	return false
}

// relChangeOf is RelChangeOf; the change is not to be used on an error.
func relChangeOf(rec *DecodedRecord) (*RelChange, error) {
	md := rec.MainData
	switch rmid, info := rec.Rmgr(), rec.Info()&XLRRmgrInfoMask; {
	case rmid == RmgrStorage && info == XLogSmgrCreate:
		xl, err := DecodeXlSmgrCreate(md)
		return &RelChange{Kind: RelCreate, Rel: xl.Rnode, Fork: xl.ForkNum}, err
	case rmid == RmgrStorage && info == XLogSmgrTruncate:
		xl, err := DecodeXlSmgrTruncate(md)
		return &RelChange{Kind: RelTruncate, Rel: xl.Rnode, Blocks: xl.Blkno,
			TruncMain: xl.Flags&SmgrTruncateHeap != 0, TruncVM: xl.Flags&SmgrTruncateVM != 0, TruncFSM: xl.Flags&SmgrTruncateFSM != 0}, err
	case rmid == RmgrTransaction:
		// The relations dropped at commit or abort (DropRelationFiles).
		var p xactEnd
		if ok, err := parseXactEnd(rec, &p); !ok || p.Xnodes.Len() == 0 {
			return nil, err
		}
		c := &RelChange{Kind: RelDrop, Rels: make([]RelFileNode, p.Xnodes.Len())}
		for i := range c.Rels {
			c.Rels[i] = p.Xnodes.At(i)
		}
		return c, nil
	case rmid == RmgrDatabase && info == XLogDbaseCreateFileCopy:
		xl, err := DecodeXlDbaseCreateFileCopyRec(md)
		return &RelChange{Kind: DBCopy, DB: xl.DbID, Spc: xl.TablespaceID, SrcDB: xl.SrcDbID, SrcSpc: xl.SrcTablespaceID}, err
	case rmid == RmgrDatabase && info == XLogDbaseDrop:
		xl, err := DecodeXlDbaseDropRec(md)
		if err == nil {
			err = xl.Complete()
		}
		c := &RelChange{Kind: DBDrop, DB: xl.DbID}
		for i := 0; i < xl.TablespaceIDs.Len(); i++ {
			c.Spcs = append(c.Spcs, xl.TablespaceIDs.At(i))
		}
		return c, err
	}
	return nil, nil
}
