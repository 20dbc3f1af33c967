package redo

import (
	"encoding/binary"

	"github.com/pagemill/pagemill/schema"
)

// auxRedo applies a record of the SLRU and relation-map resource managers
// to the auxiliary pages it changes (schema.AuxPages): pg_xact status bits
// (xact_redo_commit / xact_redo_abort → TransactionIdCommitTree /
// TransactionIdAbortTree), zeroed SLRU pages (clog_redo, multixact_redo
// ZERO_*), a new multixact's offsets and members (RecordNewMultiXact), a
// relation map (relmap_redo). These pages have no page header: no LSN,
// no checksum. A page the caller does not hold starts as zeros, as an
// SLRU page read past the end of its segment does. It reports false for
// a malformed record.
func (e *Engine) auxRedo(rec *schema.DecodedRecord, pages Pages) bool {
	partial, _ := pages.(PartialPages)
	get := func(t schema.BufferTag) (schema.Page, bool) {
		if partial != nil && !partial.Owns(t) {
			return nil, false
		}
		p, ok := pages.Get(t)
		if !ok || len(p) != schema.BLCKSZ {
			p = make(schema.Page, schema.BLCKSZ)
		}
		return p, true
	}
	le := binary.LittleEndian
	switch schema.AuxOpOf(rec) {
	case schema.AuxXactStatus:
		var t schema.XactTree
		if ok, err := schema.XactTreeInto(&t, rec); err != nil || !ok {
			return err == nil // not a transaction end: nothing to do
		}
		// TransactionIdSetTreeStatus: subtransactions on other pages are
		// first marked sub-committed, but once the record is replayed every
		// member has the final status.
		for i := -1; i < len(t.Subxids); i++ {
			xid := t.Xid
			if i >= 0 {
				xid = t.Subxids[i]
			}
			tag := schema.SlruTag(schema.AuxRelXact, xid/schema.ClogXactsPerPage)
			p, ok := get(tag)
			if !ok {
				continue
			}
			idx := xid % schema.ClogXactsPerPage
			shift := (idx % 4) * 2
			p[idx/4] = p[idx/4]&^(3<<shift) | t.Status<<shift
			pages.Put(tag, p)
		}
		return true
	case schema.AuxZeroPage:
		for _, tag := range schema.AuxPages(nil, rec) {
			if partial != nil && !partial.Owns(tag) {
				continue
			}
			pages.Put(tag, make(schema.Page, schema.BLCKSZ))
		}
		return true
	case schema.AuxMultiXactCreate:
		c, err := schema.MultiXactCreateOf(rec)
		if err != nil {
			return false
		}
		// The offsets of this multixact and of the next one (its members'
		// end), which may be on the next page.
		next := schema.NextMulti(c.Mid)
		end := c.Moff + uint32(c.Members.Len())
		if end == 0 {
			end = 1
		}
		for _, x := range []struct{ mid, off uint32 }{{c.Mid, c.Moff}, {next, end}} {
			tag := schema.SlruTag(schema.AuxRelMultiXactOffsets, x.mid/schema.MultiXactOffsetsPerPage)
			if p, ok := get(tag); ok {
				le.PutUint32(p[4*(x.mid%schema.MultiXactOffsetsPerPage):], x.off)
				pages.Put(tag, p)
			}
		}
		off := c.Moff
		for k := range c.Members.Len() {
			m := c.Members.At(k)
			tag := schema.SlruTag(schema.AuxRelMultiXactMembers, off/schema.MultiXactMembersPerPage)
			if p, ok := get(tag); ok {
				fo, shift, xo := schema.MultiXactMemberOffsets(off)
				le.PutUint32(p[xo:], m.Xid)
				f := le.Uint32(p[fo:])
				f = f&^(0xFF<<shift) | m.Status<<shift
				le.PutUint32(p[fo:], f)
				pages.Put(tag, p)
			}
			off++
		}
		return true
	case schema.AuxRelMap:
		u, data, err := schema.RelMapUpdateOf(rec)
		if err != nil {
			return false
		}
		tag := schema.RelMapTag(u.Tsid, u.Dbid)
		if p, ok := get(tag); ok {
			clear(p)
			copy(p, data)
			pages.Put(tag, p)
		}
		return true
	}
	// CLOG and MultiXact TRUNCATE remove whole segments: a relation-level
	// change the page store applies.
	return true
}
