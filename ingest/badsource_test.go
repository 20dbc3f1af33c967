package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/streams"
)

// runUntilError runs an ingester and expects Run to give up with a
// permanent error (ErrBadSource) well before timeout, instead of retrying.
func runUntilError(t *testing.T, cfg ingest.Config, nc *nats.Conn, timeout time.Duration) error {
	t.Helper()
	logs := &pipetest.SyncBuffer{}
	ing, err := ingest.New(cfg, nc, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t0 := time.Now()
	err = ing.Run(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Run kept retrying for %v (returned %v)\nlogs:\n%s", timeout, err, logs.String())
	}
	if err == nil {
		t.Fatalf("Run returned nil\nlogs:\n%s", logs.String())
	}
	if !errors.Is(err, ingest.ErrBadSource) {
		t.Fatalf("Run returned %v, not matching ErrBadSource\nlogs:\n%s", err, logs.String())
	}
	if strings.Contains(logs.String(), "reconnecting") {
		t.Errorf("Run retried a permanent error:\n%s", logs.String())
	}
	if st := ing.Status(); st.LastError != err.Error() || st.Connected {
		t.Errorf("status after the error: %+v", st)
	}
	t.Logf("Run returned after %v: %v", time.Since(t0).Round(time.Millisecond), err)
	return err
}

// assertNothingPublished checks that the NATS account holds no stream.
func assertNothingPublished(t *testing.T, nc *nats.Conn) {
	t.Helper()
	if names := streamNames(t, nc); len(names) != 0 {
		t.Errorf("streams created for a bad source: %v", names)
	}
}

func assertMentions(t *testing.T, err error, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// TestIngestBadCredentials: a role that does not exist, and a wrong
// password for a role that must authenticate with SCRAM.
func TestIngestBadCredentials(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})

	t.Run("role does not exist", func(t *testing.T) {
		nc := startNATS(t)
		err := runUntilError(t, ingest.Config{Source: strings.Replace(c.ConnString("postgres"), "user=postgres", "user=pm_nobody", 1)}, nc, 20*time.Second)
		assertMentions(t, err, "role", "pm_nobody", "does not exist")
		assertNothingPublished(t, nc)
	})

	t.Run("wrong password", func(t *testing.T) {
		c.Exec(t, `CREATE ROLE pm_pw LOGIN REPLICATION PASSWORD 'right'`)
		// pg_hba.conf is first match: put a SCRAM line for the role first.
		hbaPath := filepath.Join(c.DataDir(), "pg_hba.conf")
		hba, err := os.ReadFile(hbaPath)
		if err != nil {
			t.Fatal(err)
		}
		hba = append([]byte("host all,replication pm_pw 127.0.0.1/32 scram-sha-256\n"), hba...)
		if err := os.WriteFile(hbaPath, hba, 0o600); err != nil {
			t.Fatal(err)
		}
		c.Exec(t, `SELECT pg_reload_conf()`)
		withPassword := func(pw string) string {
			return strings.Replace(c.ConnString("postgres"), "user=postgres", "user=pm_pw password="+pw, 1)
		}
		// The reload is asynchronous: wait until the wrong password is refused.
		deadline := time.Now().Add(10 * time.Second)
		for {
			conn, err := pgconn.Connect(context.Background(), withPassword("wrong"))
			if err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "28P01" {
					break
				}
				t.Fatalf("connect with a wrong password: %v", err)
			}
			conn.Close(context.Background())
			if time.Now().After(deadline) {
				t.Fatal("pg_hba.conf reload did not take effect")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if conn, err := pgconn.Connect(context.Background(), withPassword("right")); err != nil {
			t.Fatalf("the right password is refused: %v", err)
		} else {
			conn.Close(context.Background())
		}

		nc := startNATS(t)
		err = runUntilError(t, ingest.Config{Source: withPassword("wrong")}, nc, 20*time.Second)
		assertMentions(t, err, "authentication failed", "pm_pw")
		assertNothingPublished(t, nc)
	})
}

// fakePG is a server that speaks just enough of the protocol to complete
// a startup, as a PostgreSQL of another version, and records everything a
// client sends after that.
type fakePG struct {
	ln      net.Listener
	version string

	mu       sync.Mutex
	conns    int
	params   map[string]string
	received []string // message types after the startup
	wg       sync.WaitGroup
}

func startFakePG(t *testing.T, version string) *fakePG {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePG{ln: ln, version: version}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakePG) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	be := pgproto3.NewBackend(c, c)
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		if _, ok := msg.(*pgproto3.SSLRequest); ok {
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		sm, ok := msg.(*pgproto3.StartupMessage)
		if !ok {
			return
		}
		f.mu.Lock()
		f.conns++
		f.params = sm.Parameters
		f.mu.Unlock()
		break
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for k, v := range map[string]string{
		"server_version": f.version, "server_encoding": "UTF8", "client_encoding": "UTF8",
		"DateStyle": "ISO, MDY", "integer_datetimes": "on", "standard_conforming_strings": "on",
	} {
		be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: 4242, SecretKey: []byte{0, 0, 0x10, 0x92}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		return
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.received = append(f.received, fmt.Sprintf("%T", msg))
		f.mu.Unlock()
		if q, ok := msg.(*pgproto3.Query); ok {
			// Whatever it asks, it must not have asked.
			be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "0A000", Message: "fake server: unexpected query " + q.String})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			be.Flush()
		}
		if _, ok := msg.(*pgproto3.Terminate); ok {
			return
		}
	}
}

// TestIngestRefusesOtherVersions: a server reporting PostgreSQL 14 is
// refused on its version, before any command is sent.
func TestIngestRefusesOtherVersions(t *testing.T) {
	for _, version := range []string{"14.10", "16.2 (Debian 16.2-1.pgdg120+2)"} {
		t.Run(version, func(t *testing.T) {
			f := startFakePG(t, version)
			nc := startNATS(t)
			src := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", f.ln.Addr().(*net.TCPAddr).Port)
			err := runUntilError(t, ingest.Config{Source: src}, nc, 20*time.Second)
			assertMentions(t, err, "PostgreSQL 15", version)
			assertNothingPublished(t, nc)
			// Let the connection's Terminate arrive.
			deadline := time.Now().Add(5 * time.Second)
			for {
				f.mu.Lock()
				conns, params, received := f.conns, f.params, append([]string(nil), f.received...)
				f.mu.Unlock()
				if len(received) > 0 || time.Now().After(deadline) {
					if conns != 1 {
						t.Errorf("%d connections, want 1", conns)
					}
					if params["replication"] != "true" {
						t.Errorf("startup parameters %v: not a physical replication connection", params)
					}
					if len(received) != 1 || received[0] != "*pgproto3.Terminate" {
						t.Errorf("after the startup the client sent %v, want only a Terminate", received)
					}
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestIngestWALLevelMinimal: with wal_level = minimal (and so
// max_wal_senders = 0) the replication connection is refused.
func TestIngestWALLevelMinimal(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{WALLevel: "minimal"})
	nc := startNATS(t)
	err := runUntilError(t, ingest.Config{Source: c.ConnString("postgres")}, nc, 20*time.Second)
	assertMentions(t, err, "replication is disabled", "max_wal_senders", "wal_level")
	assertNothingPublished(t, nc)
}

// TestIngestSlotInUse: a second ingester on the same slot fails, after a
// short grace period, with ErrBadSource while the first keeps streaming; once the first stops,
// the second takes over where the log ends, and the stream holds every
// record exactly once.
func TestIngestSlotInUse(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	nc := startNATS(t)
	c.Pgbench(t, "-i", "-s", "1", "-q")
	cfg := ingest.Config{
		Source: c.ConnString("postgres"), Slot: "pm_shared",
		Streams:    streams.Config{Shards: 4, Replicas: 1},
		RoundBytes: 256 << 10, RoundInterval: 5 * time.Millisecond, StatusInterval: 50 * time.Millisecond,
	}
	first := startIngest(t, cfg, nc)
	c.Pgbench(t, "-n", "-T", "1", "-c", "2")
	first.waitPublished(t, mustLSN(t, c.CurrentWALLSN(t)), 60*time.Second)
	st := first.ing.Status()
	bbStart := st.BaseBackup.StartLSN

	// The holder might be a crashed pagemill whose walsender has not
	// noticed yet, so the slot is retried for a grace period first.
	impatient := cfg
	impatient.SlotBusyGrace = time.Second
	t0 := time.Now()
	err := runUntilError(t, impatient, nc, 20*time.Second)
	assertMentions(t, err, "in use", "pm_shared")
	if !errors.Is(err, ingest.ErrSlotInUse) || time.Since(t0) < time.Second {
		t.Fatalf("slot in use: %v after %s; want ErrSlotInUse after the 1 s grace", err, time.Since(t0))
	}

	// The first is unharmed.
	c.Pgbench(t, "-n", "-T", "1", "-c", "2")
	mid := mustLSN(t, c.CurrentWALLSN(t))
	first.waitPublished(t, mid, 30*time.Second)
	if st := first.ing.Status(); !st.Connected || st.LastError != "" {
		t.Fatalf("first ingester after the second's attempt: %+v", st)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	// The walsender lets go of the slot once the first's connection ends.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := c.Query(t, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pm_shared'")
		if len(rows) == 1 && rows[0][0] == "f" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot still active: %v", rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Pgbench(t, "-n", "-T", "1", "-c", "2")
	second := startIngest(t, cfg, nc)
	end := mustLSN(t, c.CurrentWALLSN(t))
	second.waitPublished(t, end, 60*time.Second)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	logs := second.logs.String()
	if !strings.Contains(logs, "streaming WAL") || strings.Contains(logs, "taking a base backup") {
		t.Fatalf("the second did not resume from the log:\n%s", logs)
	}
	n := checkStream(t, nc, c, bbStart, end)
	t.Logf("after the takeover the stream holds the %d records of %s..%s exactly once", n, bbStart, end)
}

// TestIngestWALSendersBusyIsRetried: all WAL senders busy is not a bad
// source (unlike max_wal_senders = 0): the ingest retries until one is free.
func TestIngestWALSendersBusyIsRetried(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{ExtraConf: map[string]string{"max_wal_senders": "1"}})
	holder, err := pgconn.Connect(context.Background(), c.ConnString("postgres")+" replication=true")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	nc := startNATS(t)
	r := startIngest(t, ingest.Config{Source: c.ConnString("postgres"), Streams: streams.Config{Shards: 4, Replicas: 1}, RetryMax: 300 * time.Millisecond}, nc)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(r.logs.String(), "reconnecting") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries while the only WAL sender is busy; status %+v\nlogs:\n%s", r.ing.Status(), r.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := r.ing.Status(); !strings.Contains(st.LastError, "max_wal_senders (currently 1)") {
		t.Fatalf("last error %q", st.LastError)
	}
	holder.Close(context.Background())
	c.Exec(t, `CREATE TABLE busy_t AS SELECT generate_series(1, 1000) AS a`)
	r.waitPublished(t, mustLSN(t, c.CurrentWALLSN(t)), 30*time.Second)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
