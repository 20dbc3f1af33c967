package materialize_test

import (
	"context"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// TestMaterializeMatchesSource: after pgbench and the DDL workload, every
// page of every main and vm fork of the source equals pagemill's page at
// the source's LSN after a CHECKPOINT, masked as verify masks.
func TestMaterializeMatchesSource(t *testing.T) {
	for _, checksums := range []bool{false, true} {
		name := "plain"
		if checksums {
			name = "checksums"
		}
		t.Run(name, func(t *testing.T) { testMaterializeMatchesSource(t, checksums) })
	}
}

func testMaterializeMatchesSource(t *testing.T, checksums bool) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{DataChecksums: checksums}))
	c.Pgbench(t, "-i", "-s", "1", "-q")
	p := pipetest.Start(t, c, pipetest.Options{})
	c.Pgbench(t, "-T", "3", "-c", "2")
	c.RunDDLWorkload(t)
	c.Exec(t, "VACUUM")
	c.Checkpoint(t)
	lsn := p.CatchUp(t, c)
	st := pipetest.CompareDataDir(t, c, lsn, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		page, _, err := p.Mat.PageAt(context.Background(), tag, lsn)
		// With data checksums, every page served carries the right one
		// (the masks ignore pd_checksum, so check it here).
		if err == nil && checksums && !page.IsNew() {
			if sum, cerr := redo.PGChecksumPage(page, tag.Block); cerr != nil || sum != page.Checksum() {
				t.Errorf("%s: checksum %04x, want %04x (%v)", tag, page.Checksum(), sum, cerr)
			}
		}
		return page, err
	})
	t.Logf("at %s: %d pages, %d compared, %d new pages skipped, %d of other access methods, %d unavailable",
		lsn, st.Pages, st.Compared, st.ZeroSkipped, st.OtherAM, st.Unavailable)
	if st.Compared < 1000 {
		t.Fatalf("only %d pages compared", st.Compared)
	}
	aux := pipetest.CompareAux(t, c, lsn, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		page, _, err := p.Mat.PageAt(context.Background(), tag, lsn)
		return page, err
	})
	t.Logf("auxiliary: %d SLRU pages, %d relation maps compared, %d zero pages skipped", aux.SlruPages, aux.RelMaps, aux.ZeroSkipped)
	if aux.SlruPages < 3 || aux.RelMaps < 3 {
		t.Errorf("too few auxiliary pages compared: %+v", aux)
	}
}
