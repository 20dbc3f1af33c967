package materialize_test

import (
	"context"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/schema"
)

// TestMaterializeIndexAMs: after the workload of every index access method
// (pgtest.IndexAMWorkloads: hash, GIN with fastupdate and without, GiST,
// SP-GiST, BRIN, bloom), every page of every relation of the source, the
// indexes included, equals pagemill's page at the source's LSN after a
// CHECKPOINT, masked with its access method's mask; none is unavailable.
func TestMaterializeIndexAMs(t *testing.T) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{ExtraConf: pgtest.IndexAMConf()}))
	p := pipetest.Start(t, c, pipetest.Options{})
	for _, w := range pgtest.IndexAMWorkloads() {
		if !w.Minimal { // wal_level=minimal cannot be streamed
			c.RunIndexAMWorkload(t, w)
			c.RunIndexAMChanges(t, w)
		}
	}
	c.Checkpoint(t)
	lsn := p.CatchUp(t, c)
	st := pipetest.CompareDataDir(t, c, lsn, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		page, _, err := p.Mat.PageAt(context.Background(), tag, lsn)
		return page, err
	})
	t.Logf("at %s: %d pages, %d compared, %d new pages skipped, %d of other access methods, %d unavailable",
		lsn, st.Pages, st.Compared, st.ZeroSkipped, st.OtherAM, st.Unavailable)
	for _, r := range []schema.RmgrID{schema.RmgrHeap, schema.RmgrBtree, schema.RmgrHash, schema.RmgrGin,
		schema.RmgrGist, schema.RmgrSPGist, schema.RmgrBRIN, schema.RmgrGeneric} {
		t.Logf("%s: %d pages compared", r, st.ByRmgr[r])
		if st.ByRmgr[r] == 0 {
			t.Errorf("no %s page compared", r)
		}
	}
	if st.Unavailable != 0 {
		t.Errorf("%d pages unavailable", st.Unavailable)
	}
}
