package serve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/serve/pagestream"
)

// job is one pipelined request: the reader creates it in arrival order,
// a goroutine of its own answers it, the writer sends the answers in
// arrival order.
type job struct {
	req  pagestream.Request
	res  result
	done chan struct{} // closed when res is set
}

// stream is one connection in pagestream mode.
type stream struct {
	c      *conn
	v      pagestream.Version
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan *job // in request order; its capacity bounds the work in flight
	jobs   sync.WaitGroup
	werr   error // the writer's first write error
}

// pagestream switches the connection into CopyBoth mode and serves
// requests until the client sends CopyDone (back to simple queries),
// Terminate, or breaks the protocol (the connection is closed).
func (c *conn) pagestream(v pagestream.Version, tenant, timeline string) error {
	wantTenant, wantTimeline, known := c.s.ids()
	switch {
	case !known:
		c.sendError(&reqError{kind: errNotReady, code: "55000",
			msg: "pagemill does not know its source yet: no tenant or timeline to stream"})
		c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		return nil
	case tenant != wantTenant || timeline != wantTimeline:
		c.sendError(&reqError{kind: errWrongTenant, code: "3D000",
			msg:  fmt.Sprintf("tenant %s timeline %s is not served here", tenant, timeline),
			hint: fmt.Sprintf("this pagemill serves tenant %s timeline %s (see status)", wantTenant, wantTimeline)})
		c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		return nil
	}
	c.be.Send(&pgproto3.CopyBothResponse{OverallFormat: 0})
	if err := c.be.Flush(); err != nil {
		return err
	}
	c.be.SetMaxBodyLen(maxStreamBytes)
	defer c.be.SetMaxBodyLen(maxQueryBytes)

	st := &stream{c: c, v: v, queue: make(chan *job, c.s.cfg.MaxInFlight)}
	st.ctx, st.cancel = context.WithCancel(c.ctx)
	defer st.cancel()
	c.setOpBase(st.ctx)
	defer c.setOpBase(nil)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		st.write()
	}()
	// finish ends the stream: abort cancels what is in flight (its
	// answers are dropped), else every request is answered first.
	finish := func(abort bool) error {
		if abort {
			st.cancel()
		}
		close(st.queue)
		<-writerDone
		st.jobs.Wait()
		return st.werr
	}
	for {
		msg, err := c.be.Receive()
		if err != nil {
			_ = finish(true)
			var tooBig *pgproto3.ExceededMaxBodyLenErr
			if errors.As(err, &tooBig) || !isClosedErr(err) {
				c.s.m.errors.WithLabelValues(errProtocol).Inc()
				c.rawError("FATAL", "08P01", "protocol error in pagestream: "+err.Error())
			}
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if !st.submit(m.Data) {
				_ = finish(true)
				return st.ctx.Err()
			}
		case *pgproto3.CopyDone:
			if err := finish(false); err != nil {
				return err
			}
			c.be.Send(&pgproto3.CopyDone{})
			c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")})
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			return nil
		case *pgproto3.CopyFail:
			if err := finish(true); err != nil {
				return err
			}
			c.sendError(&reqError{kind: errCanceled, code: "57014", msg: "pagestream ended by the client: " + m.Message})
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			return nil
		case *pgproto3.Terminate:
			_ = finish(true)
			return errTerminate
		case *pgproto3.Flush, *pgproto3.Sync:
			// Harmless in copy mode; responses are flushed anyway.
		default:
			_ = finish(true)
			c.s.m.errors.WithLabelValues(errProtocol).Inc()
			c.rawError("FATAL", "08P01", fmt.Sprintf("protocol error: unexpected %T in pagestream mode", msg))
			return fmt.Errorf("unexpected %T in pagestream mode", msg)
		}
	}
}

// submit parses one request and queues it; false when the stream ended.
func (st *stream) submit(data []byte) bool {
	j := &job{done: make(chan struct{})}
	req, err := pagestream.ParseRequest(st.v, data)
	j.req = req
	if err != nil {
		// A malformed request costs the client an Error response in its
		// place; the framing (one request per CopyData) is intact, so the
		// stream goes on.
		var pe *pagestream.ParseError
		errors.As(err, &pe)
		j.req = pagestream.Request{Header: pe.Header}
		j.res.err = badRequest("%s", err)
		close(j.done)
	}
	inline := err == nil && len(st.queue) == 0 && st.c.s.answerable(&j.req)
	if inline {
		// Nothing else queued and nothing to wait for (the serial case):
		// answering here spares two goroutine hand-offs of latency.
		j.res = st.c.s.do(st.c.op(), &j.req)
		close(j.done)
	}
	// Queue before starting, so that a full queue holds the reader back
	// (and with it the client) instead of piling up goroutines.
	select {
	case st.queue <- j:
	case <-st.ctx.Done():
		return false
	}
	if err == nil && !inline {
		ctx := st.c.op()
		st.jobs.Add(1)
		go func() {
			defer st.jobs.Done()
			j.res = st.c.s.do(ctx, &j.req)
			close(j.done)
		}()
	}
	return true
}

// write sends the answers in request order. It flushes when the next
// answer is not ready yet, so pipelined answers share writes and a lone
// request is not held back.
func (st *stream) write() {
	s := st.c.s
	buf := make([]byte, 0, 64<<10)
	flush := func() {
		if len(buf) == 0 || st.werr != nil {
			buf = buf[:0]
			return
		}
		_ = st.c.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := st.c.nc.Write(buf); err != nil {
			st.werr = fmt.Errorf("pagestream write: %w", err)
			st.cancel() // the client is gone: stop the work in flight
		}
		buf = buf[:0]
	}
	for {
		var j *job
		var ok bool
		select {
		case j, ok = <-st.queue:
		default:
			flush()
			j, ok = <-st.queue
		}
		if !ok {
			flush()
			return
		}
		select {
		case <-j.done:
		default:
			flush()
			<-j.done // every job ends: its waits end with st.ctx
		}
		if st.ctx.Err() != nil {
			continue // aborted stream (or the client is gone): nobody reads the answer
		}
		buf = st.appendAnswer(buf, j)
		if len(buf) >= 256<<10 {
			flush()
		}
	}
}

// appendAnswer appends the CopyData message answering j.
func (st *stream) appendAnswer(buf []byte, j *job) []byte {
	resp := &j.res.resp
	if j.res.err != nil {
		st.c.s.m.errors.WithLabelValues(j.res.err.kind).Inc()
		resp = &pagestream.Response{Tag: pagestream.TagErrorResponse, Req: j.req, Message: j.res.err.msg}
	}
	n := pagestream.ResponseLen(st.v, resp)
	buf = append(buf, 'd')
	buf = binary.BigEndian.AppendUint32(buf, uint32(4+n))
	return pagestream.AppendResponse(buf, st.v, resp)
}
