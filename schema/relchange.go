package schema

import "fmt"

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

// Transaction opcodes (xact.h), until Transaction records are decoded in
// one place too.
const (
	xactOpMask           = 0x70
	xactCommitOp         = 0x00
	xactAbortOp          = 0x20
	xactCommitPreparedOp = 0x30
	xactAbortPreparedOp  = 0x40
)

// RelChangeOf returns the relation-level change rec makes, or nil.
func RelChangeOf(rec *DecodedRecord) (*RelChange, error) {
	md := rec.MainData
	info := rec.Info() & XLRRmgrInfoMask
	bad := func(what string, err error) error {
		return &DecodeError{LSN: rec.LSN, Reason: fmt.Sprintf("%s: %v", what, err)}
	}
	switch rec.Rmgr() {
	case RmgrStorage:
		switch info {
		case XLogSmgrCreate:
			xl, err := DecodeXlSmgrCreate(md)
			if err != nil {
				return nil, bad("smgr create", err)
			}
			return &RelChange{Kind: RelCreate, Rel: xl.Rnode, Fork: xl.ForkNum}, nil
		case XLogSmgrTruncate:
			xl, err := DecodeXlSmgrTruncate(md)
			if err != nil {
				return nil, bad("smgr truncate", err)
			}
			return &RelChange{Kind: RelTruncate, Rel: xl.Rnode, Blocks: xl.Blkno,
				TruncMain: xl.Flags&SmgrTruncateHeap != 0, TruncVM: xl.Flags&SmgrTruncateVM != 0, TruncFSM: xl.Flags&SmgrTruncateFSM != 0}, nil
		}
	case RmgrTransaction:
		op := rec.Info() & xactOpMask
		if op != xactCommitOp && op != xactAbortOp && op != xactCommitPreparedOp && op != xactAbortPreparedOp {
			return nil, nil
		}
		p := rdParseXactCommitAbort(rec.Info(), md)
		if p.xinfo&rdXinfoHasRelfilenodes == 0 || p.nrels <= 0 {
			return nil, nil
		}
		if p.xnodes+int(p.nrels)*SizeOfRelFileNode > len(md) || p.nrels > 1<<20 {
			return nil, &DecodeError{LSN: rec.LSN, Reason: fmt.Sprintf("transaction end with dropped relations: main data of %d bytes is short", len(md))}
		}
		c := &RelChange{Kind: RelDrop}
		for i := 0; i < int(p.nrels); i++ {
			c.Rels = append(c.Rels, xlRel(md[p.xnodes+i*SizeOfRelFileNode:]))
		}
		return c, nil
	case RmgrDatabase:
		switch info {
		case XLogDbaseCreateFileCopy:
			xl, err := DecodeXlDbaseCreateFileCopyRec(md)
			if err != nil {
				return nil, bad("database copy", err)
			}
			return &RelChange{Kind: DBCopy, DB: xl.DbID, Spc: xl.TablespaceID, SrcDB: xl.SrcDbID, SrcSpc: xl.SrcTablespaceID}, nil
		case XLogDbaseDrop:
			xl, err := DecodeXlDbaseDropRec(md)
			if err == nil {
				err = xl.Complete()
			}
			if err != nil {
				return nil, bad("database drop", err)
			}
			c := &RelChange{Kind: DBDrop, DB: xl.DbID}
			for i := 0; i < xl.TablespaceIDs.Len(); i++ {
				c.Spcs = append(c.Spcs, xl.TablespaceIDs.At(i))
			}
			return c, nil
		}
	}
	return nil, nil
}
