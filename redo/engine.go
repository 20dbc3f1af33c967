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

// OwnedPages is the PartialPages of In that Own accepts, as one shard
// sees the pages: the others are not there to read, and what is written
// to them is dropped.
type OwnedPages struct {
	In  Pages
	Own func(schema.BufferTag) bool
}

// Owns reports whether tag is one of p's pages.
func (p OwnedPages) Owns(tag schema.BufferTag) bool { return p.Own(tag) }

// Get is In's page, if p owns it.
func (p OwnedPages) Get(tag schema.BufferTag) (schema.Page, bool) {
	if !p.Own(tag) {
		return nil, false
	}
	return p.In.Get(tag)
}

// Put stores page in In, if p owns it.
func (p OwnedPages) Put(tag schema.BufferTag, page schema.Page) {
	if p.Own(tag) {
		p.In.Put(tag, page)
	}
}

// Invalidate invalidates In's page, if p owns it.
func (p OwnedPages) Invalidate(tag schema.BufferTag) {
	if p.Own(tag) {
		p.In.Invalidate(tag)
	}
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

// Engine applies decoded records to pages. It does no I/O, and serves one
// goroutine at a time.
type Engine struct {
	Restorer *schema.ImageRestorer
	// DataChecksums sets pd_checksum on every page the engine writes, as
	// PostgreSQL does when it writes a buffer of a cluster with data
	// checksums (PageSetChecksumInplace). Masks ignore the checksum.
	DataChecksums bool

	// Arrays redo functions decode record data into, reused from record
	// to record.
	gistOffs   []schema.OffsetNumber
	gistTuples [][]byte
}

// NewEngine returns an engine with its own image restorer.
func NewEngine() (*Engine, error) {
	ir, err := schema.NewImageRestorer()
	if err != nil {
		return nil, err
	}
	return &Engine{Restorer: ir}, nil
}

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
	err := e.ApplyTo(&res, rec, pages)
	return res, err
}

// ApplyTo is Apply with the result written to *res, whose slices it
// reuses: they are emptied first, and what Apply would return is
// appended to them. A caller that applies record after record into one
// Result, done with each before the next, allocates nothing for it.
func (e *Engine) ApplyTo(res *Result, rec *schema.DecodedRecord, pages Pages) error {
	res.Restored, res.Invalidated, res.Truncate = res.Restored[:0], res.Invalidated[:0], nil
	// Block ids are distinct and at most XLR_MAX_BLOCK_ID in a decoded
	// record; one built by hand may have more blocks.
	var restoredBuf [schema.XLRMaxBlockID + 1]bool
	var restored []bool
	if len(rec.Blocks) <= len(restoredBuf) {
		restored = restoredBuf[:len(rec.Blocks)]
	} else {
		restored = make([]bool, len(rec.Blocks))
	}
	if err := e.restoreImages(res, rec, pages, restored); err != nil {
		return err
	}
	if e.rmgrRedo(res, rec, pages, restored) {
		return nil
	}
	return unapplied(res, rec, pages, restored)
}

// restoreImages restores the record's block images that are to be
// applied (XLogReadBufferForRedoExtended's RestoreBlockImage) and marks
// them in restored. A page a PartialPages does not own counts as
// restored: its owner applies the record to it.
func (e *Engine) restoreImages(res *Result, rec *schema.DecodedRecord, pages Pages, restored []bool) error {
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
			return err
		}
		if !page.IsNew() {
			page.SetLSN(rec.EndLSN)
		}
		if e.DataChecksums {
			if err := PageSetChecksumInplace(page, blk.Tag.Block); err != nil {
				return err
			}
		}
		pages.Put(blk.Tag, page)
		restored[i] = true
		res.Restored = append(res.Restored, blk.Tag)
	}
	return nil
}

// rmgrRedo is the resource managers' rm_redo: it reports whether the
// record was applied.
func (e *Engine) rmgrRedo(res *Result, rec *schema.DecodedRecord, pages Pages, restored []bool) bool {
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
		case schema.XLogSmgrCreate:
			// smgrcreate makes an empty fork: there is no page to hold.
			done = noBlocks
		case schema.XLogSmgrTruncate:
			if xl, err := schema.DecodeXlSmgrTruncate(rec.MainData); err == nil && noBlocks {
				res.Truncate = &Truncation{Rel: xl.Rnode, Main: xl.Flags&schema.SmgrTruncateHeap != 0, MainBlocks: xl.Blkno,
					FSM: xl.Flags&schema.SmgrTruncateFSM != 0, VM: xl.Flags&schema.SmgrTruncateVM != 0}
				done = true
			}
		}
	case schema.RmgrHeap2:
		// NEW_CID (logical decoding) and REWRITE (logical rewrite mapping
		// files) change no page.
		if op := info & schema.XLogHeapOpMask; (op == schema.XLogHeap2NewCid || op == schema.XLogHeap2Rewrite) && noBlocks {
			done = true
		} else {
			done = e.heap2Redo(rec, pages, restored, res)
		}
	case schema.RmgrHeap:
		// TRUNCATE is for logical decoding only.
		if info&schema.XLogHeapOpMask == schema.XLogHeapTruncate && noBlocks {
			done = true
		} else {
			done = e.heapRedo(rec, pages, restored, res)
		}
	case schema.RmgrBtree:
		// REUSE_PAGE is a recovery conflict only.
		if info == schema.XLogBtreeReusePage && noBlocks {
			done = true
		} else {
			done = e.btreeRedo(rec, pages, restored, res)
		}
	case schema.RmgrSequence:
		done = e.seqRedo(rec, pages, restored, res)
	case schema.RmgrHash:
		done = e.hashRedo(rec, pages, restored, res)
	case schema.RmgrGin:
		done = e.ginRedo(rec, pages, restored, res)
	case schema.RmgrGist:
		done = e.gistRedo(rec, pages, restored, res)
	case schema.RmgrSPGist:
		done = e.spgRedo(rec, pages, restored, res)
	case schema.RmgrBRIN:
		done = e.brinRedo(rec, pages, restored, res)
	case schema.RmgrGeneric:
		done = e.genericRedo(rec, pages, restored, res)
	}
	return done
}

// unapplied settles a record redo did not apply: when its images restored
// every page it changes there is nothing left to do; otherwise the pages
// it would have changed become unavailable and it is Unsupported.
func unapplied(res *Result, rec *schema.DecodedRecord, pages Pages, restored []bool) error {
	noBlocks := len(rec.Blocks) == 0
	// Heap records clear at most two vm pages they do not reference.
	var vmBuf [2]schema.BufferTag
	implicitVM := schema.ImplicitVMPages(vmBuf[:0], rec)
	if !noBlocks && rec.Rmgr() != schema.RmgrXLOG && rec.Rmgr() != schema.RmgrStorage {
		// Generic rule: every block restored means redo has nothing left
		// to do, unless the record also clears vm bits implicitly.
		done := len(implicitVM) == 0
		for _, ok := range restored {
			done = done && ok
		}
		if done {
			return nil
		}
	}
	for i := range rec.Blocks {
		if !restored[i] {
			pages.Invalidate(rec.Blocks[i].Tag)
			res.Invalidated = append(res.Invalidated, rec.Blocks[i].Tag)
		}
	}
	for _, tag := range implicitVM {
		pages.Invalidate(tag)
		res.Invalidated = append(res.Invalidated, tag)
	}
	return &Unsupported{Rmgr: rec.Rmgr(), Info: rec.Info(), LSN: rec.LSN}
}

// MemPages is an in-memory Pages. Unavailable pages are remembered as
// such, so a caller can tell "never seen" from "seen but not replayable".
//
// Pages are held per relation fork in chunks of consecutive blocks, found
// through a slice by block number, and the relation forks used last are
// found without a map lookup: redo looks pages up several times per
// record, mostly in the same few relations.
type MemPages struct {
	rels   map[memRelKey]*memRel
	recent [memRecent]*memRel // relation forks used lately, replaced in turn
	next   int                // the recent slot to replace next
	n      int                // available pages
}

// memRecent is how many relation forks MemPages finds without its map:
// a heap, its index and their vm/fsm forks.
const memRecent = 4

// memRelKey is a relation fork packed into two words, which compare
// faster than the fields: tablespace and database, relation and fork.
type memRelKey struct{ a, b uint64 }

func memKeyOf(tag schema.BufferTag) memRelKey {
	return memRelKey{
		a: uint64(tag.Rel.SpcNode)<<32 | uint64(tag.Rel.DbNode),
		b: uint64(tag.Rel.RelNode)<<32 | uint64(uint8(tag.Fork)),
	}
}

// memRel is one relation fork's pages.
type memRel struct {
	key memRelKey
	dir []*memChunk                      // chunk of blocks [i<<memChunkShift, (i+1)<<memChunkShift)
	far map[schema.BlockNumber]*memChunk // chunks at or past memDirBlocks, by block>>memChunkShift
}

const (
	memChunkShift = 6
	memChunkSize  = 1 << memChunkShift
	// memDirBlocks bounds the directory slice (8 bytes per chunk):
	// blocks beyond it (relations over 8 GB) are found through a map.
	memDirBlocks = 1 << 20
)

// memChunk holds memChunkSize consecutive blocks.
type memChunk struct {
	pages   [memChunkSize]schema.Page
	avail   uint64 // bit b: block b of the chunk is available
	unavail uint64 // bit b: block b was invalidated and not repaired
}

// NewMemPages returns an empty store.
func NewMemPages() *MemPages {
	return &MemPages{rels: map[memRelKey]*memRel{}}
}

// rel returns the pages of tag's relation fork, creating them if create.
func (m *MemPages) rel(tag schema.BufferTag, create bool) *memRel {
	key := memKeyOf(tag)
	for i := range m.recent {
		if r := m.recent[i]; r != nil && r.key == key {
			return r
		}
	}
	r := m.rels[key]
	if r == nil {
		if !create {
			return nil
		}
		r = &memRel{key: key}
		m.rels[key] = r
	}
	m.recent[m.next] = r
	m.next = (m.next + 1) % memRecent
	return r
}

// chunk returns the chunk holding blk, creating it if create.
func (r *memRel) chunk(blk schema.BlockNumber, create bool) *memChunk {
	i := blk >> memChunkShift
	if blk < memDirBlocks {
		if int(i) < len(r.dir) {
			if c := r.dir[i]; c != nil || !create {
				return c
			}
		} else if !create {
			return nil
		} else {
			r.dir = append(r.dir, make([]*memChunk, int(i)+1-len(r.dir))...)
		}
		c := &memChunk{}
		r.dir[i] = c
		return c
	}
	c := r.far[i]
	if c == nil && create {
		if r.far == nil {
			r.far = map[schema.BlockNumber]*memChunk{}
		}
		c = &memChunk{}
		r.far[i] = c
	}
	return c
}

// Get returns an available page.
func (m *MemPages) Get(tag schema.BufferTag) (schema.Page, bool) {
	r := m.rel(tag, false)
	if r == nil {
		return nil, false
	}
	c := r.chunk(tag.Block, false)
	if c == nil {
		return nil, false
	}
	b := tag.Block & (memChunkSize - 1)
	if c.avail&(1<<b) == 0 {
		return nil, false
	}
	return c.pages[b], true
}

// Put stores page (not copied) and makes it available.
func (m *MemPages) Put(tag schema.BufferTag, page schema.Page) {
	c := m.rel(tag, true).chunk(tag.Block, true)
	b := tag.Block & (memChunkSize - 1)
	if c.avail&(1<<b) == 0 {
		m.n++
		c.avail |= 1 << b
	}
	c.unavail &^= 1 << b
	c.pages[b] = page
}

// Invalidate makes the page unavailable.
func (m *MemPages) Invalidate(tag schema.BufferTag) {
	c := m.rel(tag, true).chunk(tag.Block, true)
	m.invalidate(c, tag.Block&(memChunkSize-1))
}

func (m *MemPages) invalidate(c *memChunk, b schema.BlockNumber) {
	m.drop(c, b)
	c.unavail |= 1 << b
}

// drop forgets an available page.
func (m *MemPages) drop(c *memChunk, b schema.BlockNumber) {
	if c.avail&(1<<b) != 0 {
		m.n--
		c.avail &^= 1 << b
	}
	c.pages[b] = nil
}

// Unavailable reports whether the page was invalidated and not repaired.
func (m *MemPages) Unavailable(tag schema.BufferTag) bool {
	r := m.rel(tag, false)
	if r == nil {
		return false
	}
	c := r.chunk(tag.Block, false)
	return c != nil && c.unavail&(1<<(tag.Block&(memChunkSize-1))) != 0
}

// Len returns the number of available pages.
func (m *MemPages) Len() int { return m.n }

// Truncate applies a relation-level truncation: main-fork pages at or
// beyond the new size are dropped (they no longer exist), and every held
// page of a truncated FSM or VM fork is invalidated, since its new size is
// computed by PostgreSQL, not logged.
func (m *MemPages) Truncate(t *Truncation) {
	each := func(fork schema.ForkNumber, fn func(c *memChunk, first schema.BlockNumber)) {
		r := m.rels[memKeyOf(schema.BufferTag{Rel: t.Rel, Fork: fork})]
		if r == nil {
			return
		}
		for i, c := range r.dir {
			if c != nil {
				fn(c, schema.BlockNumber(i)<<memChunkShift)
			}
		}
		for i, c := range r.far {
			fn(c, i<<memChunkShift)
		}
	}
	if t.Main {
		each(schema.MainForkNum, func(c *memChunk, first schema.BlockNumber) {
			for b := schema.BlockNumber(0); b < memChunkSize; b++ {
				if c.avail&(1<<b) != 0 && first+b >= t.MainBlocks {
					m.drop(c, b)
				}
			}
		})
	}
	invalidateAll := func(c *memChunk, _ schema.BlockNumber) {
		for b := schema.BlockNumber(0); b < memChunkSize; b++ {
			if c.avail&(1<<b) != 0 {
				m.invalidate(c, b)
			}
		}
	}
	if t.FSM {
		each(schema.FSMForkNum, invalidateAll)
	}
	if t.VM {
		each(schema.VisibilityMapFork, invalidateAll)
	}
}
