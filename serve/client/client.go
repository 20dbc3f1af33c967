// Package client is a Go client for pagemill's pgwire front end: simple
// queries (status, get_page, …) and the pagestream protocol (v2, v3), with
// pipelined requests. It speaks the PostgreSQL frontend protocol through
// pgproto3, with TLS, cleartext and SCRAM-SHA-256 authentication (pgconn's
// implementation is not reachable without a full pgconn connection, so
// the SCRAM client lives here).
//
// A Conn is used by one goroutine at a time, except that a Stream may have
// one goroutine sending (Send, Flush) while another receives (Recv).
package client

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve/pagestream"
)

// Config says where and how to connect.
type Config struct {
	// Addr is HOST:PORT.
	Addr string
	// User and Database go into the startup packet (default "pagemill").
	User, Database string
	// Password answers a cleartext or SCRAM-SHA-256 request.
	Password string
	// TLS, when set, is required: the client sends an SSLRequest and fails
	// if the server refuses it.
	TLS *tls.Config
	// ApplicationName shows up in the server's logs.
	ApplicationName string
}

// ServerError is an ErrorResponse from the server.
type ServerError struct {
	Severity, Code, Message, Hint string
}

func (e *ServerError) Error() string {
	s := fmt.Sprintf("%s: %s (SQLSTATE %s)", e.Severity, e.Message, e.Code)
	if e.Hint != "" {
		s += "; hint: " + e.Hint
	}
	return s
}

func serverError(m *pgproto3.ErrorResponse) *ServerError {
	return &ServerError{Severity: m.Severity, Code: m.Code, Message: m.Message, Hint: m.Hint}
}

// Conn is one connection.
type Conn struct {
	cfg    Config
	nc     net.Conn
	fe     *pgproto3.Frontend
	pid    uint32
	secret []byte
	// Params are the server's ParameterStatus values.
	Params map[string]string
}

// Connect opens a connection and authenticates.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.User == "" {
		cfg.User = "pagemill"
	}
	if cfg.Database == "" {
		cfg.Database = "pagemill"
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	c := &Conn{cfg: cfg, nc: nc, Params: map[string]string{}}
	stop := c.watch(ctx)
	err = c.startup(ctx)
	if !stop() && err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	return c, nil
}

// watch makes ctx's end interrupt blocking I/O on the connection; the
// returned stop reports whether it had not fired, and clears the deadline.
func (c *Conn) watch(ctx context.Context) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return true }
	}
	if d, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(d)
	}
	s := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() bool {
		ok := s()
		if ok {
			_ = c.nc.SetDeadline(time.Time{})
		}
		return ok
	}
}

func (c *Conn) startup(ctx context.Context) error {
	if c.cfg.TLS != nil {
		b, _ := (&pgproto3.SSLRequest{}).Encode(nil)
		if _, err := c.nc.Write(b); err != nil {
			return err
		}
		var answer [1]byte
		if _, err := io.ReadFull(c.nc, answer[:]); err != nil {
			return err
		}
		if answer[0] != 'S' {
			return errors.New("server refused TLS")
		}
		tc := tls.Client(c.nc, c.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c.nc = tc
	}
	c.fe = pgproto3.NewFrontend(c.nc, c.nc)
	params := map[string]string{"user": c.cfg.User, "database": c.cfg.Database}
	if c.cfg.ApplicationName != "" {
		params["application_name"] = c.cfg.ApplicationName
	}
	c.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params})
	if err := c.fe.Flush(); err != nil {
		return err
	}
	var scram *scramClient
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk:
		case *pgproto3.AuthenticationCleartextPassword:
			c.fe.Send(&pgproto3.PasswordMessage{Password: c.cfg.Password})
			if err := c.fe.Flush(); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASL:
			if !contains(m.AuthMechanisms, "SCRAM-SHA-256") {
				return fmt.Errorf("server offers SASL %v, not SCRAM-SHA-256", m.AuthMechanisms)
			}
			scram = newSCRAMClient(c.cfg.Password)
			c.fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: scram.first()})
			if err := c.fe.Flush(); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASLContinue:
			if scram == nil {
				return errors.New("SASL continue without SASL")
			}
			final, err := scram.final(m.Data)
			if err != nil {
				return err
			}
			c.fe.Send(&pgproto3.SASLResponse{Data: final})
			if err := c.fe.Flush(); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASLFinal:
			if scram == nil || !scram.verify(m.Data) {
				return errors.New("the server's SCRAM signature is wrong")
			}
		case *pgproto3.ParameterStatus:
			c.Params[m.Name] = m.Value
		case *pgproto3.BackendKeyData:
			c.pid, c.secret = m.ProcessID, append([]byte(nil), m.SecretKey...)
		case *pgproto3.NegotiateProtocolVersion:
		case *pgproto3.ErrorResponse:
			return serverError(m)
		case *pgproto3.ReadyForQuery:
			return nil
		default:
			return fmt.Errorf("unexpected %T during startup", msg)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Close sends Terminate and closes the connection.
func (c *Conn) Close() error {
	c.fe.Send(&pgproto3.Terminate{})
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.fe.Flush()
	return c.nc.Close()
}

// Cancel asks the server, on a connection of its own, to cancel what this
// connection waits for.
func (c *Conn) Cancel(ctx context.Context) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	defer nc.Close()
	b, err := (&pgproto3.CancelRequest{ProcessID: c.pid, SecretKey: c.secret}).Encode(nil)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	if _, err := nc.Write(b); err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	// The server closes the connection when it has acted.
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = nc.Read(make([]byte, 1))
	return nil
}

// Result is the outcome of one command of a simple query.
type Result struct {
	Fields  []pgproto3.FieldDescription
	Rows    [][][]byte
	Tag     string
	Notices []string
}

// Query runs a simple query and returns one Result per command. An
// ErrorResponse comes back as a *ServerError (with the results before
// it); the connection stays usable.
func (c *Conn) Query(ctx context.Context, sql string) ([]Result, error) {
	stop := c.watch(ctx)
	defer stop()
	c.fe.Send(&pgproto3.Query{String: sql})
	if err := c.fe.Flush(); err != nil {
		return nil, c.ioErr(ctx, err)
	}
	var out []Result
	var cur Result
	var qerr error
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			return out, c.ioErr(ctx, err)
		}
		switch m := msg.(type) {
		case *pgproto3.RowDescription:
			cur.Fields = append([]pgproto3.FieldDescription(nil), m.Fields...)
			for i := range cur.Fields {
				cur.Fields[i].Name = append([]byte(nil), m.Fields[i].Name...)
			}
		case *pgproto3.DataRow:
			row := make([][]byte, len(m.Values))
			for i, v := range m.Values {
				if v != nil {
					row[i] = append([]byte{}, v...)
				}
			}
			cur.Rows = append(cur.Rows, row)
		case *pgproto3.NoticeResponse:
			cur.Notices = append(cur.Notices, m.Message)
		case *pgproto3.CommandComplete:
			cur.Tag = string(m.CommandTag)
			out = append(out, cur)
			cur = Result{}
		case *pgproto3.EmptyQueryResponse:
		case *pgproto3.ErrorResponse:
			qerr = serverError(m)
		case *pgproto3.ParameterStatus:
			c.Params[m.Name] = m.Value
		case *pgproto3.ReadyForQuery:
			return out, qerr
		case *pgproto3.CopyBothResponse:
			return out, errors.New("the server switched to copy mode: use Pagestream")
		default:
			return out, fmt.Errorf("unexpected %T in a query's answer", msg)
		}
	}
}

func (c *Conn) ioErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Status returns the rows of `status` as name → value, with the names in
// order.
func (c *Conn) Status(ctx context.Context) (map[string]string, []string, error) {
	res, err := c.Query(ctx, "status")
	if err != nil {
		return nil, nil, err
	}
	if len(res) != 1 {
		return nil, nil, fmt.Errorf("status: %d results", len(res))
	}
	m := map[string]string{}
	var names []string
	for _, r := range res[0].Rows {
		if len(r) == 2 {
			m[string(r[0])] = string(r[1])
			names = append(names, string(r[0]))
		}
	}
	return m, names, nil
}

// IDs returns the tenant and timeline ids from `status`.
func (c *Conn) IDs(ctx context.Context) (tenant, timeline string, err error) {
	st, _, err := c.Status(ctx)
	if err != nil {
		return "", "", err
	}
	tenant, timeline = st["tenant_id"], st["timeline_id"]
	if tenant == "" || timeline == "" {
		return "", "", errors.New("the server does not know its tenant and timeline yet")
	}
	return tenant, timeline, nil
}

// Stream is a connection in pagestream mode.
type Stream struct {
	c *Conn
	v pagestream.Version

	wmu  sync.Mutex
	wbuf []byte
	werr error

	rmu sync.Mutex
}

// Pagestream switches the connection to the pagestream protocol of
// version v for the tenant and timeline (from IDs).
func (c *Conn) Pagestream(ctx context.Context, v pagestream.Version, tenant, timeline string) (*Stream, error) {
	if !v.Valid() {
		return nil, fmt.Errorf("pagestream version %d", int(v))
	}
	stop := c.watch(ctx)
	defer stop()
	c.fe.Send(&pgproto3.Query{String: fmt.Sprintf("%s %s %s", v, tenant, timeline)})
	if err := c.fe.Flush(); err != nil {
		return nil, c.ioErr(ctx, err)
	}
	var qerr error
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			return nil, c.ioErr(ctx, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyBothResponse:
			return &Stream{c: c, v: v}, nil
		case *pgproto3.ErrorResponse:
			qerr = serverError(m)
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		case *pgproto3.ReadyForQuery:
			if qerr == nil {
				qerr = errors.New("the server did not switch to copy mode")
			}
			return nil, qerr
		default:
			return nil, fmt.Errorf("unexpected %T answering %s", msg, v)
		}
	}
}

// Version is the stream's protocol version.
func (s *Stream) Version() pagestream.Version { return s.v }

// Send queues one request; Flush sends what is queued.
func (s *Stream) Send(req *pagestream.Request) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	start := len(s.wbuf)
	s.wbuf = append(s.wbuf, 'd', 0, 0, 0, 0)
	s.wbuf = pagestream.AppendRequest(s.wbuf, s.v, req)
	binary.BigEndian.PutUint32(s.wbuf[start+1:], uint32(len(s.wbuf)-start-1))
}

// SendRaw queues one CopyData message with an arbitrary payload (for
// tests of malformed requests).
func (s *Stream) SendRaw(payload []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wbuf = append(s.wbuf, 'd')
	s.wbuf = binary.BigEndian.AppendUint32(s.wbuf, uint32(4+len(payload)))
	s.wbuf = append(s.wbuf, payload...)
}

// Flush writes the queued requests.
func (s *Stream) Flush() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return s.werr
	}
	if len(s.wbuf) == 0 {
		return nil
	}
	_, err := s.c.nc.Write(s.wbuf)
	s.wbuf = s.wbuf[:0]
	if err != nil {
		s.werr = fmt.Errorf("pagestream send: %w", err)
	}
	return s.werr
}

// Recv reads the next response. Responses come in request order. An
// ErrorResponse (the server ending the stream) is a *ServerError.
func (s *Stream) Recv(ctx context.Context) (pagestream.Response, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	stop := s.c.watch(ctx)
	defer stop()
	return s.recv(ctx)
}

func (s *Stream) recv(ctx context.Context) (pagestream.Response, error) {
	for {
		msg, err := s.c.fe.Receive()
		if err != nil {
			return pagestream.Response{}, s.c.ioErr(ctx, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			// The frontend reuses its buffer: the page must be copied.
			resp, err := pagestream.ParseResponse(s.v, append([]byte(nil), m.Data...))
			return resp, err
		case *pgproto3.ErrorResponse:
			return pagestream.Response{}, serverError(m)
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			return pagestream.Response{}, fmt.Errorf("unexpected %T in pagestream", msg)
		}
	}
}

// Do sends one request and waits for its response.
func (s *Stream) Do(ctx context.Context, req *pagestream.Request) (pagestream.Response, error) {
	s.Send(req)
	if err := s.Flush(); err != nil {
		return pagestream.Response{}, err
	}
	return s.Recv(ctx)
}

// PageError is a pagestream Error response.
type PageError struct {
	Req     pagestream.Header
	Message string
}

func (e *PageError) Error() string { return e.Message }

// AsError returns a *PageError for an Error response, else nil.
func AsError(resp *pagestream.Response) error {
	if resp.Tag == pagestream.TagErrorResponse {
		return &PageError{Req: resp.Req.Header, Message: resp.Message}
	}
	return nil
}

// GetPageRequest builds a GetPage request. lsn LatestLSN with nms 0 asks
// for the newest version.
func GetPageRequest(tag schema.BufferTag, lsn, nms schema.LSN) pagestream.Request {
	return pagestream.Request{Tag: pagestream.TagGetPage, Header: pagestream.Header{RequestLSN: lsn, NotModifiedSince: nms},
		Rel: tag.Rel, Fork: uint8(tag.Fork), Block: tag.Block}
}

// GetPage fetches one page.
func (s *Stream) GetPage(ctx context.Context, tag schema.BufferTag, lsn, nms schema.LSN) ([]byte, error) {
	req := GetPageRequest(tag, lsn, nms)
	resp, err := s.Do(ctx, &req)
	if err != nil {
		return nil, err
	}
	if err := AsError(&resp); err != nil {
		return nil, err
	}
	if resp.Tag != pagestream.TagGetPageResponse {
		return nil, fmt.Errorf("GetPage answered with %s", resp.Tag)
	}
	return resp.Page, nil
}

// Pipeline sends reqs with at most window unanswered at a time and calls
// fn with each response in request order (from the calling goroutine).
// In v3 every request gets ReqID i+1 (unless set) and responses are
// checked against it. It stops at the first error of fn or the transport.
func (s *Stream) Pipeline(ctx context.Context, reqs []pagestream.Request, window int, fn func(i int, resp *pagestream.Response) error) error {
	if window <= 0 {
		window = 64
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	stop := s.c.watch(ctx)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	credits := make(chan struct{}, window)
	sendErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range reqs {
			select {
			case credits <- struct{}{}:
			default:
				// The window is full: send what is queued, then wait.
				if err := s.Flush(); err != nil {
					sendErr <- err
					return
				}
				select {
				case credits <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			req := reqs[i]
			if s.v == pagestream.V3 && req.ReqID == 0 {
				req.ReqID = uint64(i + 1)
			}
			s.Send(&req)
		}
		if err := s.Flush(); err != nil {
			sendErr <- err
		}
	}()
	var err error
	for i := range reqs {
		var resp pagestream.Response
		if resp, err = s.recv(ctx); err != nil {
			break
		}
		<-credits
		if s.v == pagestream.V3 {
			want := reqs[i].ReqID
			if want == 0 {
				want = uint64(i + 1)
			}
			if resp.Req.ReqID != want {
				err = fmt.Errorf("response %d has reqid %d, want %d", i, resp.Req.ReqID, want)
				break
			}
		}
		if err = fn(i, &resp); err != nil {
			break
		}
	}
	cancel()
	if err != nil {
		// A sender blocked in Write would wait for a reader: unblock it.
		_ = s.c.nc.SetDeadline(time.Unix(1, 0))
	}
	wg.Wait()
	select {
	case e := <-sendErr:
		if err == nil {
			err = e
		}
	default:
	}
	return err
}

// Close ends the stream with CopyDone and returns the connection to
// simple queries. Responses not yet received are discarded.
func (s *Stream) Close(ctx context.Context) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	stop := s.c.watch(ctx)
	defer stop()
	s.c.fe.Send(&pgproto3.CopyDone{})
	if err := s.c.fe.Flush(); err != nil {
		return s.c.ioErr(ctx, err)
	}
	var qerr error
	for {
		msg, err := s.c.fe.Receive()
		if err != nil {
			return s.c.ioErr(ctx, err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			qerr = serverError(m)
		case *pgproto3.ReadyForQuery:
			return qerr
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CommandComplete, *pgproto3.NoticeResponse:
		default:
			return fmt.Errorf("unexpected %T closing the pagestream", msg)
		}
	}
}

// ParseTag parses REL FORK BLK as the command line takes them.
func ParseTag(rel, fork, blk string) (schema.BufferTag, error) {
	r, err := schema.ParseRelFileNode(rel)
	if err != nil {
		return schema.BufferTag{}, err
	}
	f, err := schema.ParseForkNumber(fork)
	if err != nil {
		return schema.BufferTag{}, err
	}
	var b uint64
	if _, err := fmt.Sscan(strings.TrimSpace(blk), &b); err != nil || b > 0xFFFFFFFE {
		return schema.BufferTag{}, fmt.Errorf("invalid block number %q", blk)
	}
	return schema.BufferTag{Rel: r, Fork: f, Block: schema.BlockNumber(b)}, nil
}
