package serve

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/schema"
)

// The transcripts in testdata/transcripts/*.txt are pagestream sessions
// against fakePages: bytes in, bytes out. One command per line:
//
//	version 2|3          switch a fresh connection to pagestream_v2/_v3
//	timeout DURATION     the server's wait timeout (before version)
//	send TOKENS          one CopyData message with this payload
//	sendraw TOKENS       these bytes as they are (any framing)
//	recv TOKENS          expect one CopyData message with this payload
//	error CODE "TEXT"    expect an ErrorResponse with that SQLSTATE whose
//	                     message contains TEXT
//	closed               expect the server to close the connection
//	quiet DURATION       expect nothing from the server for that long
//	apply SHARD|all LSN  advance the fake's applied LSN
//	end                  send CopyDone; expect CopyDone, CommandComplete,
//	                     ReadyForQuery
//
// TOKENS are hex bytes (spaces anywhere between pairs) and:
//
//	lsn:X/X       8 bytes, u64:N 8 bytes, u32:N 4 bytes, u8:N 1 byte
//	rel:S/D/R/F   spcnode, dbnode, relnode u32 and forknum u8 (F a name or number)
//	fill:XX       a page: 8192 bytes of XX; zeros: 8192 zero bytes
//	"text"        the bytes of text (no escapes)
//
// After each transcript a second connection, opened before it, must still
// answer status: a broken session never harms the others.
func TestTranscripts(t *testing.T) {
	forEachTranscript(t, "transcripts", runTranscript)
}

// forEachTranscript runs run on each testdata/DIR/*.txt, a subtest each.
func forEachTranscript(t *testing.T, dir string, run func(t *testing.T, file string)) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts in testdata/%s: %v", dir, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			run(t, file)
		})
	}
}

// startFake starts a server over a fresh fakePages.
func startFake(t *testing.T, cfg Config) (*Server, *fakePages) {
	t.Helper()
	fake := newFakePages()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Pages == nil {
		cfg.Pages = StaticPages(fake)
	}
	cfg.Identity = func() Identity { return Identity{SystemID: 7000000000000000001, Timeline: 1} }
	if cfg.Status == nil {
		cfg.Status = func() []Row { return []Row{{"applied_lsn", fake.Applied().Short()}} }
	}
	srv, err := New(cfg, nil, ops.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv)
	return srv, fake
}

// rawConn is a client that sees the bytes the server sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	return dialAs(t, addr, "test", "test")
}

// dialAs connects to addr as user to database db, up to ReadyForQuery.
func dialAs(t *testing.T, addr, user, db string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	rc := &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
	b, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": user, "database": db}}).Encode(nil)
	rc.write(b)
	for {
		typ, body := rc.read()
		if typ == 'Z' {
			return rc
		}
		if typ == 'E' {
			t.Fatalf("startup: error %q", body)
		}
	}
}

func (rc *rawConn) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.nc.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// readMsg reads one message; io.EOF when the server closed the connection.
func (rc *rawConn) readMsg(timeout time.Duration) (byte, []byte, error) {
	_ = rc.nc.SetReadDeadline(time.Now().Add(timeout))
	var hdr [5]byte
	if _, err := io.ReadFull(rc.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:]))
	if n < 4 || n > 1<<20 {
		return 0, nil, fmt.Errorf("bad length %d", n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

func (rc *rawConn) read() (byte, []byte) {
	rc.t.Helper()
	typ, body, err := rc.readMsg(10 * time.Second)
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	return typ, body
}

func (rc *rawConn) query(q string) {
	b, _ := (&pgproto3.Query{String: q}).Encode(nil)
	rc.write(b)
}

func copyData(payload []byte) []byte {
	b := []byte{'d'}
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(payload)))
	return append(b, payload...)
}

// parseTokens turns a transcript line's tokens into bytes.
func parseTokens(s string) ([]byte, error) {
	var out []byte
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated string in %q", s)
			}
			out = append(out, s[1:1+end]...)
			s = s[2+end:]
			continue
		}
		tok, rest, _ := strings.Cut(s, " ")
		s = rest
		kind, arg, hasArg := strings.Cut(tok, ":")
		if !hasArg {
			if tok == "zeros" {
				out = append(out, make([]byte, schema.BLCKSZ)...)
				continue
			}
			b, err := hex.DecodeString(tok)
			if err != nil {
				return nil, fmt.Errorf("token %q: %w", tok, err)
			}
			out = append(out, b...)
			continue
		}
		switch kind {
		case "lsn":
			l, err := schema.ParseLSN(arg)
			if err != nil {
				return nil, err
			}
			out = binary.BigEndian.AppendUint64(out, uint64(l))
		case "u64", "u32", "u8":
			bits := map[string]int{"u64": 64, "u32": 32, "u8": 8}[kind]
			v, err := strconv.ParseUint(arg, 0, bits)
			if err != nil {
				return nil, fmt.Errorf("token %q: %w", tok, err)
			}
			switch kind {
			case "u64":
				out = binary.BigEndian.AppendUint64(out, v)
			case "u32":
				out = binary.BigEndian.AppendUint32(out, uint32(v))
			default:
				out = append(out, byte(v))
			}
		case "rel":
			i := strings.LastIndexByte(arg, '/')
			if i < 0 {
				return nil, fmt.Errorf("token %q: want rel:S/D/R/FORK", tok)
			}
			rel, err := schema.ParseRelFileNode(arg[:i])
			if err != nil {
				return nil, err
			}
			fork, err := schema.ParseForkNumber(arg[i+1:])
			if err != nil {
				n, err2 := strconv.ParseUint(arg[i+1:], 10, 8)
				if err2 != nil {
					return nil, err
				}
				fork = schema.ForkNumber(n)
			}
			out = binary.BigEndian.AppendUint32(out, rel.SpcNode)
			out = binary.BigEndian.AppendUint32(out, rel.DbNode)
			out = binary.BigEndian.AppendUint32(out, rel.RelNode)
			out = append(out, byte(fork))
		case "fill":
			v, err := strconv.ParseUint(arg, 16, 8)
			if err != nil {
				return nil, fmt.Errorf("token %q: %w", tok, err)
			}
			out = append(out, bytes.Repeat([]byte{byte(v)}, schema.BLCKSZ)...)
		default:
			return nil, fmt.Errorf("unknown token %q", tok)
		}
	}
	return out, nil
}

// applyCommand is the transcripts' "apply SHARD|all LSN": it advances the
// fake's applied LSN.
func (f *fakePages) applyCommand(arg string) error {
	which, lsnText, _ := strings.Cut(arg, " ")
	lsn, err := schema.ParseLSN(lsnText)
	if err != nil {
		return err
	}
	shard := -1
	if which != "all" {
		if shard, err = strconv.Atoi(which); err != nil {
			return err
		}
	}
	f.apply(shard, lsn)
	return nil
}

// describe shortens a payload for failure messages.
func describe(b []byte) string {
	if len(b) > 96 {
		return fmt.Sprintf("%x… (%d bytes)", b[:96], len(b))
	}
	return fmt.Sprintf("%x (%d bytes)", b, len(b))
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tr := &transcriptRun{t: t, cfg: Config{WaitTimeout: 10 * time.Second}}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d: %s", filepath.Base(file), n+1, line)
		cmd, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		if cmd != "timeout" && cmd != "version" && tr.rc == nil {
			t.Fatalf("%s: no version line yet", where)
		}
		tr.step(where, cmd, arg)
	}
	if tr.bystander == nil {
		t.Fatal("empty transcript")
	}
	tr.bystander.query("status")
	for typ, body := tr.bystander.read(); typ != 'Z'; typ, body = tr.bystander.read() {
		if typ == 'E' {
			t.Fatalf("tr.bystander: %q", body)
		}
	}
}

// transcriptRun is the server and connections a transcript runs on.
type transcriptRun struct {
	t             *testing.T
	cfg           Config
	srv           *Server
	fake          *fakePages
	rc, bystander *rawConn
}

// step runs one transcript command that sets up, sends or applies;
// expect runs the others.
func (tr *transcriptRun) step(where, cmd, arg string) {
	switch cmd {
	case "timeout":
		d, err := time.ParseDuration(arg)
		if err != nil {
			tr.t.Fatalf("%s: %v", where, err)
		}
		tr.cfg.WaitTimeout = d
	case "version":
		tr.srv, tr.fake = startFake(tr.t, tr.cfg)
		tr.bystander = dialRaw(tr.t, tr.srv.Addr())
		tr.rc = dialRaw(tr.t, tr.srv.Addr())
		tenant, timeline, _ := tr.srv.ids()
		tr.rc.query(fmt.Sprintf("pagestream_v%s %s %s", arg, tenant, timeline))
		if typ, body := tr.rc.read(); typ != 'W' {
			tr.t.Fatalf("%s: got %c %q, want CopyBothResponse", where, typ, body)
		}
	case "send", "sendraw":
		b, err := parseTokens(arg)
		if err != nil {
			tr.t.Fatalf("%s: %v", where, err)
		}
		if cmd == "send" {
			b = copyData(b)
		}
		tr.rc.write(b)
	case "apply":
		if err := tr.fake.applyCommand(arg); err != nil {
			tr.t.Fatalf("%s: %v", where, err)
		}
	case "end":
		tr.rc.write([]byte{'c', 0, 0, 0, 4})
		for _, want := range []byte{'c', 'C', 'Z'} {
			if typ, body := tr.rc.read(); typ != want {
				tr.t.Fatalf("%s: got %c %s, want %c", where, typ, describe(body), want)
			}
		}
		// Back in simple-query mode.
		tr.rc.query("status")
		for typ, _ := tr.rc.read(); typ != 'Z'; typ, _ = tr.rc.read() {
		}
	default:
		if !tr.expect(where, cmd, arg) {
			tr.t.Fatalf("%s: unknown command", where)
		}
	}
}

// expect runs a transcript command that checks what the server sent; it
// reports whether cmd is one.
func (tr *transcriptRun) expect(where, cmd, arg string) bool {
	switch cmd {
	case "recv":
		want, err := parseTokens(arg)
		if err != nil {
			tr.t.Fatalf("%s: %v", where, err)
		}
		typ, body := tr.rc.read()
		if typ != 'd' {
			tr.t.Fatalf("%s: got message %c %q, want CopyData", where, typ, body)
		}
		if !bytes.Equal(body, want) {
			tr.t.Fatalf("%s:\n got %s\nwant %s", where, describe(body), describe(want))
		}
	case "error":
		code, text, _ := strings.Cut(arg, " ")
		text = strings.Trim(text, `"`)
		typ, body := tr.rc.read()
		if typ != 'E' {
			tr.t.Fatalf("%s: got %c %s, want ErrorResponse", where, typ, describe(body))
		}
		var e pgproto3.ErrorResponse
		if err := e.Decode(body); err != nil {
			tr.t.Fatal(err)
		}
		if e.Code != code || !strings.Contains(e.Message, text) {
			tr.t.Fatalf("%s: got %s %q", where, e.Code, e.Message)
		}
	case "closed":
		typ, body, err := tr.rc.readMsg(5 * time.Second)
		if err == nil {
			tr.t.Fatalf("%s: got %c %s, want the connection closed", where, typ, describe(body))
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			tr.t.Fatalf("%s: %v", where, err)
		}
	case "quiet":
		d, err := time.ParseDuration(arg)
		if err != nil {
			tr.t.Fatalf("%s: %v", where, err)
		}
		typ, body, err := tr.rc.readMsg(d)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			tr.t.Fatalf("%s: got %c %s %v, want silence", where, typ, describe(body), err)
		}
		// The deadline may have cut a message in two: only use quiet
		// when nothing can arrive.
	default:
		return false
	}
	return true
}

// TestTranscriptTokens pins the token syntax.
func TestTranscriptTokens(t *testing.T) {
	b, err := parseTokens(`02 lsn:0/3000000 u64:1 rel:1663/5/16384/main u32:3 u8:7 "ab"`)
	if err != nil {
		t.Fatal(err)
	}
	want := "02" + "0000000003000000" + "0000000000000001" + "0000067f" + "00000005" + "00004000" + "00" + "00000003" + "07" + "6162"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
