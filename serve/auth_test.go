package serve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/serve/client"
)

func pgconnect(t *testing.T, url string) (*pgconn.PgConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, url)
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

func pgStatus(t *testing.T, c *pgconn.PgConn) {
	t.Helper()
	res, err := c.Exec(context.Background(), "status").ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) < 3 {
		t.Fatalf("status: %v", err)
	}
}

func TestAuthPassword(t *testing.T) {
	for _, method := range []AuthMethod{AuthPassword, AuthSCRAM} {
		t.Run(string(method), func(t *testing.T) {
			srv, _ := startFake(t, Config{Auth: Auth{Method: method, Users: map[string]string{"alice": "s3cret pass"}}})
			// pgconn (libpq's behaviour) and our client both get in with
			// the password …
			c, err := pgconnect(t, "postgres://alice:s3cret%20pass@"+srv.Addr()+"/x?sslmode=disable")
			if err != nil {
				t.Fatal(err)
			}
			pgStatus(t, c)
			ctx := context.Background()
			cc, err := client.Connect(ctx, client.Config{Addr: srv.Addr(), User: "alice", Password: "s3cret pass"})
			if err != nil {
				t.Fatal(err)
			}
			cc.Close()
			// … and not without it, nor as someone else.
			for _, url := range []string{
				"postgres://alice:wrong@" + srv.Addr() + "/x?sslmode=disable",
				"postgres://bob:s3cret%20pass@" + srv.Addr() + "/x?sslmode=disable",
			} {
				_, err := pgconnect(t, url)
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != "28P01" || !strings.Contains(pe.Message, "password authentication failed") {
					t.Fatalf("%s: %v", url, err)
				}
			}
			if _, err := client.Connect(ctx, client.Config{Addr: srv.Addr(), User: "alice", Password: "nope"}); err == nil {
				t.Fatal("wrong password accepted")
			}
		})
	}
	t.Run("trust loopback", func(t *testing.T) {
		srv, _ := startFake(t, Config{Auth: Auth{Method: AuthSCRAM, Users: map[string]string{"alice": "x"}, TrustLoopback: true}})
		c, err := pgconnect(t, "postgres://nobody@"+srv.Addr()+"/x?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		pgStatus(t, c)
	})
	if _, err := New(Config{Addr: "127.0.0.1:0", Auth: Auth{Method: AuthSCRAM}}, nil, nil); err == nil {
		t.Fatal("SCRAM without users accepted")
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", Auth: Auth{Method: "md5"}}, nil, nil); err == nil {
		t.Fatal("unknown method accepted")
	}
}

// TestDefaultAuthRefusesRemote: by default only loopback clients are
// trusted.
func TestDefaultAuthRefusesRemote(t *testing.T) {
	var ip net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP
			break
		}
	}
	if isLoopback(&net.TCPAddr{IP: net.ParseIP("192.0.2.1")}) || !isLoopback(&net.TCPAddr{IP: net.ParseIP("::1")}) {
		t.Fatal("isLoopback")
	}
	if ip == nil {
		t.Log("no non-loopback IPv4 address here: checked isLoopback only")
		return
	}
	fake := newFakePages()
	srv, err := New(Config{Addr: net.JoinHostPort(ip.String(), "0"), Pages: StaticPages(fake)}, nil, ops.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv)
	_, err = pgconnect(t, "postgres://x@"+srv.Addr()+"/x?sslmode=disable")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("remote client with default auth: %v", err)
	}
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pagemill test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestTLS(t *testing.T) {
	srv, _ := startFake(t, Config{TLS: selfSigned(t), Auth: Auth{Method: AuthSCRAM, Users: map[string]string{"alice": "pw"}}})
	c, err := pgconnect(t, "postgres://alice:pw@"+srv.Addr()+"/x?sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	pgStatus(t, c)
	cc, err := client.Connect(context.Background(), client.Config{Addr: srv.Addr(), User: "alice", Password: "pw", TLS: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	tenant, timeline, err := cc.IDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, err := cc.Pagestream(context.Background(), 3, tenant, timeline)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := st.GetPage(context.Background(), fakeTag(1), 0x3000000, 0); err != nil || p[0] != 0x21 {
		t.Fatalf("GetPage over TLS: %v", err)
	}

	// Without TLS configured, sslmode=require fails and prefer goes on in
	// the clear.
	plain, _ := startFake(t, Config{})
	if _, err := pgconnect(t, "postgres://x@"+plain.Addr()+"/x?sslmode=require"); err == nil {
		t.Fatal("sslmode=require succeeded without TLS")
	}
	c2, err := pgconnect(t, "postgres://x@"+plain.Addr()+"/x?sslmode=prefer")
	if err != nil {
		t.Fatal(err)
	}
	pgStatus(t, c2)
}

// TestStartupPackets: GSSENC is refused with 'N' and the startup goes on;
// garbage, an unknown protocol and silence end only that connection.
func TestStartupPackets(t *testing.T) {
	srv, _ := startFake(t, Config{StartupTimeout: 500 * time.Millisecond})
	c, err := pgconnect(t, "postgres://x@"+srv.Addr()+"/x?sslmode=disable&gssencmode=disable")
	if err != nil {
		t.Fatal(err)
	}

	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// GSSENCRequest: length 8, code 80877104.
	if _, err := nc.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(b); err != nil || b[0] != 'N' {
		t.Fatalf("GSSENC answer %q %v", b, err)
	}

	for _, junk := range [][]byte{
		{0, 0, 0, 8, 0, 2, 0, 0},         // protocol 2.0
		{0xff, 0xff, 0xff, 0xff},         // negative length
		{0, 0x10, 0, 0},                  // 1 MiB startup packet
		[]byte("GET / HTTP/1.1\r\n\r\n"), // not PostgreSQL at all
		{},                               // nothing: the startup timeout
	} {
		nc, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(junk)
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("%q: the server kept the connection open", junk)
				}
				break
			}
		}
		nc.Close()
	}
	pgStatus(t, c)
	waitFor(t, "the junk connections to close", func() bool { return srv.ActiveConns() == 1 })
}

func TestTooManyConnections(t *testing.T) {
	srv, _ := startFake(t, Config{MaxConns: 2})
	connect(t, srv.Addr())
	second := connect(t, srv.Addr())
	// sslmode=prefer: the refusal comes after the SSL negotiation.
	_, err := pgconnect(t, "postgres://x@"+srv.Addr()+"/x?sslmode=prefer")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" {
		t.Fatalf("third connection: %v", err)
	}
	second.Close()
	waitFor(t, "a free slot", func() bool { return srv.ActiveConns() == 1 })
	connect(t, srv.Addr())
}
