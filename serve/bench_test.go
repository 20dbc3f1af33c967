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
	rel, nblocks := relation(b, c, "pgbench_accounts")
	tag := func(i int) schema.BufferTag {
		return schema.BufferTag{Rel: rel, Fork: schema.MainForkNum, Block: schema.BlockNumber(i % nblocks)}
	}
	ctx := context.Background()
	stream := func(b *testing.B) *client.Stream {
		cc, err := client.Connect(ctx, client.Config{Addr: srv.Addr()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cc.Close() })
		tenant, timeline, err := cc.IDs(ctx)
		if err != nil {
			b.Fatal(err)
		}
		st, err := cc.Pagestream(ctx, pagestream.V3, tenant, timeline)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	// Requests as a primary sends them: latest, not modified since lsn.
	req := func(i int) pagestream.Request { return client.GetPageRequest(tag(i), serve.LatestLSN, lsn) }

	// The page source alone, in process: what serve adds is the rest.
	b.Run("source/serial", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for i := range b.N {
			began := time.Now()
			if _, _, err := p.Mat.PageAt(ctx, tag(i), p.Mat.AppliedShard(p.Mat.ShardOf(tag(i)))); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(began))
		}
		reportLatency(b, lat)
	})
	b.Run("source/parallel", func(b *testing.B) {
		began := time.Now()
		var i atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t := tag(int(i.Add(1)))
				if _, _, err := p.Mat.PageAt(ctx, t, p.Mat.AppliedShard(p.Mat.ShardOf(t))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "pages/s")
	})
	b.Run("pagemill/serial", func(b *testing.B) {
		st := stream(b)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			began := time.Now()
			r := req(i)
			resp, err := st.Do(ctx, &r)
			if err != nil || resp.Tag != pagestream.TagGetPageResponse {
				b.Fatalf("%v %s %s", err, resp.Tag, resp.Message)
			}
			lat = append(lat, time.Since(began))
		}
		reportLatency(b, lat)
	})
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("pagemill/pipelined-%dconn", conns), func(b *testing.B) {
			streams := make([]*client.Stream, conns)
			for i := range streams {
				streams[i] = stream(b)
			}
			pipelined(b, conns, func(k, n int) {
				reqs := make([]pagestream.Request, n)
				for i := range reqs {
					reqs[i] = req(k*n + i)
				}
				if err := streams[k].Pipeline(ctx, reqs, 256, func(_ int, resp *pagestream.Response) error {
					if resp.Tag != pagestream.TagGetPageResponse {
						return fmt.Errorf("%s %s", resp.Tag, resp.Message)
					}
					return nil
				}); err != nil {
					b.Error(err)
				}
			})
		})
	}

	pg := func(b *testing.B) *pgx.Conn {
		conn, err := c.Connect(ctx, "postgres")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(ctx) })
		return conn
	}
	const q = "SELECT get_raw_page('pgbench_accounts', 'main', $1)"
	b.Run("postgres/serial", func(b *testing.B) {
		conn := pg(b)
		lat := make([]time.Duration, 0, b.N)
		var page []byte
		b.ResetTimer()
		for i := range b.N {
			began := time.Now()
			if err := conn.QueryRow(ctx, q, i%nblocks).Scan(&page); err != nil || len(page) != schema.BLCKSZ {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(began))
		}
		reportLatency(b, lat)
	})
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("postgres/pipelined-%dconn", conns), func(b *testing.B) {
			pconns := make([]*pgx.Conn, conns)
			for i := range pconns {
				pconns[i] = pg(b)
			}
			pipelined(b, conns, func(k, n int) {
				for done := 0; done < n; {
					batch := &pgx.Batch{}
					m := min(256, n-done)
					for i := range m {
						batch.Queue(q, (k*n+done+i)%nblocks)
					}
					br := pconns[k].SendBatch(ctx, batch)
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
		})
	}
}

// pipelined runs work(k, n) for each of conns connections k at once, n
// requests each (b.N in all), and reports pages/s.
func pipelined(b *testing.B, conns int, work func(k, n int)) {
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for k := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(k, b.N/conns)
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
