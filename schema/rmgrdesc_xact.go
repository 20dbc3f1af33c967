package schema

import "fmt"

// Transaction descriptions (xactdesc.c) and the invalidation-message
// listing shared with Standby (standby_desc_invalidations).

// xl_xact_xinfo bits (access/xact.h).
const (
	rdXinfoHasDBInfo       = 1 << 0
	rdXinfoHasSubxacts     = 1 << 1
	rdXinfoHasRelfilenodes = 1 << 2
	rdXinfoHasInvals       = 1 << 3
	rdXinfoHasTwophase     = 1 << 4
	rdXinfoHasOrigin       = 1 << 5
	rdXinfoHasAELocks      = 1 << 6
	rdXinfoHasGID          = 1 << 7
	rdXinfoHasDroppedStats = 1 << 8

	rdXactCompletionApplyFeedback   = 1 << 29
	rdXactCompletionUpdateRelcache  = 1 << 30
	rdXactCompletionForceSyncCommit = 1 << 31
	rdXactHasInfo                   = 0x80
	rdSizeOfInvalMsg                = 16
	rdSizeOfStatsItem               = 12 // kind int, dboid, objoid
	rdSizeOfXactPrepare             = 72 // MAXALIGN(sizeof(xl_xact_prepare))
	rdGIDSize                       = 200
)

// rdXactParsed is xl_xact_parsed_commit / _abort / _prepare: offsets into
// the main data of the variable parts, with their counts.
type rdXactParsed struct {
	xactTime    int64
	xinfo       uint32
	dbID, tsID  uint32
	nsubxacts   int32
	subxacts    int // offset of the xid array
	nrels       int32
	xnodes      int
	nstats      int32
	stats       int
	nmsgs       int32
	msgs        int
	twophaseXid uint32
	gid         string
	nabortrels  int32 // prepare only
	abortnodes  int
	nabortstats int32 // prepare only
	abortstats  int
	originLSN   uint64
	originTime  int64
	short       bool // the data ended before a part ParseCommitRecord reads
}

// rdParseXactCommitAbort is ParseCommitRecord / ParseAbortRecord (they are
// the same walk; abort records never carry invalidations). Arrays are not
// bounds-checked here: the desc helpers check each element.
func rdParseXactCommitAbort(info uint8, rec []byte) rdXactParsed {
	var p rdXactParsed
	if len(rec) < 8 {
		p.short = true
		return p
	}
	p.xactTime = rdI64(rec, 0)
	off := 8
	need := func(n int) bool {
		if off < 0 || off+n > len(rec) {
			p.short = true
			return false
		}
		return true
	}
	if info&rdXactHasInfo != 0 {
		if !need(4) {
			return p
		}
		p.xinfo = rdU32(rec, off)
		off += 4
	}
	if p.xinfo&rdXinfoHasDBInfo != 0 {
		if !need(8) {
			return p
		}
		p.dbID, p.tsID = rdU32(rec, off), rdU32(rec, off+4)
		off += 8
	}
	if p.xinfo&rdXinfoHasSubxacts != 0 {
		if !need(4) {
			return p
		}
		p.nsubxacts = rdI32(rec, off)
		p.subxacts = off + 4
		off += 4 + 4*int(p.nsubxacts)
	}
	if p.xinfo&rdXinfoHasRelfilenodes != 0 {
		if !need(4) {
			return p
		}
		p.nrels = rdI32(rec, off)
		p.xnodes = off + 4
		off += 4 + SizeOfRelFileNode*int(p.nrels)
	}
	if p.xinfo&rdXinfoHasDroppedStats != 0 {
		if !need(4) {
			return p
		}
		p.nstats = rdI32(rec, off)
		p.stats = off + 4
		off += 4 + rdSizeOfStatsItem*int(p.nstats)
	}
	if p.xinfo&rdXinfoHasInvals != 0 {
		if !need(4) {
			return p
		}
		p.nmsgs = rdI32(rec, off)
		p.msgs = off + 4
		off += 4 + rdSizeOfInvalMsg*int(p.nmsgs)
	}
	if p.xinfo&rdXinfoHasTwophase != 0 {
		if !need(4) {
			return p
		}
		p.twophaseXid = rdU32(rec, off)
		off += 4
		if p.xinfo&rdXinfoHasGID != 0 {
			if off < 0 || off >= len(rec) {
				p.short = true
				return p
			}
			gid, ok := rdCString(rec, off)
			if !ok {
				p.short = true
			}
			off += len(gid) + 1
			if len(gid) >= rdGIDSize { // strlcpy into char[GIDSIZE]
				gid = gid[:rdGIDSize-1]
			}
			p.gid = gid
		}
	}
	if p.xinfo&rdXinfoHasOrigin != 0 {
		if !need(16) {
			return p
		}
		p.originLSN = rdU64(rec, off)
		p.originTime = rdI64(rec, off+8)
	}
	return p
}

// rdParseXactPrepare is ParsePrepareRecord: an xl_xact_prepare header
// (72 bytes) followed by MAXALIGNed arrays.
func rdParseXactPrepare(rec []byte) (rdXactParsed, bool) {
	var p rdXactParsed
	if len(rec) < rdSizeOfXactPrepare {
		return p, false
	}
	p.xactTime = rdI64(rec, 16)
	p.originLSN = rdU64(rec, 56)
	p.originTime = rdI64(rec, 64)
	p.twophaseXid = rdU32(rec, 8)
	p.dbID = rdU32(rec, 12)
	p.nsubxacts = rdI32(rec, 28)
	p.nrels = rdI32(rec, 32)
	p.nabortrels = rdI32(rec, 36)
	p.nstats = rdI32(rec, 40)
	p.nabortstats = rdI32(rec, 44)
	p.nmsgs = rdI32(rec, 48)
	gidlen := int(rdU16(rec, 54))

	off := rdSizeOfXactPrepare
	// strncpy(gid, bufptr, gidlen), then printed with %s: up to the first
	// NUL within gidlen bytes.
	end := off + gidlen
	if end > len(rec) {
		end = len(rec)
		p.short = true
	}
	g := rec[off:end]
	for i, c := range g {
		if c == 0 {
			g = g[:i]
			break
		}
	}
	p.gid = string(g)
	maxalign := func(n int) int { return int(MaxAlign(uint64(n))) }
	off += maxalign(gidlen)
	p.subxacts = off
	off += maxalign(int(p.nsubxacts) * 4)
	p.xnodes = off
	off += maxalign(int(p.nrels) * SizeOfRelFileNode)
	p.abortnodes = off
	off += maxalign(int(p.nabortrels) * SizeOfRelFileNode)
	p.stats = off
	off += maxalign(int(p.nstats) * rdSizeOfStatsItem)
	p.abortstats = off
	off += maxalign(int(p.nabortstats) * rdSizeOfStatsItem)
	p.msgs = off
	return p, true
}

// rdInRange reports whether n items of size sz starting at off lie in rec.
func rdInRange(rec []byte, off, i, sz int) bool {
	s := off + i*sz
	return off >= 0 && s >= off && s+sz <= len(rec)
}

// rdAppendXactRelations is xact_desc_relations; ok is false if the array ran
// past the data (the marker has then been appended).
func rdAppendXactRelations(b []byte, label string, rec []byte, n int32, off int) ([]byte, bool) {
	if n <= 0 {
		return b, true
	}
	b = fmt.Appendf(b, "; %s:", label)
	for i := 0; i < int(n); i++ {
		if !rdInRange(rec, off, i, SizeOfRelFileNode) {
			return rdTruncated(b), false
		}
		b = append(b, ' ')
		b = rdAppendRelPathPerm(b, rdRel(rec, off+i*SizeOfRelFileNode), MainForkNum)
	}
	return b, true
}

// rdAppendXactSubxacts is xact_desc_subxacts.
func rdAppendXactSubxacts(b []byte, rec []byte, n int32, off int) ([]byte, bool) {
	if n <= 0 {
		return b, true
	}
	b = append(b, "; subxacts:"...)
	for i := 0; i < int(n); i++ {
		if !rdInRange(rec, off, i, 4) {
			return rdTruncated(b), false
		}
		b = fmt.Appendf(b, " %d", rdU32(rec, off+4*i))
	}
	return b, true
}

// rdAppendXactStats is xact_desc_stats.
func rdAppendXactStats(b []byte, label string, rec []byte, n int32, off int) ([]byte, bool) {
	if n <= 0 {
		return b, true
	}
	b = fmt.Appendf(b, "; %sdropped stats:", label)
	for i := 0; i < int(n); i++ {
		if !rdInRange(rec, off, i, rdSizeOfStatsItem) {
			return rdTruncated(b), false
		}
		o := off + i*rdSizeOfStatsItem
		b = fmt.Appendf(b, " %d/%d/%d", rdI32(rec, o), rdU32(rec, o+4), rdU32(rec, o+8))
	}
	return b, true
}

// rdAppendInvalidations is standby_desc_invalidations: nmsgs 16-byte
// SharedInvalidationMessages at off in rec.
func rdAppendInvalidations(b []byte, rec []byte, nmsgs int32, off int, dbID, tsID uint32, relcacheInitFileInval bool) ([]byte, bool) {
	if nmsgs <= 0 {
		return b, true
	}
	if relcacheInitFileInval {
		b = fmt.Appendf(b, "; relcache init file inval dbid %d tsid %d", dbID, tsID)
	}
	b = append(b, "; inval msgs:"...)
	for i := 0; i < int(nmsgs); i++ {
		if !rdInRange(rec, off, i, rdSizeOfInvalMsg) {
			return rdTruncated(b), false
		}
		m := rec[off+i*rdSizeOfInvalMsg:]
		switch id := int8(m[0]); {
		case id >= 0:
			b = fmt.Appendf(b, " catcache %d", id)
		case id == -1: // SHAREDINVALCATALOG_ID
			b = fmt.Appendf(b, " catalog %d", rdU32(m, 8))
		case id == -2: // SHAREDINVALRELCACHE_ID
			b = fmt.Appendf(b, " relcache %d", rdU32(m, 8))
		case id == -3: // SHAREDINVALSMGR_ID
			b = append(b, " smgr"...)
		case id == -4: // SHAREDINVALRELMAP_ID
			b = fmt.Appendf(b, " relmap db %d", rdU32(m, 4))
		case id == -5: // SHAREDINVALSNAPSHOT_ID
			b = fmt.Appendf(b, " snapshot %d", rdU32(m, 8))
		default:
			b = fmt.Appendf(b, " unrecognized id %d", id)
		}
	}
	return b, true
}

func (d *descCtx) appendOrigin(b []byte, origin uint16, lsn uint64, ts int64) []byte {
	b = fmt.Appendf(b, "; origin: node %d, lsn %s, at ", origin, LSN(lsn).Short())
	return rdAppendTimestamptz(b, ts, d.loc)
}

func (d *descCtx) xact(b []byte) []byte {
	rec := d.data
	switch d.info & 0x70 { // XLOG_XACT_OPMASK
	case 0x00, 0x30: // COMMIT, COMMIT_PREPARED
		return d.xactCommit(b, rec)
	case 0x20, 0x40: // ABORT, ABORT_PREPARED
		return d.xactAbort(b, rec)
	case 0x10: // PREPARE
		return d.xactPrepare(b, rec)
	case 0x50: // ASSIGNMENT: xtop, nsubxacts, xsub[]
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "xtop %d: ", rdU32(rec, 0))
		b = append(b, "subxacts:"...)
		n := rdI32(rec, 4)
		for i := 0; i < int(n); i++ {
			if !rdInRange(rec, 8, i, 4) {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " %d", rdU32(rec, 8+4*i))
		}
	case 0x60: // INVALIDATIONS: nmsgs, msgs[]
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b, _ = rdAppendInvalidations(b, rec, rdI32(rec, 0), 4, 0, 0, false)
	}
	return b
}

func (d *descCtx) xactCommit(b []byte, rec []byte) []byte {
	p := rdParseXactCommitAbort(d.info, rec)
	if len(rec) < 8 {
		return rdTruncated(b)
	}
	if p.twophaseXid != 0 {
		b = fmt.Appendf(b, "%d: ", p.twophaseXid)
	}
	b = rdAppendTimestamptz(b, p.xactTime, d.loc)
	var ok bool
	if b, ok = rdAppendXactRelations(b, "rels", rec, p.nrels, p.xnodes); !ok {
		return b
	}
	if b, ok = rdAppendXactSubxacts(b, rec, p.nsubxacts, p.subxacts); !ok {
		return b
	}
	if b, ok = rdAppendXactStats(b, "", rec, p.nstats, p.stats); !ok {
		return b
	}
	if b, ok = rdAppendInvalidations(b, rec, p.nmsgs, p.msgs, p.dbID, p.tsID,
		p.xinfo&rdXactCompletionUpdateRelcache != 0); !ok {
		return b
	}
	if p.xinfo&rdXactCompletionApplyFeedback != 0 {
		b = append(b, "; apply_feedback"...)
	}
	if p.xinfo&rdXactCompletionForceSyncCommit != 0 {
		b = append(b, "; sync"...)
	}
	if p.short {
		return rdTruncated(b)
	}
	if p.xinfo&rdXinfoHasOrigin != 0 {
		b = d.appendOrigin(b, d.r.Origin, p.originLSN, p.originTime)
	}
	return b
}

// xactAbort prints, unlike commit, the origin before the dropped stats.
func (d *descCtx) xactAbort(b []byte, rec []byte) []byte {
	p := rdParseXactCommitAbort(d.info, rec)
	if len(rec) < 8 {
		return rdTruncated(b)
	}
	if p.twophaseXid != 0 {
		b = fmt.Appendf(b, "%d: ", p.twophaseXid)
	}
	b = rdAppendTimestamptz(b, p.xactTime, d.loc)
	var ok bool
	if b, ok = rdAppendXactRelations(b, "rels", rec, p.nrels, p.xnodes); !ok {
		return b
	}
	if b, ok = rdAppendXactSubxacts(b, rec, p.nsubxacts, p.subxacts); !ok {
		return b
	}
	if p.xinfo&rdXinfoHasOrigin != 0 && !p.short {
		b = d.appendOrigin(b, d.r.Origin, p.originLSN, p.originTime)
	}
	if b, ok = rdAppendXactStats(b, "", rec, p.nstats, p.stats); !ok {
		return b
	}
	if p.short {
		return rdTruncated(b)
	}
	return b
}

func (d *descCtx) xactPrepare(b []byte, rec []byte) []byte {
	p, ok := rdParseXactPrepare(rec)
	if !ok {
		return rdTruncated(b)
	}
	b = fmt.Appendf(b, "gid %s: ", p.gid)
	b = rdAppendTimestamptz(b, p.xactTime, d.loc)
	if b, ok = rdAppendXactRelations(b, "rels(commit)", rec, p.nrels, p.xnodes); !ok {
		return b
	}
	if b, ok = rdAppendXactRelations(b, "rels(abort)", rec, p.nabortrels, p.abortnodes); !ok {
		return b
	}
	if b, ok = rdAppendXactStats(b, "commit ", rec, p.nstats, p.stats); !ok {
		return b
	}
	if b, ok = rdAppendXactStats(b, "abort ", rec, p.nabortstats, p.abortstats); !ok {
		return b
	}
	if b, ok = rdAppendXactSubxacts(b, rec, p.nsubxacts, p.subxacts); !ok {
		return b
	}
	if b, ok = rdAppendInvalidations(b, rec, p.nmsgs, p.msgs, p.dbID, p.tsID, rec[52] != 0); !ok {
		return b
	}
	// Printed when the record has an origin, as PrepareRedoAdd decides.
	if d.r.Origin != 0 {
		b = d.appendOrigin(b, d.r.Origin, p.originLSN, p.originTime)
	}
	if p.short {
		return rdTruncated(b)
	}
	return b
}
