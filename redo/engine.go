package redo

import (
	"fmt"

	"github.com/pagemill/pagemill/schema"
)

// Unsupported reports a record the engine cannot apply exactly yet. The
// pages it would have changed without an image have been made unavailable
// (see Pages.Invalidate) when Apply returns it.
type Unsupported struct {
	Rmgr schema.RmgrID
	Info uint8
	LSN  schema.LSN
}

func (e *Unsupported) Error() string {
	return fmt.Sprintf("redo of %s at %s is not supported", schema.RecordTypeName(e.Rmgr, e.Info), e.LSN)
}

// Pages is the page source the caller supplies to Engine.Apply. Get
// returns an available page (its current version, which Apply may modify
// in place); Put stores a page; Invalidate makes a page unavailable, so
// that it is not handed out again until Put stores a new version (which
// the engine only does from a full-page image).
type Pages interface {
	Get(tag schema.BufferTag) (schema.Page, bool)
	Put(tag schema.BufferTag, page schema.Page)
	Invalidate(tag schema.BufferTag)
}

// PartialPages is a Pages that holds only some pages (one shard's or one
// worker's): Apply does not restore images of pages it does not own,
// whose owners apply the same record to them.
type PartialPages interface {
	Pages
	Owns(tag schema.BufferTag) bool
}

// Truncation is a relation-level change: smgr truncation of a relation
// (Storage TRUNCATE, smgr_redo). The engine has no notion of relation
// size, so it returns the truncation to the caller, who drops the pages it
// holds (MemPages.Truncate does).
type Truncation struct {
	Rel schema.RelFileNode
	// Main: blocks >= MainBlocks of the main fork are gone.
	Main       bool
	MainBlocks schema.BlockNumber
	// FSM and VM: the fork was truncated to a size computed from
	// MainBlocks by freespace.c / visibilitymap.c; the caller should treat
	// all its pages as unavailable.
	FSM, VM bool
}

// Result says what Apply did to pages.
type Result struct {
	// Restored lists the blocks whose full-page image was restored.
	Restored []schema.BufferTag
	// Invalidated lists the pages made unavailable (unsupported redo).
	Invalidated []schema.BufferTag
	// Truncate is set for Storage TRUNCATE.
	Truncate *Truncation
}

// Engine applies decoded records to pages. It does no I/O.
type Engine struct {
	Restorer *schema.ImageRestorer
	// DataChecksums sets pd_checksum on every page the engine writes, as
	// PostgreSQL does when it writes a buffer of a cluster with data
	// checksums (PageSetChecksumInplace). Masks ignore the checksum.
	DataChecksums bool
}

// NewEngine returns an engine with its own image restorer.
func NewEngine() (*Engine, error) {
	ir, err := schema.NewImageRestorer()
	if err != nil {
		return nil, err
	}
	return &Engine{Restorer: ir}, nil
}

// Opcodes of records that change no page (see Apply).
const (
	heap2Rewrite   = 0x00 // XLOG_HEAP2_REWRITE: logical rewrite mapping files
	heap2NewCID    = 0x70 // XLOG_HEAP2_NEW_CID: logical decoding only
	heapTruncate   = 0x30 // XLOG_HEAP_TRUNCATE: logical decoding only
	btreeReusePage = 0xD0 // XLOG_BTREE_REUSE_PAGE: recovery conflict only
	heapOpcodeMask = 0x70
	smgrCreate     = 0x10
	smgrTruncate   = 0x20
)

// Apply applies rec to pages.
//
// First, as XLogReadBufferForRedoExtended does for a block whose image has
// BKPIMAGE_APPLY (the BLK_RESTORED path), every such image is restored and
// the page LSN set to the record's end unless the page is new
// (PageIsNew). Rmgr redo routines skip BLK_RESTORED blocks, so:
//
//   - XLOG FPI and FPI_FOR_HINT are done.
//   - Transaction, CLOG, MultiXact and RelMap records change auxiliary
//     pages (pg_xact, pg_multixact, relation maps; see auxRedo).
//   - Records of resource managers that change no page are done:
//     XLOG records without blocks, Standby,
//     Database, Tablespace, LogicalMessage, CommitTs,
//     ReplicationOrigin, Heap2 NEW_CID and REWRITE, Heap TRUNCATE, Btree
//     REUSE_PAGE. (Database CREATE copies files and DROP removes them
//     outside the WAL's page stream; their pages are never referenced by
//     an image-less block before an FPI, so the engine leaves them to the
//     page store.)
//   - Storage CREATE creates an empty fork (no page); Storage TRUNCATE is
//     returned as Result.Truncate for the caller to apply to its store.
//   - Any other record is done only if every block it references was
//     restored from an image and it clears no visibility-map bits on a
//     page it does not reference (schema.ImplicitVMPages). Otherwise Apply
//     returns *Unsupported and invalidates the pages that were not
//     restored, and the implicit vm pages.
//
// Other errors (an image that cannot be restored) leave that page
// invalidated too.
func (e *Engine) Apply(rec *schema.DecodedRecord, pages Pages) (Result, error) {
	var res Result
	restored := make([]bool, len(rec.Blocks))
	partial, _ := pages.(PartialPages)
	for i := range rec.Blocks {
		blk := &rec.Blocks[i]
		if !blk.ApplyImage() {
			continue
		}
		if partial != nil && !partial.Owns(blk.Tag) {
			// As restored for redo's purposes: nothing to do here.
			restored[i] = true
			continue
		}
		page, ok := pages.Get(blk.Tag)
		if !ok || len(page) != schema.BLCKSZ {
			page = make(schema.Page, schema.BLCKSZ)
		}
		if err := e.Restorer.Restore(page, rec, blk); err != nil {
			pages.Invalidate(blk.Tag)
			res.Invalidated = append(res.Invalidated, blk.Tag)
			return res, err
		}
		if !page.IsNew() {
			page.SetLSN(rec.EndLSN)
		}
		if e.DataChecksums {
			if err := PageSetChecksumInplace(page, blk.Tag.Block); err != nil {
				return res, err
			}
		}
		pages.Put(blk.Tag, page)
		restored[i] = true
		res.Restored = append(res.Restored, blk.Tag)
	}

	info := rec.Info() & schema.XLRRmgrInfoMask
	noBlocks := len(rec.Blocks) == 0
	done := false
	switch rec.Rmgr() {
	case schema.RmgrXLOG:
		done = applyXLOG(rec, restored)
	case schema.RmgrTransaction, schema.RmgrCLOG, schema.RmgrMultiXact, schema.RmgrRelMap:
		// SLRU pages and relation maps: auxiliary pages (schema.AuxPages).
		done = noBlocks && e.auxRedo(rec, pages)
	case schema.RmgrStandby, schema.RmgrDatabase, schema.RmgrTablespace,
		schema.RmgrLogicalMessage, schema.RmgrCommitTs, schema.RmgrReplicationOrigin:
		// Directories, shared memory: no page. None of them registers
		// block references.
		done = noBlocks
	case schema.RmgrStorage:
		switch info {
		case smgrCreate:
			// smgrcreate makes an empty fork: there is no page to hold.
			done = noBlocks
		case smgrTruncate:
			if c, err := schema.RelChangeOf(rec); err == nil && c != nil && c.Kind == schema.RelTruncate && noBlocks {
				res.Truncate = &Truncation{Rel: c.Rel, Main: c.TruncMain, MainBlocks: c.Blocks, FSM: c.TruncFSM, VM: c.TruncVM}
				done = true
			}
		}
	case schema.RmgrHeap2:
		if op := info & heapOpcodeMask; (op == heap2NewCID || op == heap2Rewrite) && noBlocks {
			done = true
		} else {
			done = e.heap2Redo(rec, pages, restored, &res)
		}
	case schema.RmgrHeap:
		if info&heapOpcodeMask == heapTruncate && noBlocks {
			done = true
		} else {
			done = e.heapRedo(rec, pages, restored, &res)
		}
	case schema.RmgrBtree:
		if info == btreeReusePage && noBlocks {
			done = true
		} else {
			done = e.btreeRedo(rec, pages, restored, &res)
		}
	case schema.RmgrSequence:
		done = e.seqRedo(rec, pages, restored, &res)
	case schema.RmgrHash:
		done = e.hashRedo(rec, pages, restored, &res)
	case schema.RmgrGin:
		done = e.ginRedo(rec, pages, restored, &res)
	case schema.RmgrGist:
		done = e.gistRedo(rec, pages, restored, &res)
	case schema.RmgrSPGist:
		done = e.spgRedo(rec, pages, restored, &res)
	case schema.RmgrBRIN:
		done = e.brinRedo(rec, pages, restored, &res)
	case schema.RmgrGeneric:
		done = e.genericRedo(rec, pages, restored, &res)
	}
	if !done && !noBlocks && rec.Rmgr() != schema.RmgrXLOG && rec.Rmgr() != schema.RmgrStorage {
		// Generic rule: every block restored means redo has nothing left
		// to do, unless the record also clears vm bits implicitly.
		done = true
		for _, ok := range restored {
			done = done && ok
		}
		if done && len(schema.ImplicitVMPages(nil, rec)) > 0 {
			done = false
		}
	}
	if done {
		return res, nil
	}
	for i := range rec.Blocks {
		if !restored[i] {
			pages.Invalidate(rec.Blocks[i].Tag)
			res.Invalidated = append(res.Invalidated, rec.Blocks[i].Tag)
		}
	}
	for _, tag := range schema.ImplicitVMPages(nil, rec) {
		pages.Invalidate(tag)
		res.Invalidated = append(res.Invalidated, tag)
	}
	return res, &Unsupported{Rmgr: rec.Rmgr(), Info: rec.Info(), LSN: rec.LSN}
}

// MemPages is an in-memory Pages. Unavailable pages are remembered as
// such, so a caller can tell "never seen" from "seen but not replayable".
type MemPages struct {
	pages       map[schema.BufferTag]schema.Page
	unavailable map[schema.BufferTag]bool
}

// NewMemPages returns an empty store.
func NewMemPages() *MemPages {
	return &MemPages{pages: map[schema.BufferTag]schema.Page{}, unavailable: map[schema.BufferTag]bool{}}
}

// Get returns an available page.
func (m *MemPages) Get(tag schema.BufferTag) (schema.Page, bool) {
	p, ok := m.pages[tag]
	return p, ok
}

// Put stores page (not copied) and makes it available.
func (m *MemPages) Put(tag schema.BufferTag, page schema.Page) {
	m.pages[tag] = page
	delete(m.unavailable, tag)
}

// Invalidate makes the page unavailable.
func (m *MemPages) Invalidate(tag schema.BufferTag) {
	delete(m.pages, tag)
	m.unavailable[tag] = true
}

// Unavailable reports whether the page was invalidated and not repaired.
func (m *MemPages) Unavailable(tag schema.BufferTag) bool { return m.unavailable[tag] }

// Len returns the number of available pages.
func (m *MemPages) Len() int { return len(m.pages) }

// Truncate applies a relation-level truncation: main-fork pages at or
// beyond the new size are dropped (they no longer exist), and every held
// page of a truncated FSM or VM fork is invalidated, since its new size is
// computed by PostgreSQL, not logged.
func (m *MemPages) Truncate(t *Truncation) {
	for tag := range m.pages {
		if tag.Rel != t.Rel {
			continue
		}
		switch {
		case t.Main && tag.Fork == schema.MainForkNum && tag.Block >= t.MainBlocks:
			delete(m.pages, tag)
		case t.FSM && tag.Fork == schema.FSMForkNum, t.VM && tag.Fork == schema.VisibilityMapFork:
			m.Invalidate(tag)
		}
	}
}
