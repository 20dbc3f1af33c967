package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve"
)

// servers makes the HTTP and pgwire servers the config asks for (nil for
// those it does not) and registers ingest's health check. On error
// nothing is left listening.
func (n *Node) servers(ing *ingest.Ingester) (*ops.HTTPServer, *serve.Server, error) {
	var httpSrv *ops.HTTPServer
	if ing != nil {
		n.health.Register("replication", replicationCheck(ing))
	}
	if n.cfg.HTTPListen != "" {
		var err error
		if httpSrv, err = ops.NewHTTPServer(n.cfg.HTTPListen, n.reg, n.health, n.log); err != nil {
			return nil, nil, err
		}
		n.mu.Lock()
		n.httpAddr = httpSrv.Addr()
		n.mu.Unlock()
	}
	if n.cfg.PGListen == "" || ing == nil {
		return httpSrv, nil, nil
	}
	pgSrv, err := serve.New(n.serveConfig(ing), n.reg, n.log)
	if err != nil {
		closeHTTP(httpSrv)
		return nil, nil, err
	}
	n.mu.Lock()
	n.pgAddr = pgSrv.Addr()
	n.mu.Unlock()
	return httpSrv, pgSrv, nil
}

// closeHTTP closes a server that will not run.
func closeHTTP(s *ops.HTTPServer) {
	if s == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.Run(ctx) // shuts down at once
}

func replicationCheck(ing *ingest.Ingester) ops.CheckFunc {
	return func(context.Context) error {
		if st := ing.Status(); !st.Connected {
			if st.LastError != "" {
				return errors.New("replication not connected: " + st.LastError)
			}
			return errors.New("replication not connected")
		}
		return nil
	}
}

// serveConfig is the pgwire server's: pages, status and basebackup from
// the materializer once it runs.
func (n *Node) serveConfig(ing *ingest.Ingester) serve.Config {
	return serve.Config{
		Addr: n.cfg.PGListen,
		BaseBackup: func(ctx context.Context, lsn schema.LSN, w io.Writer) (schema.LSN, error) {
			p := n.parts.Load()
			if p == nil {
				return 0, materialize.ErrNotReady
			}
			return p.backup.TarAt(ctx, lsn, w, n.cfg.WaitTimeout)
		},
		Pages: func() serve.Pages {
			if m := n.Materializer(); m != nil {
				return m
			}
			return nil // no typed nil: not ready yet
		},
		Identity: func() serve.Identity {
			st := ing.Status()
			return serve.Identity{SystemID: st.SystemID, Timeline: st.Timeline}
		},
		Status:      func() []serve.Row { return statusRows(ing.Status(), n.Materializer()) },
		WaitTimeout: n.cfg.WaitTimeout,
		Auth:        n.cfg.Auth,
		TLS:         n.cfg.TLS,
	}
}

// statusRows are the rows of the pgwire `status` command.
func statusRows(st ingest.Status, m *materialize.Materializer) []serve.Row {
	rows := []serve.Row{
		{Name: "system_identifier", Value: strconv.FormatUint(st.SystemID, 10)},
		{Name: "timeline", Value: strconv.FormatUint(uint64(st.Timeline), 10)},
		{Name: "timeline_history", Value: st.History.String()},
		{Name: "streaming_timeline", Value: strconv.FormatUint(uint64(st.StreamingTimeline), 10)},
		{Name: "replication_connected", Value: strconv.FormatBool(st.Connected)},
		{Name: "received_lsn", Value: st.ReceivedLSN.Short()},
		{Name: "published_lsn", Value: st.PublishedLSN.Short()},
		{Name: "source_lsn", Value: st.SourceLSN.Short()},
	}
	if bb := st.BaseBackup; bb != nil {
		rows = append(rows,
			serve.Row{Name: "basebackup_start_lsn", Value: bb.StartLSN.Short()},
			serve.Row{Name: "basebackup_completed", Value: strconv.FormatBool(bb.Completed)},
			serve.Row{Name: "basebackup_pages", Value: strconv.FormatInt(bb.Pages, 10)},
		)
	}
	if m != nil {
		rows = append(rows, serve.Row{Name: "applied_lsn", Value: m.Applied().Short()},
			serve.Row{Name: "durable_lsn", Value: m.Durable().Short()},
			serve.Row{Name: "applied_timeline", Value: strconv.FormatUint(uint64(m.Layout().Timeline), 10)},
			serve.Row{Name: "page_store_timeline_history", Value: m.Store().TimeLineHistory().String()})
		if ck, cp, err := m.ControlData(); err == nil {
			rows = append(rows,
				serve.Row{Name: "checkpoint_lsn", Value: ck.LSN.Short()},
				serve.Row{Name: "checkpoint_redo_lsn", Value: cp.Redo.Short()},
				serve.Row{Name: "next_xid", Value: fmt.Sprintf("%d:%d", cp.NextXidEpoch(), cp.NextXidXid())},
				serve.Row{Name: "next_oid", Value: strconv.FormatUint(uint64(cp.NextOid), 10)},
				serve.Row{Name: "next_multixact", Value: strconv.FormatUint(uint64(cp.NextMulti), 10)},
				serve.Row{Name: "oldest_xid", Value: strconv.FormatUint(uint64(cp.OldestXid), 10)},
			)
		}
	}
	if st.LastError != "" {
		rows = append(rows, serve.Row{Name: "last_error", Value: st.LastError})
	}
	return rows
}
