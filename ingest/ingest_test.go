package ingest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// TestIngestStreamMatchesWaldump: with pgbench running, the stream holds
// exactly pg_waldump's records for the range, and the slot's restart_lsn
// never passes what JetStream acknowledged.
func TestIngestStreamMatchesWaldump(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	nc := startNATS(t)
	r := startIngest(t, ingest.Config{
		Source: c.ConnString("postgres"), Slot: "pm_test",
		Streams:    streams.Config{Shards: 4, Replicas: 1},
		RoundBytes: 256 << 10, RoundInterval: 5 * time.Millisecond, StatusInterval: 50 * time.Millisecond,
	}, nc)

	// Sample the slot against the flush position while the load runs.
	stopSampling := make(chan struct{})
	samplerDone := make(chan int)
	go func() {
		n := 0
		defer func() { samplerDone <- n }()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(25 * time.Millisecond):
			}
			rows, err := c.QueryContext(context.Background(), "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pm_test'")
			if err != nil || len(rows) == 0 || rows[0][0] == "" {
				continue
			}
			restart, _ := schema.ParseLSN(rows[0][0])
			pub := r.ing.Status().PublishedLSN
			if pub == 0 {
				continue // not streaming yet: the slot only reserves WAL
			}
			if restart > pub {
				t.Errorf("slot restart_lsn %s is past the JetStream-acknowledged flush %s", restart, pub)
			}
			n++
		}
	}()

	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Pgbench(t, "-T", "3", "-c", "4", "-j", "2")
	// A record larger than a NATS message: its round is chunked.
	c.Exec(t, `SELECT pg_logical_emit_message(false, 'big', repeat('x', 3 * 1024 * 1024))`)
	c.Pgbench(t, "-T", "1", "-c", "2")
	end := mustLSN(t, c.CurrentWALLSN(t))
	r.waitPublished(t, end, 60*time.Second)
	close(stopSampling)
	if n := <-samplerDone; n < 10 {
		t.Fatalf("only %d slot samples", n)
	}
	st := r.ing.Status()
	if st.BaseBackup == nil || !st.BaseBackup.Completed || st.BaseBackup.Pages == 0 {
		t.Fatalf("no completed base backup in status: %+v", st.BaseBackup)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	n := checkStream(t, nc, c, st.BaseBackup.StartLSN, end)
	t.Logf("stream holds the %d records of %s..%s exactly once; base backup %d pages", n, st.BaseBackup.StartLSN, end, st.BaseBackup.Pages)

	// A restart resumes from the log's position: nothing is published twice.
	r2 := startIngest(t, ingest.Config{Source: c.ConnString("postgres"), Slot: "pm_test", Streams: streams.Config{Shards: 4, Replicas: 1}}, nc)
	c.Pgbench(t, "-T", "1", "-c", "2")
	end2 := mustLSN(t, c.CurrentWALLSN(t))
	r2.waitPublished(t, end2, 60*time.Second)
	r2.stop()
	n2 := checkStream(t, nc, c, st.BaseBackup.StartLSN, end2)
	if n2 <= n {
		t.Fatalf("no records added after restart: %d then %d", n, n2)
	}
	if !strings.Contains(r2.logs.String(), "streaming WAL") || strings.Contains(r2.logs.String(), "taking a base backup") {
		t.Fatalf("restart did not resume from the log:\n%s", r2.logs.String())
	}
}
