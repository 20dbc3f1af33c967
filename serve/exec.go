package serve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve/pagestream"
)

// The materializer is the production page source.
var _ Pages = (*materialize.Materializer)(nil)

// LatestLSN as a request_lsn asks for the newest version, as Neon's
// Lsn::MAX does.
const LatestLSN = schema.LSN(^uint64(0))

// reqError is a failed request: the message the client reads (pagestream
// Error text or ErrorResponse message), the SQLSTATE for psql, and the
// kind for the errors metric.
type reqError struct {
	kind, code, msg, hint string
}

func (e *reqError) Error() string { return e.msg }

func badRequest(format string, args ...any) *reqError {
	return &reqError{kind: errBadRequest, code: "22023", msg: "Bad request: " + fmt.Sprintf(format, args...)}
}

// result is the outcome of one request.
type result struct {
	resp     pagestream.Response // the answer when err is nil
	lsn      schema.LSN          // the LSN the request was answered at
	notFound bool                // GetPage: no version at lsn, zeros returned
	err      *reqError
}

// effectiveLSN applies the pagestream LSN rules to a request: request_lsn
// 0 or below not_modified_since is a bad request, and one below the
// retention horizon is refused. The client promises the page did not
// change between not_modified_since and request_lsn, so any LSN in that
// range gives the same answer: the newest one already applied if that is
// in range (no wait), else not_modified_since, which must be waited for.
// It never goes below the horizon, which a request at or above it may
// meet while redo is still catching up with the base backup.
func effectiveLSN(req, nms, applied, horizon schema.LSN) (schema.LSN, *reqError) {
	if req == 0 {
		return 0, badRequest("request_lsn 0/0 is invalid (not_modified_since %s)", nms.Short())
	}
	if req < nms {
		return 0, badRequest("request_lsn %s is below not_modified_since %s", req.Short(), nms.Short())
	}
	if req < horizon {
		return 0, &reqError{kind: errBelowHorizon, code: "22023",
			msg: fmt.Sprintf("requested LSN %s is below the retention horizon %s: pagemill no longer has that history", req.Short(), horizon.Short())}
	}
	lsn := min(applied, req)
	lsn = max(lsn, nms, horizon)
	return lsn, nil
}

var errNotReadyReq = &reqError{kind: errNotReady, code: "55000",
	msg: "pagemill is not ready: the base backup of the source is not imported yet"}

// source returns the page source if it can serve reads.
func (s *Server) source() (Pages, *reqError) {
	p := s.pages()
	if p == nil {
		return nil, errNotReadyReq
	}
	select {
	case <-p.Ready():
		return p, nil
	default:
		return nil, errNotReadyReq
	}
}

func kindOf(t pagestream.Tag) int {
	switch t {
	case pagestream.TagGetPage:
		return kindGetPage
	case pagestream.TagNblocks:
		return kindNblocks
	case pagestream.TagExists:
		return kindExists
	case pagestream.TagDbSize:
		return kindDbSize
	}
	return kindGetSlru
}

// do answers one parsed request. ctx carries the connection's
// cancellation; the wait timeout is applied here. It holds no lock of its
// own, and what it waits on (the materializer's watermarks) holds none of
// redo's while it waits.
func (s *Server) do(ctx context.Context, req *pagestream.Request) (res result) {
	began := time.Now()
	defer func() { s.m.request[kindOf(req.Tag)].Observe(time.Since(began).Seconds()) }()
	res.resp.Req = *req
	res.resp.Tag = pagestream.ResponseFor(req.Tag)
	var slruRel uint32
	if req.Tag == pagestream.TagGetSlruSegment {
		var ok bool
		if slruRel, ok = slruKinds[req.SlruKind]; !ok {
			res.err = badRequest("invalid SLRU kind %d", req.SlruKind)
			return res
		}
	}
	var fork schema.ForkNumber
	if req.Tag != pagestream.TagDbSize && req.Tag != pagestream.TagGetSlruSegment {
		if req.Fork > uint8(schema.MaxForkNum) {
			res.err = badRequest("invalid fork number %d", req.Fork)
			return res
		}
		fork = schema.ForkNumber(req.Fork)
	}
	p, e := s.source()
	if e != nil {
		res.err = e
		return res
	}
	if req.Tag == pagestream.TagGetPage {
		tag := req.BufferTag()
		shard := p.ShardOf(tag)
		applied := p.AppliedShard(shard)
		if res.lsn, res.err = effectiveLSN(req.RequestLSN, req.NotModifiedSince, applied, p.Horizon()); res.err != nil {
			return res
		}
		if res.lsn > applied {
			lsn := res.lsn
			if res.err = s.wait(ctx, p, shard, lsn); res.err != nil {
				return res
			}
		}
		page, _, err := p.PageAt(ctx, tag, res.lsn)
		switch {
		case err == nil:
			res.resp.Page = page
		case errors.Is(err, pagestore.ErrNotFound):
			// No version at that LSN: a block past the end, or one the
			// relation was extended by and nobody wrote yet. PostgreSQL
			// reads zeros there, and so does Neon's pageserver.
			res.resp.Page, res.notFound = s.zeroPage, true
		default:
			res.err = s.classify(err, res.lsn)
		}
		return res
	}

	applied := p.Applied()
	if res.lsn, res.err = effectiveLSN(req.RequestLSN, req.NotModifiedSince, applied, p.Horizon()); res.err != nil {
		return res
	}
	if res.lsn > applied {
		lsn := res.lsn
		if res.err = s.wait(ctx, p, allShards, lsn); res.err != nil {
			return res
		}
	}
	switch req.Tag {
	case pagestream.TagExists, pagestream.TagNblocks:
		n, exists, err := p.RelSize(ctx, req.Rel, fork, res.lsn)
		if err != nil {
			res.err = s.classify(err, res.lsn)
			return res
		}
		res.resp.Exists, res.resp.NBlocks = exists, uint32(n)
		// A missing fsm or vm fork has 0 blocks (PostgreSQL asks before
		// creating them); a missing main or init fork is an error, so
		// that a compute never takes a relation it lost for an empty one.
		if req.Tag == pagestream.TagNblocks && !exists && fork != schema.FSMForkNum && fork != schema.VisibilityMapFork {
			res.err = &reqError{kind: errNotFound, code: "42P01",
				msg: fmt.Sprintf("relation %s fork %s does not exist at LSN %s", req.Rel, fork, res.lsn.Short())}
		}
	case pagestream.TagDbSize:
		n, err := p.DBSize(ctx, req.DbNode, res.lsn)
		if err != nil {
			res.err = s.classify(err, res.lsn)
			return res
		}
		res.resp.DBSize = n
	case pagestream.TagGetSlruSegment:
		res.resp.Segment, res.resp.NBlocks, res.err = s.slruSegment(ctx, p, slruRel, req.SlruSegNo, res.lsn)
	}
	return res
}

// slruKinds maps Neon's SlruKind (Clog 0, MultiXactMembers 1,
// MultiXactOffsets 2) to the auxiliary pseudo relations.
var slruKinds = map[uint8]uint32{
	0: schema.AuxRelXact,
	1: schema.AuxRelMultiXactMembers,
	2: schema.AuxRelMultiXactOffsets,
}

// slruSegment reads the pages of SLRU segment segno at lsn: as many as
// the segment file would hold (up to its last existing page; missing
// pages before it are zeros). A segment without pages is not found.
func (s *Server) slruSegment(ctx context.Context, p Pages, rel, segno uint32, lsn schema.LSN) ([]byte, uint32, *reqError) {
	var pages [schema.SlruPagesPerSegment]schema.Page
	n := 0
	for i := range pages {
		tag := schema.SlruTag(rel, segno*schema.SlruPagesPerSegment+uint32(i))
		page, _, err := p.PageAt(ctx, tag, lsn)
		switch {
		case err == nil:
			pages[i], n = page, i+1
		case errors.Is(err, pagestore.ErrNotFound):
		default:
			return nil, 0, s.classify(err, lsn)
		}
	}
	if n == 0 {
		dir, _ := schema.SlruDir(rel)
		return nil, 0, &reqError{kind: errNotFound, code: "58P01",
			msg: fmt.Sprintf("SLRU segment %s/%s does not exist at LSN %s", dir, schema.SlruSegmentName(segno), lsn.Short())}
	}
	seg := make([]byte, 0, n*schema.BLCKSZ)
	for _, pg := range pages[:n] {
		if pg == nil {
			pg = s.zeroPage
		}
		seg = append(seg, pg...)
	}
	return seg, uint32(n), nil
}

// answerable reports whether do would answer req without waiting for
// redo (errors included), from the applied LSNs as they are now.
func (s *Server) answerable(req *pagestream.Request) bool {
	p, e := s.source()
	if e != nil {
		return true
	}
	var applied schema.LSN
	if req.Tag == pagestream.TagGetPage {
		applied = p.AppliedShard(p.ShardOf(req.BufferTag()))
	} else {
		applied = p.Applied()
	}
	lsn, err := effectiveLSN(req.RequestLSN, req.NotModifiedSince, applied, p.Horizon())
	return err != nil || lsn <= applied
}

// wait waits for shard (or allShards) of p to apply lsn, with the
// configured timeout, keeping the metrics.
func (s *Server) wait(ctx context.Context, p Pages, shard int, lsn schema.LSN) *reqError {
	s.m.waiting.Inc()
	s.waiting.Add(1)
	began := time.Now()
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WaitTimeout)
	err := s.waitApplied(wctx, p, shard, lsn)
	cancel()
	s.waiting.Add(-1)
	s.m.waiting.Dec()
	s.m.waitSeconds.Observe(time.Since(began).Seconds())
	if err == nil {
		return nil
	}
	// What is applied now, over the shards the wait was for.
	now := s.line(p, shard).applied()
	switch {
	case ctx.Err() != nil:
		return &reqError{kind: errCanceled, code: "57014",
			msg: fmt.Sprintf("canceled while waiting for LSN %s to be applied (applied LSN %s)", lsn.Short(), now.Short())}
	case errors.Is(err, context.DeadlineExceeded):
		s.m.timeouts.Inc()
		return &reqError{kind: errTimeout, code: "57014",
			msg:  fmt.Sprintf("timed out after %s waiting for LSN %s to be applied; applied LSN is %s", s.cfg.WaitTimeout, lsn.Short(), now.Short()),
			hint: "redo is behind the LSN asked for; retry, or ask at an applied LSN"}
	}
	return s.classify(err, lsn)
}

// classify turns a page source error into a request error.
func (s *Server) classify(err error, lsn schema.LSN) *reqError {
	var we *materialize.WaitError
	switch {
	case errors.As(err, &we) && errors.Is(err, context.DeadlineExceeded):
		s.m.timeouts.Inc()
		return &reqError{kind: errTimeout, code: "57014",
			msg: fmt.Sprintf("timed out waiting for LSN %s to be applied; applied LSN is %s", we.LSN.Short(), we.Applied.Short())}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &reqError{kind: errCanceled, code: "57014", msg: fmt.Sprintf("canceled while reading at LSN %s", lsn.Short())}
	case errors.Is(err, materialize.ErrBelowHorizon):
		return &reqError{kind: errBelowHorizon, code: "22023", msg: err.Error()}
	case errors.Is(err, materialize.ErrNotReady):
		return errNotReadyReq
	case errors.Is(err, pagestore.ErrUnavailable):
		return &reqError{kind: errUnavailable, code: "XX001", msg: err.Error()}
	case errors.Is(err, pagestore.ErrNotFound):
		return &reqError{kind: errNotFound, code: "42P01", msg: err.Error()}
	}
	s.log.Warn("page read failed", "lsn", lsn, "err", err)
	return &reqError{kind: errInternal, code: "XX000", msg: "internal error: " + err.Error()}
}
