package serve

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// fakePages is an in-memory Pages for protocol tests: a few page versions
// whose bytes are one repeated fill value, two shards (even and odd
// blocks) with applied LSNs the test advances.
type fakePages struct {
	mu       sync.Mutex
	applied  []schema.LSN
	changed  chan struct{} // closed and replaced when applied moves
	horizon  schema.LSN
	versions map[schema.BufferTag][]fakeVersion
	ready    chan struct{}
}

type fakeVersion struct {
	lsn         schema.LSN
	fill        byte
	unavailable bool
	page        schema.Page // the page, when not a fill value
	record      []byte      // the record that made the version (History)
	start       schema.LSN  // where the record starts
}

// Fixture relation and LSNs of the transcripts.
var (
	fakeRel = schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}
)

func newFakePages() *fakePages {
	f := &fakePages{
		applied:  []schema.LSN{0x3000000, 0x3000000},
		changed:  make(chan struct{}),
		horizon:  0x1000000,
		versions: map[schema.BufferTag][]fakeVersion{},
		ready:    make(chan struct{}),
	}
	close(f.ready)
	main := func(b schema.BlockNumber) schema.BufferTag {
		return schema.BufferTag{Rel: fakeRel, Fork: schema.MainForkNum, Block: b}
	}
	// Blocks 0–3 from the base at 0/1000000, fill 0x10+blk.
	for b := range schema.BlockNumber(4) {
		f.add(main(b), fakeVersion{lsn: 0x1000000, fill: 0x10 + byte(b)})
	}
	f.add(main(1), fakeVersion{lsn: 0x2000000, fill: 0x21}) // changed at 0/2000000
	f.add(main(2), fakeVersion{lsn: 0x4000000, fill: 0x42}) // changes at 0/4000000, not applied yet
	f.add(main(3), fakeVersion{lsn: 0x2800000, unavailable: true})
	f.add(schema.BufferTag{Rel: fakeRel, Fork: schema.VisibilityMapFork}, fakeVersion{lsn: 0x1000000, fill: 0x01})
	// pg_xact segment 0: pages 0 and 2 exist, page 1 does not.
	f.add(schema.SlruTag(schema.AuxRelXact, 0), fakeVersion{lsn: 0x1000000, fill: 0x55})
	f.add(schema.SlruTag(schema.AuxRelXact, 2), fakeVersion{lsn: 0x1000000, fill: 0x66})
	return f
}

func (f *fakePages) add(tag schema.BufferTag, v fakeVersion) {
	f.versions[tag] = append(f.versions[tag], v)
}

func (f *fakePages) Ready() <-chan struct{} { return f.ready }

func (f *fakePages) ShardOf(tag schema.BufferTag) int { return int(tag.Block % 2) }

func (f *fakePages) AppliedShard(i int) schema.LSN {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied[i]
}

func (f *fakePages) Applied() schema.LSN {
	f.mu.Lock()
	defer f.mu.Unlock()
	return min(f.applied[0], f.applied[1])
}

func (f *fakePages) Horizon() schema.LSN { return f.horizon }

// apply advances shard i (-1: all) to lsn.
func (f *fakePages) apply(i int, lsn schema.LSN) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.applied {
		if (i < 0 || i == s) && lsn > f.applied[s] {
			f.applied[s] = lsn
		}
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakePages) WaitShard(ctx context.Context, i int, lsn schema.LSN) error {
	for {
		f.mu.Lock()
		applied, ch := f.applied[i], f.changed
		f.mu.Unlock()
		if applied >= lsn {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return &materialize.WaitError{LSN: lsn, Applied: f.AppliedShard(i), Err: ctx.Err()}
		}
	}
}

func (f *fakePages) WaitAll(ctx context.Context, lsn schema.LSN) error {
	for i := range f.applied {
		if err := f.WaitShard(ctx, i, lsn); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakePages) checkReadable(lsn schema.LSN) error {
	if lsn < f.horizon {
		return fmt.Errorf("LSN %s is %w (%s)", lsn, materialize.ErrBelowHorizon, f.horizon)
	}
	return nil
}

func (f *fakePages) PageAt(ctx context.Context, tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error) {
	if err := f.checkReadable(lsn); err != nil {
		return nil, 0, err
	}
	if err := f.WaitShard(ctx, f.ShardOf(tag), lsn); err != nil {
		return nil, 0, err
	}
	var best *fakeVersion
	for i, v := range f.versions[tag] {
		if v.lsn <= lsn && (best == nil || v.lsn > best.lsn) {
			best = &f.versions[tag][i]
		}
	}
	switch {
	case best == nil:
		return nil, 0, fmt.Errorf("page %s at %s: %w", tag, lsn, pagestore.ErrNotFound)
	case best.unavailable:
		return nil, 0, &pagestore.UnavailableError{Tag: tag, LSN: lsn, Since: best.lsn, Reason: "test: redo of HEAP/UPDATE not supported"}
	}
	if best.page != nil {
		return append(schema.Page(nil), best.page...), best.lsn, nil
	}
	p := make(schema.Page, schema.BLCKSZ)
	for i := range p {
		p[i] = best.fill
	}
	return p, best.lsn, nil
}

func (f *fakePages) History(ctx context.Context, tag schema.BufferTag, from, to schema.LSN, limit int) ([]pagestore.Version, bool, error) {
	if err := f.checkReadable(from); err != nil {
		return nil, false, err
	}
	if err := f.WaitShard(ctx, f.ShardOf(tag), to); err != nil {
		return nil, false, err
	}
	vs := append([]fakeVersion(nil), f.versions[tag]...)
	sort.Slice(vs, func(i, j int) bool { return vs[i].lsn < vs[j].lsn })
	var out []pagestore.Version
	for _, v := range vs {
		if v.lsn <= from || v.lsn > to {
			continue
		}
		if limit > 0 && len(out) == limit {
			return out, true, nil
		}
		pv := pagestore.Version{LSN: v.lsn, Kind: pagestore.KindImage}
		switch {
		case v.unavailable:
			pv.Kind, pv.Reason = pagestore.KindUnavailable, "test: redo of HEAP/UPDATE not supported"
		case v.record != nil:
			pv.Kind, pv.Start, pv.Record = pagestore.KindRecord, v.start, v.record
		}
		out = append(out, pv)
	}
	return out, false, nil
}

func (f *fakePages) RelSize(ctx context.Context, rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	if err := f.checkReadable(lsn); err != nil {
		return 0, false, err
	}
	if err := f.WaitAll(ctx, lsn); err != nil {
		return 0, false, err
	}
	var n schema.BlockNumber
	exists := false
	for tag, vs := range f.versions {
		if tag.Rel != rel || tag.Fork != fork {
			continue
		}
		for _, v := range vs {
			if v.lsn <= lsn {
				exists, n = true, max(n, tag.Block+1)
			}
		}
	}
	return n, exists, nil
}

func (f *fakePages) DBSize(ctx context.Context, db uint32, lsn schema.LSN) (int64, error) {
	if err := f.checkReadable(lsn); err != nil {
		return 0, err
	}
	if err := f.WaitAll(ctx, lsn); err != nil {
		return 0, err
	}
	forks := map[[2]uint32]schema.BlockNumber{}
	for tag, vs := range f.versions {
		if tag.Rel.DbNode != db {
			continue
		}
		for _, v := range vs {
			if v.lsn <= lsn {
				k := [2]uint32{tag.Rel.RelNode, uint32(tag.Fork)}
				forks[k] = max(forks[k], tag.Block+1)
			}
		}
	}
	var total int64
	for _, n := range forks {
		total += int64(n) * schema.BLCKSZ
	}
	return total, nil
}

func fakeTag(b schema.BlockNumber) schema.BufferTag {
	return schema.BufferTag{Rel: fakeRel, Fork: schema.MainForkNum, Block: b}
}
