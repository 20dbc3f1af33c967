package applier

import (
	"errors"
	"slices"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// applyRelChange applies a relation-level change to the owned pages (the
// store already holds everything before it).
func (a *Applier) applyRelChange(c *schema.RelChange, rec *schema.DecodedRecord) error {
	lsn := rec.EndLSN
	switch c.Kind {
	case schema.RelCreate:
		if a.cfg.Sizes {
			if _, exists, err := a.store.RelSize(c.Rel, c.Fork, lsn); err != nil {
				return err
			} else if !exists {
				a.sink.PutSize(c.Rel, c.Fork, lsn, 0, SizeSet, 0)
			}
		}
		a.forgetSize(schema.RelFork{Rel: c.Rel, Fork: c.Fork})
	case schema.RelTruncate:
		return a.truncate(c, lsn)
	case schema.RelDrop:
		for _, rel := range c.Rels {
			if err := a.dropPages(rel, lsn); err != nil {
				return err
			}
		}
	case schema.DBDrop:
		return a.dropDatabase(c, lsn)
	case schema.DBCopy:
		return a.copyDatabase(c, rec)
	}
	return nil
}

// dropDatabase makes every relation of the database in the dropped
// tablespaces absent.
func (a *Applier) dropDatabase(c *schema.RelChange, lsn schema.LSN) error {
	rels, err := a.store.Relations(c.DB, lsn)
	if err != nil {
		return err
	}
	done := map[schema.RelFileNode]bool{}
	for rf := range rels {
		if !slices.Contains(c.Spcs, rf.Rel.SpcNode) || done[rf.Rel] {
			continue
		}
		done[rf.Rel] = true
		if err := a.dropPages(rf.Rel, lsn); err != nil {
			return err
		}
	}
	return nil
}

// truncateSlru is CLOG TRUNCATE (SimpleLruTruncate): the segments before
// the one holding the cutoff page are removed. Segments of a wrapped-around
// xid space are left alone (PostgreSQL removes them later; a restored data
// directory tolerates extra old segments).
func (a *Applier) truncateSlru(rec *schema.DecodedRecord) error {
	pageno, err := schema.SlruPageNo(rec)
	if err != nil {
		a.cfg.Log.Warn("CLOG truncation not understood; ignored", "lsn", rec.LSN, "err", err)
		return nil
	}
	if err := a.sink.Flush(); err != nil {
		return err
	}
	cutoff := schema.BlockNumber(pageno - pageno%schema.SlruPagesPerSegment)
	rel := schema.SlruTag(schema.AuxRelXact, 0).Rel
	tags, err := a.store.PagesOf(rel, schema.MainForkNum, false, 0)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if t.Block < cutoff && a.Owns(t) {
			a.sink.PutAbsent(t, rec.EndLSN)
			a.dropCached(t)
			a.written = append(a.written, t)
		}
	}
	return nil
}

// makeAbsent marks the owned stored pages of a relation fork (every fork
// when allForks) at or past block from absent from lsn on.
func (a *Applier) makeAbsent(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber, lsn schema.LSN) error {
	tags, err := a.store.PagesOf(rel, fork, allForks, from)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if a.Owns(t) {
			a.sink.PutAbsent(t, lsn)
			a.dropCached(t)
		}
	}
	return nil
}

// dropPages makes every fork of rel absent from lsn: the owned pages and
// (with Sizes) the sizes. A drop is written for every fork, whether the
// store knows it or not: a fork that never existed reads as absent
// either way, and another applier's extension of it before lsn may not
// be in the store yet.
func (a *Applier) dropPages(rel schema.RelFileNode, lsn schema.LSN) error {
	if err := a.makeAbsent(rel, 0, true, 0, lsn); err != nil {
		return err
	}
	for fork := schema.MainForkNum; fork <= schema.InitForkNum; fork++ {
		a.forgetSize(schema.RelFork{Rel: rel, Fork: fork})
		if a.cfg.Sizes {
			a.sink.PutSize(rel, fork, lsn, 0, SizeDrop, 0)
		}
	}
	return nil
}

// Visibility map and free space map geometry (visibilitymap.c, fsmpage.c).
const (
	vmMapSize       = schema.BLCKSZ - 24 // MAPSIZE
	fsmSlotsPerPage = 4069               // SlotsPerFSMPage for 8 KiB pages
	fsmTreeDepth    = 3
)

// truncate is smgr_redo's truncation: pages at or past the new size are
// gone; the visibility map's last page loses the bits past it
// (visibilitymap_prepare_truncate); the sizes shrink (never grow).
func (a *Applier) truncate(c *schema.RelChange, lsn schema.LSN) error {
	type forkSize struct {
		fork schema.ForkNumber
		n    schema.BlockNumber
	}
	var forks []forkSize
	if c.TruncMain {
		forks = append(forks, forkSize{schema.MainForkNum, c.Blocks})
	}
	if c.TruncFSM {
		forks = append(forks, forkSize{schema.FSMForkNum, fsmTruncatedSize(c.Blocks)})
	}
	if c.TruncVM {
		n := c.Blocks / schema.HeapBlocksPerVMPage
		rem := c.Blocks % schema.HeapBlocksPerVMPage
		if rem != 0 {
			// The partial map page keeps only the bits of remaining blocks.
			tag := schema.BufferTag{Rel: c.Rel, Fork: schema.VisibilityMapFork, Block: n}
			if a.Owns(tag) {
				if err := a.truncateVMPage(tag, rem, lsn); err != nil {
					return err
				}
			}
			n++
		}
		forks = append(forks, forkSize{schema.VisibilityMapFork, n})
	}
	for _, f := range forks {
		if err := a.makeAbsent(c.Rel, f.fork, false, f.n, lsn); err != nil {
			return err
		}
		a.forgetSize(schema.RelFork{Rel: c.Rel, Fork: f.fork})
		if a.cfg.Sizes {
			a.sink.PutSize(c.Rel, f.fork, lsn, 0, SizeTruncate, f.n)
		}
	}
	return nil
}

// truncateVMPage is visibilitymap_prepare_truncate's change to the map
// page holding the new end of the heap: only the bits of the first rem
// heap blocks it covers stay. A page that does not exist (new) or cannot
// be reconstructed is left alone.
func (a *Applier) truncateVMPage(tag schema.BufferTag, rem schema.BlockNumber, lsn schema.LSN) error {
	e := a.page(tag)
	if err := a.takeLoadErr(); err != nil {
		return err
	}
	if !e.ok || e.page.IsNew() {
		return nil
	}
	truncByte := int(rem / 4)
	truncOffset := uint((rem % 4) * 2)
	m := e.page[24:]
	for i := truncByte + 1; i < vmMapSize; i++ {
		m[i] = 0
	}
	m[truncByte] &= byte(1<<truncOffset) - 1
	if a.engine.DataChecksums {
		_ = redo.PageSetChecksumInplace(e.page, tag.Block)
	}
	a.sink.PutImage(tag, lsn, e.page)
	e.deltas, e.lsn = 0, lsn
	return nil
}

// fsmTruncatedSize is the free space map size FreeSpaceMapPrepareTruncateRel
// leaves for a heap of nblocks blocks.
func fsmTruncatedSize(nblocks schema.BlockNumber) schema.BlockNumber {
	logpageno := uint64(nblocks) / fsmSlotsPerPage
	slot := uint64(nblocks) % fsmSlotsPerPage
	// fsm_logical_to_physical of the leaf page logpageno.
	pages, leafno := uint64(0), logpageno
	for l := 0; l < fsmTreeDepth; l++ {
		pages += leafno + 1
		leafno /= fsmSlotsPerPage
	}
	phys := pages - 1
	if slot != 0 {
		phys++
	}
	return schema.BlockNumber(phys)
}

// copyDatabase is CREATE DATABASE … STRATEGY FILE_COPY: the new database's
// relations are the source database's as of the record, page for page.
// Each applier copies the pages it owns; the driver has had every
// applier's writes before the record committed.
func (a *Applier) copyDatabase(c *schema.RelChange, rec *schema.DecodedRecord) error {
	lsn := rec.EndLSN
	rels, err := a.store.Relations(c.SrcDB, rec.LSN)
	if err != nil {
		return err
	}
	for rf, n := range rels {
		if rf.Rel.SpcNode != c.SrcSpc {
			continue
		}
		dst := schema.RelFileNode{SpcNode: c.Spc, DbNode: c.DB, RelNode: rf.Rel.RelNode}
		if a.cfg.Sizes {
			a.sink.PutSize(dst, rf.Fork, lsn, 0, SizeSet, n)
		}
		for b := schema.BlockNumber(0); b < n; b++ {
			dt := schema.BufferTag{Rel: dst, Fork: rf.Fork, Block: b}
			if !a.Owns(dt) {
				continue
			}
			src := schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: b}
			page, _, err := a.store.PageAt(src, rec.LSN)
			switch {
			case err == nil:
				a.sink.PutImage(dt, lsn, page)
			case errors.Is(err, ErrNotFound):
				a.sink.PutImage(dt, lsn, make(schema.Page, schema.BLCKSZ))
			default:
				a.sink.PutUnavailable(dt, lsn, "copied from "+src.String()+": "+err.Error())
			}
			a.dropCached(dt)
		}
	}
	a.cfg.Log.Info("database copied", "applier", a.cfg.ID, "db", c.DB, "from", c.SrcDB, "lsn", rec.LSN)
	return nil
}
