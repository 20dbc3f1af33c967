package materialize_test

import (
	"context"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/schema"
)

// TestMaterializeMatchesSource: after pgbench and the DDL workload, every
// page of every main and vm fork of the source equals pagemill's page at
// the source's LSN after a CHECKPOINT, masked as verify masks.
func TestMaterializeMatchesSource(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	p := pipetest.Start(t, c, pipetest.Options{})
	c.Pgbench(t, "-T", "3", "-c", "2")
	c.RunDDLWorkload(t)
	c.Exec(t, "VACUUM")
	c.Checkpoint(t)
	lsn := p.CatchUp(t, c)
	st := pipetest.CompareDataDir(t, c, lsn, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		p, _, err := p.Mat.PageAt(context.Background(), tag, lsn)
		return p, err
	})
	t.Logf("at %s: %d pages, %d compared, %d new pages skipped, %d of other access methods, %d unavailable",
		lsn, st.Pages, st.Compared, st.ZeroSkipped, st.OtherAM, st.Unavailable)
	if st.Compared < 1000 {
		t.Fatalf("only %d pages compared", st.Compared)
	}
}
