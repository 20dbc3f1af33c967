package serve

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve/client"
	"github.com/pagemill/pagemill/serve/pagestream"
)

func TestEffectiveLSN(t *testing.T) {
	const applied, horizon = 0x3000, 0x1000
	for _, tc := range []struct {
		req, nms, want schema.LSN
		err            string
	}{
		{req: 0, nms: 0, err: "Bad request: request_lsn 0/0 is invalid"},
		{req: 0x2000, nms: 0x2500, err: "Bad request: request_lsn 0/2000 is below not_modified_since 0/2500"},
		{req: 0x800, nms: 0x800, err: "below the retention horizon 0/1000"},
		{req: 0x2000, nms: 0x2000, want: 0x2000},                    // in the past: exactly there
		{req: 0x5000, nms: 0x2000, want: applied},                   // not modified since an applied LSN: no wait
		{req: LatestLSN, nms: 0, want: applied},                     // latest
		{req: 0x5000, nms: 0x4000, want: 0x4000},                    // wait for not_modified_since
		{req: 0x5000, nms: 0x5000, want: 0x5000},                    // wait for request_lsn
		{req: 0x1000, nms: 0, want: 0x1000},                         // at the horizon
		{req: LatestLSN, nms: 0x3000, want: applied},                // nms == applied
		{req: 0x2000, nms: 0x800, want: 0x2000},                     // nms below the horizon is fine
		{req: 0x1800, nms: 0x1800, want: 0x1800},                    // older than applied
		{req: 0x3000 + 1, nms: 0x3000 + 1, want: 0x3000 + 1},        // just ahead
		{req: LatestLSN, nms: LatestLSN, want: LatestLSN},           // nonsense but consistent: waits forever (timeout)
		{req: 0x2000, nms: 0, want: 0x2000},                         // nms 0 is "no hint"
		{req: 0x1500, nms: 0x1200, want: 0x1500},                    // both in the past
		{req: 0x4000, nms: 0x3000, want: applied},                   // nms exactly applied
		{req: 0x3000, nms: 0x0, want: applied},                      // req exactly applied
		{req: 0x2fff, nms: 0x0, want: 0x2fff},                       // req just below applied
		{req: 0x1001, nms: 0x1001, want: 0x1001},                    // just above the horizon
		{req: 0xfff, nms: 0, err: "below the retention horizon"},    // just below it
		{req: 0x3001, nms: 0x3002, err: "below not_modified_since"}, // inverted
	} {
		got, err := effectiveLSN(tc.req, tc.nms, applied, horizon)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.msg, tc.err) {
				t.Errorf("req %s nms %s: got %v, want error %q", tc.req, tc.nms, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("req %s nms %s: got %s %v, want %s", tc.req, tc.nms, got, err, tc.want)
		}
	}
	// Applied still below the horizon (redo catching up with the base
	// backup): read at the horizon, waiting for it.
	if got, err := effectiveLSN(LatestLSN, 0, 0x800, 0x1000); err != nil || got != 0x1000 {
		t.Errorf("applied below the horizon: %s %v", got, err)
	}
}

func openStream(t *testing.T, addr string, v pagestream.Version) (*client.Conn, *client.Stream) {
	t.Helper()
	c := connect(t, addr)
	ctx := context.Background()
	tenant, timeline, err := c.IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Pagestream(ctx, v, tenant, timeline)
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

// TestClientPipeline: the Go client's pipelined GetPage over both
// versions, answers checked in order, then back to simple queries.
func TestClientPipeline(t *testing.T) {
	srv, _ := startFake(t, Config{})
	for _, v := range []pagestream.Version{pagestream.V2, pagestream.V3} {
		c, st := openStream(t, srv.Addr(), v)
		var reqs []pagestream.Request
		for i := range 1000 {
			reqs = append(reqs, client.GetPageRequest(fakeTag(schema.BlockNumber(i%3)), 0x3000000, 0))
		}
		want := []byte{0x10, 0x21, 0x12}
		err := st.Pipeline(context.Background(), reqs, 50, func(i int, resp *pagestream.Response) error {
			if err := client.AsError(resp); err != nil {
				return err
			}
			if resp.Tag != pagestream.TagGetPageResponse || resp.Page[100] != want[i%3] {
				return fmt.Errorf("answer %d: %s %x", i, resp.Tag, resp.Page[100])
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if err := st.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		query1(t, c, "status")
	}
}

// TestPagestreamCancel: a CancelRequest ends the waits in progress of a
// pagestream (they are answered with errors) and the stream goes on.
func TestPagestreamCancel(t *testing.T) {
	srv, _ := startFake(t, Config{WaitTimeout: time.Minute})
	c, st := openStream(t, srv.Addr(), pagestream.V3)
	for i := range 5 {
		req := client.GetPageRequest(fakeTag(0), 0x9000000, 0x9000000)
		req.ReqID = uint64(i + 1)
		st.Send(&req)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "five waits", func() bool { return srv.Waiting() == 5 })
	if err := c.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		resp, err := st.Recv(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Tag != pagestream.TagErrorResponse || resp.Req.ReqID != uint64(i+1) ||
			!strings.Contains(resp.Message, "canceled while waiting for LSN 0/9000000 to be applied (applied LSN 0/3000000)") {
			t.Fatalf("answer %d: %s %q", i, resp.Tag, resp.Message)
		}
	}
	if p, err := st.GetPage(context.Background(), fakeTag(1), 0x3000000, 0); err != nil || p[0] != 0x21 {
		t.Fatalf("after cancel: %v", err)
	}
}

// TestWrongTenant: pagestream for another tenant or timeline is refused
// with the ids this server has; the connection stays usable.
func TestWrongTenant(t *testing.T) {
	srv, _ := startFake(t, Config{})
	c := connect(t, srv.Addr())
	tenant, timeline, _ := c.IDs(context.Background())
	_, err := c.Pagestream(context.Background(), pagestream.V2, tenant, TimelineID(7000000000000000001, 2))
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != "3D000" || !strings.Contains(se.Hint, timeline) {
		t.Fatalf("wrong timeline: %v", err)
	}
	// Upper-case ids are the same ids.
	st, err := c.Pagestream(context.Background(), pagestream.V2, strings.ToUpper(tenant), strings.ToUpper(timeline))
	if err != nil {
		t.Fatal(err)
	}
	st.Close(context.Background())

	// Before the source is known there is nothing to stream.
	fake := newFakePages()
	unknown, err := New(Config{Addr: "127.0.0.1:0", Pages: StaticPages(fake)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, unknown)
	c2 := connect(t, unknown.Addr())
	if _, err := c2.Pagestream(context.Background(), pagestream.V3, tenant, timeline); !errors.As(err, &se) || se.Code != "55000" {
		t.Fatalf("unknown source: %v", err)
	}
	// And without pages, requests say not ready.
	noPages, _ := startFake(t, Config{Pages: func() Pages { return nil }})
	c3 := connect(t, noPages.Addr())
	if se := queryErr(t, c3, "get_page 1663/5/16384 main 0"); se.Code != "55000" || !strings.Contains(se.Message, "not ready") {
		t.Fatalf("no pages: %v", se)
	}
}

// TestNoLeaks: connections in every state (waiting pagestream requests,
// idle, mid-startup) end with the server, and every goroutine with them.
func TestNoLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	fake := newFakePages()
	srv, err := New(Config{Addr: "127.0.0.1:0", Pages: StaticPages(fake),
		Identity: func() Identity { return Identity{SystemID: 1, Timeline: 1} }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var wg sync.WaitGroup
	for i := range 10 {
		c, err := client.Connect(context.Background(), client.Config{Addr: srv.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 0 {
			continue // idle
		}
		tenant, timeline, _ := c.IDs(context.Background())
		st, err := c.Pagestream(context.Background(), pagestream.Version(2+i%2), tenant, timeline)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			req := client.GetPageRequest(fakeTag(0), 0x9000000, 0x9000000)
			st.Send(&req)
		}
		st.Flush()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := st.Recv(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	waitFor(t, "100 waits", func() bool { return srv.Waiting() == 100 })
	if srv.ActiveConns() != 10 {
		t.Fatalf("%d connections", srv.ActiveConns())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if srv.ActiveConns() != 0 || srv.Waiting() != 0 {
		t.Fatalf("after Run: %d connections, %d waits", srv.ActiveConns(), srv.Waiting())
	}
	wg.Wait()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base+2 })
}

// BenchmarkPagestreamFake measures the serve layer alone: GetPage over
// loopback from the in-memory fake, whose reads cost next to nothing.
// BenchmarkGetPage (e2e) measures it over the real materializer.
func BenchmarkPagestreamFake(b *testing.B) {
	fake := newFakePages()
	srv, err := New(Config{Addr: "127.0.0.1:0", Pages: StaticPages(fake),
		Identity: func() Identity { return Identity{SystemID: 1, Timeline: 1} }}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	runServer(b, srv)
	open := func(b *testing.B) *client.Stream {
		c, err := client.Connect(context.Background(), client.Config{Addr: srv.Addr()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		st, err := c.Pagestream(context.Background(), pagestream.V3, TenantID(1), TimelineID(1, 1))
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	b.Run("serial", func(b *testing.B) {
		st := open(b)
		for i := range b.N {
			if _, err := st.GetPage(context.Background(), fakeTag(schema.BlockNumber(i%3)), LatestLSN, 0x3000000); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("pipelined-%dconn", conns), func(b *testing.B) {
			var wg sync.WaitGroup
			began := time.Now()
			for range conns {
				st := open(b)
				reqs := make([]pagestream.Request, b.N/conns)
				for i := range reqs {
					reqs[i] = client.GetPageRequest(fakeTag(schema.BlockNumber(i%3)), LatestLSN, 0x3000000)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := st.Pipeline(context.Background(), reqs, 256, func(int, *pagestream.Response) error { return nil }); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "pages/s")
		})
	}
}
