package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// Auxiliary pages: state PostgreSQL keeps outside relation files that a
// data directory needs — the commit log (pg_xact), the multixact offsets
// and members SLRUs, and the relation maps (pg_filenode.map). pagemill
// keeps each as pages of a pseudo relation, so they are versioned by LSN,
// sharded, retained, garbage-collected and rebuilt exactly like relation
// pages. Pseudo relations never collide with real ones: no tablespace has
// OID 0 and no relation has relfilenode 0.
const (
	// AuxSpcNode is the tablespace of the SLRU pseudo relations.
	AuxSpcNode = 0
	// AuxRelXact is pg_xact: block n is SLRU page n (CLOG_XACTS_PER_PAGE
	// transactions, two status bits each).
	AuxRelXact = 1
	// AuxRelMultiXactOffsets is pg_multixact/offsets.
	AuxRelMultiXactOffsets = 2
	// AuxRelMultiXactMembers is pg_multixact/members.
	AuxRelMultiXactMembers = 3
)

// Tablespaces of the data directory's own locations (pg_tablespace.dat).
const (
	DefaultTablespaceOID = 1663 // pg_default: base/
	GlobalTablespaceOID  = 1664 // pg_global: global/
)

// SLRU geometry (slru.h, clog.c, multixact.c).
const (
	SlruPagesPerSegment     = 32
	ClogXactsPerPage        = BLCKSZ * 4
	MultiXactOffsetsPerPage = BLCKSZ / 4
	multiXactMemberGroup    = 4*4 + 4 // four xids and four flag bytes
	multiXactGroupsPerPage  = BLCKSZ / multiXactMemberGroup
	MultiXactMembersPerPage = multiXactGroupsPerPage * 4
	// RelMapFileSize is sizeof(RelMapFile), the size of pg_filenode.map.
	RelMapFileSize = 512
)

// Transaction status bits in pg_xact (clog.h).
const (
	XactStatusInProgress  = 0
	XactStatusCommitted   = 1
	XactStatusAborted     = 2
	XactStatusSubCommited = 3
)

// SlruTag is page pageno of the SLRU pseudo relation rel (AuxRelXact, …).
func SlruTag(rel uint32, pageno uint32) BufferTag {
	return BufferTag{Rel: RelFileNode{SpcNode: AuxSpcNode, RelNode: rel}, Fork: MainForkNum, Block: BlockNumber(pageno)}
}

// RelMapTag is the page holding the relation map of database db in
// tablespace spc (db 0, spc pg_global: the shared map) in its first
// RelMapFileSize bytes.
func RelMapTag(spc, db uint32) BufferTag {
	return BufferTag{Rel: RelFileNode{SpcNode: spc, DbNode: db}, Fork: MainForkNum}
}

// IsAuxRel reports whether rel is a pseudo relation.
func IsAuxRel(rel RelFileNode) bool { return rel.SpcNode == AuxSpcNode || rel.RelNode == 0 }

// IsRelMap reports whether rel is a relation-map pseudo relation.
func IsRelMap(rel RelFileNode) bool { return rel.SpcNode != AuxSpcNode && rel.RelNode == 0 }

// SlruDir is the directory of an SLRU pseudo relation in a data directory.
func SlruDir(rel uint32) (string, bool) {
	switch rel {
	case AuxRelXact:
		return "pg_xact", true
	case AuxRelMultiXactOffsets:
		return "pg_multixact/offsets", true
	case AuxRelMultiXactMembers:
		return "pg_multixact/members", true
	}
	return "", false
}

// SlruSegmentName is the file name of SLRU segment segno (slru.c
// SlruFileName: at least four upper-case hex digits).
func SlruSegmentName(segno uint32) string { return fmt.Sprintf("%04X", segno) }

// XactTree is the transactions a commit or abort record ends: the
// top-level transaction and its subtransactions.
type XactTree struct {
	Xid     uint32
	Subxids []uint32
	Status  uint8 // XactStatusCommitted or XactStatusAborted
}

// XactTreeOf returns the transactions rec ends (Transaction COMMIT, ABORT,
// COMMIT_PREPARED, ABORT_PREPARED), as xact_redo reads them; nil for
// other records.
func XactTreeOf(rec *DecodedRecord) (*XactTree, error) {
	t := &XactTree{}
	if ok, err := XactTreeInto(t, rec); !ok {
		return nil, err
	}
	return t, nil
}

// XactTreeInto is XactTreeOf into t, reusing t.Subxids: false (and t's
// contents undefined) for other records and on an error. A tree on the
// caller's stack makes it allocate nothing for a transaction without
// subtransactions.
func XactTreeInto(t *XactTree, rec *DecodedRecord) (bool, error) {
	var p xactEnd
	if ok, err := parseXactEnd(rec, &p); !ok {
		return false, recordErr(rec, err)
	}
	t.Xid, t.Status, t.Subxids = p.xid, XactStatusAborted, t.Subxids[:0]
	if p.commit {
		t.Status = XactStatusCommitted
	}
	for i := 0; i < p.Subxacts.Len(); i++ {
		t.Subxids = append(t.Subxids, p.Subxacts.At(i))
	}
	return true, nil
}

// MultiXactMember is one member of a multixact.
type MultiXactMember struct {
	Xid    uint32
	Status uint32
}

// decodeMultiXactCreate decodes the main data of a CREATE_ID record
// whose members are all there.
func decodeMultiXactCreate(b []byte) (XlMultixactCreate, error) {
	x, err := DecodeXlMultixactCreate(b)
	if err == nil {
		err = x.Complete()
	}
	return x, err
}

// MultiXactCreateOf decodes a MultiXact CREATE_ID record whose members
// are all there.
func MultiXactCreateOf(rec *DecodedRecord) (XlMultixactCreate, error) {
	x, err := decodeMultiXactCreate(rec.MainData)
	if err != nil {
		return XlMultixactCreate{}, recordErr(rec, err)
	}
	return x, nil
}

// NextMulti is the multixact after mid, skipping InvalidMultiXactId.
func NextMulti(mid uint32) uint32 {
	if mid+1 == 0 {
		return 1
	}
	return mid + 1
}

// RelMapUpdateOf decodes a RelMap UPDATE record and its map data.
func RelMapUpdateOf(rec *DecodedRecord) (XlRelmapUpdate, []byte, error) {
	x, err := DecodeXlRelmapUpdate(rec.MainData)
	if err != nil {
		return XlRelmapUpdate{}, nil, recordErr(rec, err)
	}
	data, err := x.Data()
	if err != nil {
		return XlRelmapUpdate{}, nil, recordErr(rec, err)
	}
	return x, data, nil
}

// SlruPageNo reads the page number of a CLOG ZEROPAGE or MultiXact
// ZERO_OFF_PAGE / ZERO_MEM_PAGE record, or the pageno that starts a CLOG
// TRUNCATE's xl_clog_truncate.
func SlruPageNo(rec *DecodedRecord) (uint32, error) {
	pageno, err := DecodeSlruPageno(rec.MainData)
	if err != nil {
		return 0, recordErr(rec, err)
	}
	return uint32(pageno), nil
}

// AuxOp says what a record does to the auxiliary pages it names.
type AuxOp int

const (
	AuxNone AuxOp = iota
	AuxXactStatus
	AuxZeroPage
	AuxMultiXactCreate
	AuxRelMap
)

// AuxOpOf classifies rec.
func AuxOpOf(rec *DecodedRecord) AuxOp {
	info := rec.Info() & XLRRmgrInfoMask
	switch rec.Rmgr() {
	case RmgrTransaction:
		if _, _, ok := xactEndOp(info & XLogXactOpMask); ok {
			return AuxXactStatus
		}
	case RmgrCLOG:
		if info == ClogZeropage {
			return AuxZeroPage
		}
	case RmgrMultiXact:
		switch info {
		case XLogMultixactZeroOffPage, XLogMultixactZeroMemPage:
			return AuxZeroPage
		case XLogMultixactCreateID:
			return AuxMultiXactCreate
		}
	case RmgrRelMap:
		if info == XLogRelmapUpdate {
			return AuxRelMap
		}
	}
	return AuxNone
}

// AuxPages appends to dst the auxiliary pages rec changes: the pg_xact
// pages of the transactions a commit or abort ends, the page a zero-page
// record creates, the offsets and members pages of a new multixact, the
// relation map a RelMap record rewrites. Malformed records change none
// (their redo reports the error).
func AuxPages(dst []BufferTag, rec *DecodedRecord) []BufferTag {
	add := func(t BufferTag) {
		for _, have := range dst {
			if have == t {
				return
			}
		}
		dst = append(dst, t)
	}
	switch AuxOpOf(rec) {
	case AuxXactStatus:
		var p xactEnd
		if ok, _ := parseXactEnd(rec, &p); !ok {
			return dst
		}
		add(SlruTag(AuxRelXact, p.xid/ClogXactsPerPage))
		for i := 0; i < p.Subxacts.Len(); i++ {
			add(SlruTag(AuxRelXact, p.Subxacts.At(i)/ClogXactsPerPage))
		}
	case AuxZeroPage:
		pageno, err := SlruPageNo(rec)
		if err != nil {
			return dst
		}
		rel := uint32(AuxRelXact)
		if rec.Rmgr() == RmgrMultiXact {
			rel = AuxRelMultiXactOffsets
			if rec.Info()&XLRRmgrInfoMask == XLogMultixactZeroMemPage {
				rel = AuxRelMultiXactMembers
			}
		}
		add(SlruTag(rel, pageno))
	case AuxMultiXactCreate:
		c, err := MultiXactCreateOf(rec)
		if err != nil {
			return dst
		}
		add(SlruTag(AuxRelMultiXactOffsets, c.Mid/MultiXactOffsetsPerPage))
		add(SlruTag(AuxRelMultiXactOffsets, NextMulti(c.Mid)/MultiXactOffsetsPerPage))
		off := c.Moff
		for range c.Members.Len() {
			add(SlruTag(AuxRelMultiXactMembers, off/MultiXactMembersPerPage))
			off++
		}
	case AuxRelMap:
		u, _, err := RelMapUpdateOf(rec)
		if err != nil {
			return dst
		}
		add(RelMapTag(u.Tsid, u.Dbid))
	}
	return dst
}

// MultiXactMemberOffsets returns where member offset off lives in its
// members page: the flag word's byte offset, the flag's bit shift in it,
// and the xid's byte offset (multixact.c MXOffsetToFlagsOffset,
// MXOffsetToFlagsBitShift, MXOffsetToMemberOffset).
func MultiXactMemberOffsets(off uint32) (flags int, shift uint, xid int) {
	flags = int((off/4)%multiXactGroupsPerPage) * multiXactMemberGroup
	shift = uint(off%4) * 8
	xid = flags + 4 + int(off%4)*4
	return
}

// AuxFile maps a data directory file that holds auxiliary pages to the
// tag of its first page: an SLRU segment (pg_xact/0000, …) or a relation
// map (global/pg_filenode.map, base/DB/pg_filenode.map,
// pg_tblspc/SPC/PG_15_…/DB/pg_filenode.map).
func AuxFile(path string) (BufferTag, bool) {
	dir, name := path, ""
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, name = path[:i], path[i+1:]
	}
	for _, rel := range []uint32{AuxRelXact, AuxRelMultiXactOffsets, AuxRelMultiXactMembers} {
		if d, _ := SlruDir(rel); d == dir {
			seg, err := strconv.ParseUint(name, 16, 32)
			if err != nil || len(name) < 4 || len(name) > 6 || strings.ToUpper(name) != name {
				return BufferTag{}, false
			}
			return SlruTag(rel, uint32(seg)*SlruPagesPerSegment), true
		}
	}
	if name != "pg_filenode.map" {
		return BufferTag{}, false
	}
	if dir == "global" {
		return RelMapTag(GlobalTablespaceOID, 0), true
	}
	parts := strings.Split(dir, "/")
	var spc, db uint64
	var err1, err2 error
	switch {
	case len(parts) == 2 && parts[0] == "base":
		spc, err1 = DefaultTablespaceOID, nil
		db, err2 = strconv.ParseUint(parts[1], 10, 32)
	case len(parts) == 4 && parts[0] == "pg_tblspc":
		spc, err1 = strconv.ParseUint(parts[1], 10, 32)
		db, err2 = strconv.ParseUint(parts[3], 10, 32)
	default:
		return BufferTag{}, false
	}
	if err1 != nil || err2 != nil {
		return BufferTag{}, false
	}
	return RelMapTag(uint32(spc), uint32(db)), true
}
