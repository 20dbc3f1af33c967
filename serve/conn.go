package serve

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Startup packet codes (pqcomm.h).
const (
	protocol30      = 3 << 16
	protocol32      = 3<<16 | 2
	sslRequestCode  = 80877103
	gssEncCode      = 80877104
	cancelCode      = 80877102
	maxStartupBytes = 10000 // MAX_STARTUP_PACKET_LENGTH
)

// maxQueryBytes bounds a message outside pagestream mode (a simple query,
// a password); maxStreamBytes a message inside it, where every request is
// a few dozen bytes. Longer messages are protocol errors, so that a
// client cannot make the server allocate what it claims.
const (
	maxQueryBytes  = 1 << 20
	maxStreamBytes = 64 << 10
)

// errTerminate ends a connection on the client's Terminate message.
var errTerminate = errors.New("client terminated the connection")

// conn is one client connection.
type conn struct {
	s      *Server
	raw    net.Conn // the TCP connection
	nc     net.Conn // raw, or the TLS connection over it
	in     inbox    // what be reads
	be     *pgproto3.Backend
	pid    uint32
	secret [4]byte
	user   string
	// database is the startup packet's database (default: the user),
	// where relation names are looked up without db=.
	database string
	// catalogs are the catalog reads of recent commands, by LSN.
	catalogs catalogCache
	ready    bool // startup and authentication succeeded
	tooMany  bool // over Config.MaxConns: refused after the startup packet

	ctx    context.Context // ends when the connection or the server ends
	cancel context.CancelFunc

	// opCtx is the context of what the connection is doing now; a
	// CancelRequest cancels it and starts a new one, so that only the waits
	// in progress end and the connection goes on.
	opMu     sync.Mutex
	opCtx    context.Context
	opCancel context.CancelFunc
	opBase   context.Context // parent of opCtx: ctx, or a pagestream's context

	readerDone chan struct{} // closed when the reader goroutine ended; nil before it starts
}

// inbox is what the connection's Backend reads: the socket itself during
// startup, then what the connection's reader goroutine read from it.
// Only the connection's own goroutine reads it.
type inbox struct {
	direct io.Reader
	ch     <-chan []byte // nil before the reader starts
	cur    []byte
	err    error // why the reader stopped; set before ch is closed
}

func (in *inbox) Read(p []byte) (int, error) {
	if in.ch == nil {
		return in.direct.Read(p)
	}
	for len(in.cur) == 0 {
		b, ok := <-in.ch
		if !ok {
			return 0, in.err
		}
		in.cur = b
	}
	n := copy(p, in.cur)
	in.cur = in.cur[n:]
	return n, nil
}

// startReader starts the goroutine that reads the socket from now on and
// hands what it read to the Backend, so that a client hanging up is
// noticed at once, not at its next message: the connection's context is
// cancelled then, and with it whatever a command waits for. (PostgreSQL's
// client_connection_check_interval does the same.) The reader holds back
// at most a few chunks the connection has not processed: a client that
// pipelines more waits, as it would on the socket. It ends when the
// socket is closed (serve's end) or the connection's context ends.
func (c *conn) startReader() {
	ch := make(chan []byte, 4)
	c.in.ch = ch
	c.readerDone = make(chan struct{})
	go func() {
		defer close(c.readerDone)
		defer close(ch)
		buf := make([]byte, 32<<10)
		for {
			n, err := c.nc.Read(buf)
			if n > 0 {
				select {
				case ch <- append([]byte(nil), buf[:n]...):
				case <-c.ctx.Done():
					c.in.err = net.ErrClosed
					return
				}
			}
			if err != nil {
				c.in.err = err
				c.cancel() // the client is gone: end what it waits for
				return
			}
		}
	}()
}

// op returns the context for an operation starting now.
func (c *conn) op() context.Context {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	return c.opCtx
}

// cancelOps cancels the operations in progress (CancelRequest).
func (c *conn) cancelOps() {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.opCancel()
	base := c.opBase
	if base == nil {
		base = c.ctx
	}
	c.opCtx, c.opCancel = context.WithCancel(base)
}

// setOpBase makes operations children of base from now on (nil: the
// connection's context).
func (c *conn) setOpBase(base context.Context) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.opCancel()
	c.opBase = base
	if base == nil {
		base = c.ctx
	}
	c.opCtx, c.opCancel = context.WithCancel(base)
}

func (c *conn) serve() {
	defer func() {
		c.opMu.Lock()
		c.opCancel()
		c.opMu.Unlock()
		c.cancel()
		c.nc.Close()
		if c.readerDone != nil {
			<-c.readerDone
		}
		c.s.dropConn(c)
	}()
	err := c.run()
	switch {
	case err == nil, errors.Is(err, errTerminate), isClosedErr(err) && c.ctx.Err() == nil:
	case c.ctx.Err() != nil:
	default:
		c.s.log.Debug("pgwire connection ended", "remote", c.raw.RemoteAddr(), "err", err)
	}
}

func (c *conn) run() error {
	// Over the limit, the client still gets through SSL negotiation and
	// sends its startup packet, so that it can read why it is refused.
	c.tooMany = c.s.ActiveConns() > c.s.cfg.MaxConns
	_ = c.nc.SetDeadline(time.Now().Add(c.s.cfg.StartupTimeout))
	done, err := c.startup()
	if err != nil || done {
		return err
	}
	_ = c.nc.SetDeadline(time.Time{})
	if !c.ready {
		return nil
	}
	c.startReader()
	return c.loop()
}

// readStartup reads one startup-phase packet straight from the
// connection, without reading ahead: after an SSLRequest the next bytes
// belong to the TLS handshake.
func (c *conn) readStartup() (pgproto3.FrontendMessage, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(hdr[:])))
	if n < 8 || n > maxStartupBytes {
		return nil, fmt.Errorf("invalid startup packet length %d", n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return nil, err
	}
	var msg interface {
		pgproto3.FrontendMessage
		Decode([]byte) error
	}
	switch code := binary.BigEndian.Uint32(body); code {
	case sslRequestCode:
		msg = &pgproto3.SSLRequest{}
	case gssEncCode:
		msg = &pgproto3.GSSEncRequest{}
	case cancelCode:
		msg = &pgproto3.CancelRequest{}
	case protocol30, protocol32:
		msg = &pgproto3.StartupMessage{}
	default:
		return nil, fmt.Errorf("unsupported frontend protocol %d.%d", code>>16, code&0xffff)
	}
	if err := msg.Decode(body); err != nil {
		return nil, fmt.Errorf("startup packet: %w", err)
	}
	return msg, nil
}

// rawError writes an ErrorResponse directly (before the Backend exists or
// after a pagestream writer stopped).
func (c *conn) rawError(severity, code, msg string) {
	b, err := (&pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: msg}).Encode(nil)
	if err == nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		_, _ = c.nc.Write(b)
	}
}

// startup runs the startup phase. done reports a connection that has
// nothing more to do (a cancel request).
func (c *conn) startup() (done bool, err error) {
	tlsDone := false
	for {
		msg, err := c.readStartup()
		if err != nil {
			if !isClosedErr(err) {
				c.s.m.errors.WithLabelValues(errProtocol).Inc()
				c.rawError("FATAL", "08P01", err.Error())
			}
			return true, err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if c.s.cfg.TLS == nil || tlsDone {
				if _, err := c.nc.Write([]byte{'N'}); err != nil {
					return true, err
				}
				continue
			}
			if _, err := c.nc.Write([]byte{'S'}); err != nil {
				return true, err
			}
			tc := tls.Server(c.raw, c.s.cfg.TLS)
			if err := tc.HandshakeContext(c.ctx); err != nil {
				c.s.m.errors.WithLabelValues(errProtocol).Inc()
				return true, fmt.Errorf("TLS handshake: %w", err)
			}
			c.nc = tc
			tlsDone = true
		case *pgproto3.GSSEncRequest:
			if _, err := c.nc.Write([]byte{'N'}); err != nil {
				return true, err
			}
		case *pgproto3.CancelRequest:
			c.s.cancelBackend(m.ProcessID, m.SecretKey)
			return true, nil // PostgreSQL closes a cancel connection without a word
		case *pgproto3.StartupMessage:
			return false, c.begin(m)
		}
	}
}

// begin authenticates the client and sends the session parameters.
func (c *conn) begin(m *pgproto3.StartupMessage) error {
	c.in.direct = c.nc
	c.be = pgproto3.NewBackend(&c.in, c.nc)
	c.be.SetMaxBodyLen(maxQueryBytes)
	if c.tooMany {
		c.s.m.errors.WithLabelValues(errTooMany).Inc()
		c.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "53300", Message: "sorry, too many clients already"})
		return c.be.Flush()
	}
	if m.ProtocolVersion == protocol32 {
		// We speak 3.0, which has the 4-byte cancel key we hand out.
		c.be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
	}
	c.user = m.Parameters["user"]
	if c.database = m.Parameters["database"]; c.database == "" {
		c.database = c.user
	}
	if err := c.authenticate(c.user); err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			c.s.m.errors.WithLabelValues(errAuth).Inc()
			c.s.log.Info("pgwire authentication failed", "remote", c.raw.RemoteAddr(), "user", c.user, "detail", ae.detail)
			c.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01", Message: ae.Error()})
			_ = c.be.Flush()
			return nil
		}
		c.s.m.errors.WithLabelValues(errProtocol).Inc()
		c.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08P01", Message: err.Error()})
		_ = c.be.Flush()
		return err
	}
	c.be.Send(&pgproto3.AuthenticationOk{})
	params := map[string]string{
		"server_version": "15.0 (pagemill)", "server_encoding": "UTF8", "client_encoding": "UTF8",
		"DateStyle": "ISO, MDY", "integer_datetimes": "on", "standard_conforming_strings": "on",
		"application_name": m.Parameters["application_name"], "IntervalStyle": "postgres", "TimeZone": "UTC",
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names) // a stable transcript
	for _, k := range names {
		c.be.Send(&pgproto3.ParameterStatus{Name: k, Value: params[k]})
	}
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.secret[:]})
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := c.be.Flush(); err != nil {
		return err
	}
	c.ready = true
	return nil
}

// loop serves simple queries until the client leaves.
func (c *conn) loop() error {
	if !c.ready {
		return nil
	}
	skipToSync := false
	for {
		msg, err := c.be.Receive()
		if err != nil {
			var tooBig *pgproto3.ExceededMaxBodyLenErr
			if errors.As(err, &tooBig) || !isClosedErr(err) {
				c.s.m.errors.WithLabelValues(errProtocol).Inc()
				c.rawError("FATAL", "08P01", "protocol error: "+err.Error())
			}
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			if err := c.simpleQuery(m.String); err != nil {
				return err
			}
		case *pgproto3.Terminate:
			return errTerminate
		case *pgproto3.Sync:
			// The end of an extended-protocol exchange we refused.
			skipToSync = false
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Parse, *pgproto3.Bind, *pgproto3.Describe, *pgproto3.Execute, *pgproto3.Close, *pgproto3.Flush:
			// As PostgreSQL does after an error: report once, then skip
			// to the Sync.
			if !skipToSync {
				skipToSync = true
				c.sendError(&reqError{kind: errUnsupported, code: "0A000",
					msg:  "pagemill speaks only the simple query protocol",
					hint: "with pgx use QueryExecModeSimpleProtocol; psql works as is"})
			}
			if _, ok := m.(*pgproto3.Flush); !ok {
				continue
			}
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// Stray copy messages outside copy mode are ignored, as
			// PostgreSQL does.
			continue
		default:
			c.s.m.errors.WithLabelValues(errProtocol).Inc()
			c.rawError("FATAL", "08P01", fmt.Sprintf("protocol error: unexpected %T", msg))
			return fmt.Errorf("unexpected message %T", msg)
		}
		if err := c.be.Flush(); err != nil {
			return err
		}
	}
}

// sendError queues an ErrorResponse for a request error.
func (c *conn) sendError(e *reqError) {
	c.s.m.errors.WithLabelValues(e.kind).Inc()
	c.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: e.code, Message: e.msg, Hint: e.hint})
}
