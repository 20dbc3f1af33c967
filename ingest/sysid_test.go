package ingest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
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
	r := startIngest(t, ingest.Config{Source: src, Slot: "pm", RetryMax: time.Second}, nc)
	x.Exec(t, "CREATE TABLE t AS SELECT 1 AS k")
	lsn := mustLSN(t, x.SwitchWAL(t))
	r.waitPublished(t, lsn, time.Minute)
	if err := x.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	err := r.waitEnd(t, 2*time.Minute)
	if !errors.Is(err, ingest.ErrBadSource) || !strings.Contains(err.Error(), "system identifier") ||
		!strings.Contains(err.Error(), fmt.Sprint(mustSysID(t, y))) {
		t.Fatalf("Run returned %v; want ErrBadSource naming the other system identifier\nlogs:\n%s", err, r.logs.String())
	}
	t.Logf("refused: %v", err)
}
