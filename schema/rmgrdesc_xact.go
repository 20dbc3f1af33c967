package schema

import "fmt"

// Transaction descriptions (xactdesc.c) and the invalidation-message
// listing shared with Standby (standby_desc_invalidations). The records
// are decoded by xactxlog.go.

// rdAppendXactRelations is xact_desc_relations.
func rdAppendXactRelations(b []byte, head string, n int32, a RelFileNodeArray) ([]byte, bool) {
	return rdAppendArray(b, head, n, a.Len(), func(b []byte, i int) []byte {
		return rdAppendRelPathPerm(append(b, ' '), a.At(i), MainForkNum)
	})
}

// rdAppendXactSubxacts is xact_desc_subxacts (head "; subxacts:").
func rdAppendXactSubxacts(b []byte, head string, n int32, a Uint32Array) ([]byte, bool) {
	return rdAppendArray(b, head, n, a.Len(), func(b []byte, i int) []byte {
		return fmt.Appendf(b, " %d", a.At(i))
	})
}

// rdAppendXactStats is xact_desc_stats.
func rdAppendXactStats(b []byte, head string, n int32, a XlXactStatsItems) ([]byte, bool) {
	return rdAppendArray(b, head, n, a.Len(), func(b []byte, i int) []byte {
		s := a.At(i)
		return fmt.Appendf(b, " %d/%d/%d", s.Kind, s.Dboid, s.Objoid)
	})
}

// rdAppendInvalidations is standby_desc_invalidations.
func rdAppendInvalidations(b []byte, n int32, msgs SharedInvalMessages, dbID, tsID uint32, relcacheInitFileInval bool) ([]byte, bool) {
	if n > 0 && relcacheInitFileInval {
		b = fmt.Appendf(b, "; relcache init file inval dbid %d tsid %d", dbID, tsID)
	}
	return rdAppendArray(b, "; inval msgs:", n, msgs.Len(), func(b []byte, i int) []byte {
		switch m := msgs.At(i); {
		case m.ID >= 0:
			return fmt.Appendf(b, " catcache %d", m.ID)
		case m.ID == SharedInvalCatalogID:
			return fmt.Appendf(b, " catalog %d", m.ObjID)
		case m.ID == SharedInvalRelcacheID:
			return fmt.Appendf(b, " relcache %d", m.ObjID)
		case m.ID == SharedInvalSmgrID:
			return append(b, " smgr"...)
		case m.ID == SharedInvalRelmapID:
			return fmt.Appendf(b, " relmap db %d", m.DbID)
		case m.ID == SharedInvalSnapshotID:
			return fmt.Appendf(b, " snapshot %d", m.ObjID)
		default:
			return fmt.Appendf(b, " unrecognized id %d", m.ID)
		}
	})
}

func (d *descCtx) appendOrigin(b []byte, p *XlXactParsedCommit) []byte {
	b = fmt.Appendf(b, "; origin: node %d, lsn %s, at ", d.r.Origin, p.OriginLSN.Short())
	return rdAppendTimestamptz(b, int64(p.OriginTimestamp), d.loc)
}

func (d *descCtx) xact(b []byte) []byte {
	rec := d.data
	switch d.info & XLogXactOpMask {
	case XLogXactCommit, XLogXactCommitPrepared:
		return d.xactCommit(b)
	case XLogXactAbort, XLogXactAbortPrepared:
		return d.xactAbort(b)
	case XLogXactPrepare:
		return d.xactPrepare(b)
	case XLogXactAssignment:
		xl, err := DecodeXlXactAssignment(rec)
		if err != nil {
			return rdTruncated(b)
		}
		// xact_desc_assignment prints the label even without entries.
		b, _ = rdAppendXactSubxacts(fmt.Appendf(b, "xtop %d: subxacts:", xl.Xtop), "", xl.Nsubxacts, xl.Xsub)
	case XLogXactInvalidations:
		xl, err := DecodeXlXactInvals(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b, _ = rdAppendInvalidations(b, xl.Nmsgs, xl.Msgs, 0, 0, false)
	}
	return b
}

// appendXactEnd appends what the commit and abort descriptions start
// with: the prepared transaction, the time, the relations dropped and
// the subtransactions.
func (d *descCtx) appendXactEnd(b []byte, p *XlXactParsedCommit) ([]byte, bool) {
	if p.TwophaseXid != 0 {
		b = fmt.Appendf(b, "%d: ", p.TwophaseXid)
	}
	b = rdAppendTimestamptz(b, int64(p.XactTime), d.loc)
	b, ok := rdAppendXactRelations(b, "; rels:", p.Nrels, p.Xnodes)
	if !ok {
		return b, false
	}
	return rdAppendXactSubxacts(b, "; subxacts:", p.Nsubxacts, p.Subxacts)
}

// xactCommit is xact_desc_commit.
func (d *descCtx) xactCommit(b []byte) []byte {
	p, err := ParseCommitRecord(d.info, d.data)
	if len(d.data) < SizeOfXactCommit {
		return rdTruncated(b)
	}
	b, ok := d.appendXactEnd(b, &p)
	if ok {
		b, ok = rdAppendXactStats(b, "; dropped stats:", p.Nstats, p.Stats)
	}
	if ok {
		b, ok = rdAppendInvalidations(b, p.Nmsgs, p.Msgs, p.DbID, p.TsID, p.Xinfo&XactCompletionUpdateRelcache != 0)
	}
	if !ok {
		return b
	}
	if p.Xinfo&XactCompletionApplyFeedback != 0 {
		b = append(b, "; apply_feedback"...)
	}
	if p.Xinfo&XactCompletionForceSyncCommit != 0 {
		b = append(b, "; sync"...)
	}
	if err != nil {
		return rdTruncated(b)
	}
	if p.Xinfo&XactXinfoHasOrigin != 0 {
		b = d.appendOrigin(b, &p)
	}
	return b
}

// xactAbort is xact_desc_abort, which unlike commit prints the origin
// before the dropped stats.
func (d *descCtx) xactAbort(b []byte) []byte {
	p, err := ParseAbortRecord(d.info, d.data)
	if len(d.data) < SizeOfXactCommit {
		return rdTruncated(b)
	}
	b, ok := d.appendXactEnd(b, &p)
	if !ok {
		return b
	}
	if p.Xinfo&XactXinfoHasOrigin != 0 && err == nil {
		b = d.appendOrigin(b, &p)
	}
	if b, ok = rdAppendXactStats(b, "; dropped stats:", p.Nstats, p.Stats); ok && err != nil {
		return rdTruncated(b)
	}
	return b
}

// xactPrepare is xact_desc_prepare.
func (d *descCtx) xactPrepare(b []byte) []byte {
	xl, p, err := ParsePrepareRecord(d.data)
	if len(d.data) < SizeOfXactPrepare {
		return rdTruncated(b)
	}
	b = fmt.Appendf(b, "gid %s: ", p.TwophaseGID)
	b = rdAppendTimestamptz(b, int64(p.XactTime), d.loc)
	b, ok := rdAppendXactRelations(b, "; rels(commit):", p.Nrels, p.Xnodes)
	if ok {
		b, ok = rdAppendXactRelations(b, "; rels(abort):", p.Nabortrels, p.Abortnodes)
	}
	if ok {
		b, ok = rdAppendXactStats(b, "; commit dropped stats:", p.Nstats, p.Stats)
	}
	if ok {
		b, ok = rdAppendXactStats(b, "; abort dropped stats:", p.Nabortstats, p.Abortstats)
	}
	if ok {
		b, ok = rdAppendXactSubxacts(b, "; subxacts:", p.Nsubxacts, p.Subxacts)
	}
	if ok {
		b, ok = rdAppendInvalidations(b, p.Nmsgs, p.Msgs, p.DbID, p.TsID, xl.Initfileinval)
	}
	if !ok {
		return b
	}
	// Printed when the record has an origin, as PrepareRedoAdd decides.
	if d.r.Origin != 0 {
		b = d.appendOrigin(b, &p)
	}
	if err != nil {
		return rdTruncated(b)
	}
	return b
}
