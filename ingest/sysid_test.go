package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
)

// TestIngestRefusesAnotherSystem: the source names two hosts with
// target_session_attrs=read-write; the first, followed, crashes, and the
// second accepts writes but is another database (its own initdb). Ingest
// refuses it with an error naming both system identifiers instead of
// following it.
func TestIngestRefusesAnotherSystem(t *testing.T) {
	x := pgtest.Start(t, pgtest.Options{})
	y := pgtest.Start(t, pgtest.Options{})
	nc := startNATS(t)
	src := fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=postgres sslmode=disable target_session_attrs=read-write connect_timeout=5", x.Port(), y.Port())
	logs := &pipetest.SyncBuffer{}
	ing, err := ingest.New(ingest.Config{Source: src, Slot: "pm", RetryMax: time.Second}, nc, prometheus.NewRegistry(),
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	x.Exec(t, "CREATE TABLE t AS SELECT 1 AS k")
	lsn := mustLSN(t, x.SwitchWAL(t))
	r := &runningIngest{ing: ing, logs: logs}
	r.waitPublished(t, lsn, time.Minute)
	if err := x.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatalf("ingest still runs after its source became another database\nlogs:\n%s", logs.String())
	}
	if !errors.Is(err, ingest.ErrBadSource) || !strings.Contains(err.Error(), "system identifier") ||
		!strings.Contains(err.Error(), fmt.Sprint(mustSysID(t, y))) {
		t.Fatalf("Run returned %v; want ErrBadSource naming the other system identifier\nlogs:\n%s", err, logs.String())
	}
	t.Logf("refused: %v", err)
}
