package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Row is one (name, value) row of the status command.
type Row struct{ Name, Value string }

// StatusFunc returns the rows of `status`. It must not block on redo.
type StatusFunc func() []Row

// Server is the pgwire front end. In this version it answers the simple
// query `status`; the page protocol comes later.
type Server struct {
	ln     net.Listener
	status StatusFunc
	log    *slog.Logger

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Listen opens the pgwire listener on addr.
func Listen(addr string, status StatusFunc, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pgwire listen on %s: %w", addr, err)
	}
	return &Server{ln: ln, status: status, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run accepts connections until ctx ends, then closes every connection and
// waits for their goroutines.
func (s *Server) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	}()
	s.log.Info("pgwire listening", "addr", s.Addr())
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pgwire accept: %w", err)
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			if err := s.serveConn(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("pgwire connection ended", "remote", c.RemoteAddr(), "err", err)
			}
		}()
	}
}

func (s *Server) serveConn(c net.Conn) error {
	be := pgproto3.NewBackend(c, c)
	if err := s.startup(c, be); err != nil {
		return err
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			s.query(be, m.String)
		case *pgproto3.Terminate:
			return nil
		default:
			be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "0A000", Message: fmt.Sprintf("pagemill does not support %T; use the simple query protocol", msg)})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		}
		if err := be.Flush(); err != nil {
			return err
		}
	}
}

// startup answers SSL requests with 'N' and trusts the client.
func (s *Server) startup(c net.Conn, be *pgproto3.Backend) error {
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return err
		}
		switch msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte{'N'}); err != nil { // no TLS in this version
				return err
			}
			continue
		case *pgproto3.CancelRequest:
			return nil
		case *pgproto3.StartupMessage:
			be.Send(&pgproto3.AuthenticationOk{})
			for k, v := range map[string]string{"server_version": "15.0 (pagemill)", "server_encoding": "UTF8", "client_encoding": "UTF8", "DateStyle": "ISO", "integer_datetimes": "on", "standard_conforming_strings": "on"} {
				be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
			}
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			return be.Flush()
		default:
			return fmt.Errorf("unexpected startup message %T", msg)
		}
	}
}

func (s *Server) query(be *pgproto3.Backend, q string) {
	cmd := strings.ToLower(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(q), ";")))
	switch cmd {
	case "":
		be.Send(&pgproto3.EmptyQueryResponse{})
	case "status":
		rows := s.status()
		be.Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			{Name: []byte("name"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
			{Name: []byte("value"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
		}})
		for _, r := range rows {
			be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte(r.Name), []byte(r.Value)}})
		}
		be.Send(&pgproto3.CommandComplete{CommandTag: fmt.Appendf(nil, "SELECT %d", len(rows))})
	default:
		be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601", Message: fmt.Sprintf("unknown command %q", q), Hint: "pagemill understands: status"})
	}
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
}
