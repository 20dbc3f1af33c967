package schema

import (
	"encoding/binary"
	"fmt"
)

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

// Opcodes (storage_xlog.h, xact.h, dbcommands_xlog.h).
const (
	smgrCreateOp         = 0x10
	smgrTruncateOp       = 0x20
	xactOpMask           = 0x70
	xactCommitOp         = 0x00
	xactAbortOp          = 0x20
	xactCommitPreparedOp = 0x30
	xactAbortPreparedOp  = 0x40
	dbaseCreateFileCopy  = 0x00
	dbaseDropOp          = 0x20
)

// RelChangeOf returns the relation-level change rec makes, or nil.
func RelChangeOf(rec *DecodedRecord) (*RelChange, error) {
	md := rec.MainData
	le := binary.LittleEndian
	info := rec.Info() & XLRRmgrInfoMask
	short := func(what string) error {
		return &DecodeError{LSN: rec.LSN, Reason: fmt.Sprintf("%s: main data of %d bytes is short", what, len(md))}
	}
	rnode := func(b []byte) RelFileNode {
		return RelFileNode{SpcNode: le.Uint32(b[0:]), DbNode: le.Uint32(b[4:]), RelNode: le.Uint32(b[8:])}
	}
	switch rec.Rmgr() {
	case RmgrStorage:
		switch info {
		case smgrCreateOp: // xl_smgr_create: RelFileNode rnode, ForkNumber forkNum
			if len(md) < SizeOfRelFileNode+4 {
				return nil, short("smgr create")
			}
			return &RelChange{Kind: RelCreate, Rel: rnode(md), Fork: ForkNumber(le.Uint32(md[SizeOfRelFileNode:]))}, nil
		case smgrTruncateOp: // xl_smgr_truncate: BlockNumber blkno, RelFileNode rnode, int flags
			if len(md) < 4+SizeOfRelFileNode+4 {
				return nil, short("smgr truncate")
			}
			flags := le.Uint32(md[16:])
			return &RelChange{Kind: RelTruncate, Rel: rnode(md[4:]), Blocks: BlockNumber(le.Uint32(md)),
				TruncMain: flags&0x01 != 0, TruncVM: flags&0x02 != 0, TruncFSM: flags&0x04 != 0}, nil
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
			return nil, short("transaction end with dropped relations")
		}
		c := &RelChange{Kind: RelDrop}
		for i := 0; i < int(p.nrels); i++ {
			c.Rels = append(c.Rels, rnode(md[p.xnodes+i*SizeOfRelFileNode:]))
		}
		return c, nil
	case RmgrDatabase:
		switch info {
		case dbaseCreateFileCopy: // db_id, tablespace_id, src_db_id, src_tablespace_id
			if len(md) < 16 {
				return nil, short("database copy")
			}
			return &RelChange{Kind: DBCopy, DB: le.Uint32(md), Spc: le.Uint32(md[4:]), SrcDB: le.Uint32(md[8:]), SrcSpc: le.Uint32(md[12:])}, nil
		case dbaseDropOp: // db_id, ntablespaces, tablespace_ids[]
			if len(md) < 8 {
				return nil, short("database drop")
			}
			n := int(int32(le.Uint32(md[4:])))
			if n < 0 || 8+4*n > len(md) {
				return nil, short("database drop")
			}
			c := &RelChange{Kind: DBDrop, DB: le.Uint32(md)}
			for i := 0; i < n; i++ {
				c.Spcs = append(c.Spcs, le.Uint32(md[8+4*i:]))
			}
			return c, nil
		}
	}
	return nil, nil
}
