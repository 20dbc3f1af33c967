package bench

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pagemill/pagemill/schema"
)

// historyRead is one kind of historical read the materialize benchmark
// times: a page of a pgbench table at random LSNs of the materialized
// range, with the read cache off.
type historyRead struct {
	name  string
	table string
	block func(r *rand.Rand, nblocks int) int
	lats  []time.Duration
	errs  int
}

// historyReads reads hot and random pages at random LSNs in (from, to]
// through the materializer (no read cache: the materialize benchmark runs
// with it off), n of each kind.
func (b *materializeBench) historyReads(ctx context.Context, n int) error {
	b.reads = []*historyRead{
		{name: "pgbench_branches block 0", table: "pgbench_branches", block: func(*rand.Rand, int) int { return 0 }},
		{name: "pgbench_tellers block 0", table: "pgbench_tellers", block: func(*rand.Rand, int) int { return 0 }},
		{name: "pgbench_accounts random blocks", table: "pgbench_accounts", block: func(r *rand.Rand, n int) int { return r.IntN(max(1, n)) }},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, hr := range b.reads {
		f, err := b.c.RelationFileContext(ctx, hr.table)
		if err != nil {
			return err
		}
		rel := schema.RelFileNode{SpcNode: f.SpcNode, DbNode: f.DbNode, RelNode: f.RelNode}
		for range n {
			tag := schema.BufferTag{Rel: rel, Fork: schema.MainForkNum, Block: schema.BlockNumber(hr.block(r, int(f.Blocks)))}
			lsn := b.from + 1 + schema.LSN(r.Uint64N(uint64(b.to-b.from)))
			t0 := time.Now()
			if _, _, err := b.mat.m.PageAt(ctx, tag, lsn); err != nil {
				hr.errs++ // not there yet at that LSN (a block the table grew into later)
				continue
			}
			hr.lats = append(hr.lats, time.Since(t0))
		}
		slices.Sort(hr.lats)
	}
	return nil
}

// reportHistoryReads adds the reads' latencies to rep.
func (b *materializeBench) reportHistoryReads(rep *Report) {
	if len(b.reads) == 0 {
		return
	}
	t := &Table{LabelWidth: 58, Columns: []Column{{"reads", 7, 0}, {"p50 ms", 9, 3}, {"p99 ms", 9, 3}, {"max ms", 9, 3}}}
	for _, hr := range b.reads {
		n := len(hr.lats)
		if n == 0 {
			continue
		}
		ms := func(d time.Duration) Value { return Num(float64(d.Microseconds()) / 1000) }
		p99 := hr.lats[min(n-1, n*99/100)]
		t.Rows = append(t.Rows, Row{Name: "historical read, no read cache: " + hr.name,
			Values: []Value{Num(float64(n)), ms(hr.lats[n/2]), ms(p99), ms(hr.lats[n-1])}})
		rep.Figure("history_read_p99_ms_"+hr.table, float64(p99.Microseconds())/1000)
	}
	rep.Add(Section{Table: t})
}
