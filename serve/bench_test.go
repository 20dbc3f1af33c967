package serve_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve"
	"github.com/pagemill/pagemill/serve/client"
	"github.com/pagemill/pagemill/serve/pagestream"
)

// BenchmarkGetPage measures GetPage over loopback for the materialized
// pages of pgbench_accounts (scale 1, after a pgbench run, redo caught
// up), beside SELECT get_raw_page(...) through PostgreSQL itself for the
// same pages:
//
//	go test ./serve -run XXX -bench GetPage -benchtime 20000x
//
// serial: one request at a time on one connection (p50, p99 latency);
// pipelined: a window of requests in flight, on 1 and on 4 connections
// (pages/s). PostgreSQL's pipelined figure uses pgx batches (protocol
// pipelining) of the same size.
func BenchmarkGetPage(b *testing.B) {
	c := pgtest.Start(b, pgtest.Options{ExtraConf: map[string]string{"autovacuum": "off"}})
	c.Pgbench(b, "-i", "-s", "1", "-q")
	c.Exec(b, "CREATE EXTENSION pageinspect")
	p := pipetest.Start(b, c, pipetest.Options{})
	c.Pgbench(b, "-T", "2", "-c", "2")
	lsn := p.CatchUp(b, c)
	srv := startServer(b, p, time.Minute)
	g := &getPageBench{c: c, p: p, lsn: lsn, srv: srv, ctx: context.Background()}
	g.rel, g.nblocks = relation(b, c, "pgbench_accounts")

	// The page source alone, in process: what serve adds is the rest.
	b.Run("source/serial", g.sourceSerial)
	b.Run("source/parallel", g.sourceParallel)
	b.Run("pagemill/serial", g.pagemillSerial)
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("pagemill/pipelined-%dconn", conns), func(b *testing.B) { g.pagemillPipelined(b, conns) })
	}
	b.Run("postgres/serial", g.postgresSerial)
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("postgres/pipelined-%dconn", conns), func(b *testing.B) { g.postgresPipelined(b, conns) })
	}
}

// getPageBench is BenchmarkGetPage's source, pipeline and server, and the
// relation it reads.
type getPageBench struct {
	c       *pgtest.Cluster
	p       *pipetest.Pipeline
	lsn     schema.LSN
	srv     *serve.Server
	rel     schema.RelFileNode
	nblocks int
	ctx     context.Context
}

func (g *getPageBench) tag(i int) schema.BufferTag {
	return schema.BufferTag{Rel: g.rel, Fork: schema.MainForkNum, Block: schema.BlockNumber(i % g.nblocks)}
}

// stream opens a v3 pagestream, closed when b ends.
func (g *getPageBench) stream(b *testing.B) *client.Stream {
	cc, err := client.Connect(g.ctx, client.Config{Addr: g.srv.Addr()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	tenant, timeline, err := cc.IDs(g.ctx)
	if err != nil {
		b.Fatal(err)
	}
	st, err := cc.Pagestream(g.ctx, pagestream.V3, tenant, timeline)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// req is request i as a primary sends it: latest, not modified since lsn.
func (g *getPageBench) req(i int) pagestream.Request {
	return client.GetPageRequest(g.tag(i), serve.LatestLSN, g.lsn)
}

// pg opens a connection to the source, closed when b ends.
func (g *getPageBench) pg(b *testing.B) *pgx.Conn {
	conn, err := g.c.Connect(g.ctx, "postgres")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(g.ctx) })
	return conn
}

// getRawPage is the query the postgres benchmarks read pages with.
const getRawPage = "SELECT get_raw_page('pgbench_accounts', 'main', $1)"

func (g *getPageBench) sourceSerial(b *testing.B) {
	serial(b, func(i int) {
		if _, _, err := g.p.Mat.PageAt(g.ctx, g.tag(i), g.p.Mat.AppliedShard(g.p.Mat.ShardOf(g.tag(i)))); err != nil {
			b.Fatal(err)
		}
	})
}

func (g *getPageBench) sourceParallel(b *testing.B) {
	began := time.Now()
	var i atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := g.tag(int(i.Add(1)))
			if _, _, err := g.p.Mat.PageAt(g.ctx, t, g.p.Mat.AppliedShard(g.p.Mat.ShardOf(t))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "pages/s")
}

func (g *getPageBench) pagemillSerial(b *testing.B) {
	st := g.stream(b)
	serial(b, func(i int) {
		r := g.req(i)
		resp, err := st.Do(g.ctx, &r)
		if err != nil || resp.Tag != pagestream.TagGetPageResponse {
			b.Fatalf("%v %s %s", err, resp.Tag, resp.Message)
		}
	})
}

func (g *getPageBench) pagemillPipelined(b *testing.B, conns int) {
	pipelined(b, conns, g.stream, func(st *client.Stream, k, n int) {
		reqs := make([]pagestream.Request, n)
		for i := range reqs {
			reqs[i] = g.req(k*n + i)
		}
		if err := st.Pipeline(g.ctx, reqs, 256, func(_ int, resp *pagestream.Response) error {
			if resp.Tag != pagestream.TagGetPageResponse {
				return fmt.Errorf("%s %s", resp.Tag, resp.Message)
			}
			return nil
		}); err != nil {
			b.Error(err)
		}
	})
}

func (g *getPageBench) postgresSerial(b *testing.B) {
	conn := g.pg(b)
	var page []byte
	serial(b, func(i int) {
		if err := conn.QueryRow(g.ctx, getRawPage, i%g.nblocks).Scan(&page); err != nil || len(page) != schema.BLCKSZ {
			b.Fatal(err)
		}
	})
}

func (g *getPageBench) postgresPipelined(b *testing.B, conns int) {
	pipelined(b, conns, g.pg, func(conn *pgx.Conn, k, n int) {
		for done := 0; done < n; {
			batch := &pgx.Batch{}
			m := min(256, n-done)
			for i := range m {
				batch.Queue(getRawPage, (k*n+done+i)%g.nblocks)
			}
			br := conn.SendBatch(g.ctx, batch)
			var page []byte
			for range m {
				if err := br.QueryRow().Scan(&page); err != nil {
					b.Error(err)
					br.Close()
					return
				}
			}
			br.Close()
			done += m
		}
	})
}

// serial times read(i) for each of b.N requests, one after another, and
// reports the latency percentiles.
func serial(b *testing.B, read func(i int)) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		read(i)
		lat = append(lat, time.Since(began))
	}
	reportLatency(b, lat)
}

// pipelined opens conns connections with open and runs work(conn, k, n)
// on each connection k at once, n requests each (b.N in all), and reports
// pages/s.
func pipelined[C any](b *testing.B, conns int, open func(*testing.B) C, work func(conn C, k, n int)) {
	cs := make([]C, conns)
	for k := range cs {
		cs[k] = open(b)
	}
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(c, k, b.N/conns)
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "pages/s")
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50_µs")
	b.ReportMetric(pct(0.99), "p99_µs")
}
