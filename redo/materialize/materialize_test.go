package materialize_test

import (
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
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
	st := compareDataDir(t, c, p, lsn)
	t.Logf("at %s: %d pages, %d compared, %d new pages skipped, %d of other access methods, %d unavailable",
		lsn, st.pages, st.compared, st.zeroSkipped, st.otherAM, st.unavailable)
	if st.compared < 1000 {
		t.Fatalf("only %d pages compared", st.compared)
	}
}
