package materialize_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// TestHistoricalReads: for a sample of (page, LSN) pairs taken from the
// consistency images of a wal_consistency_checking=all WAL, the page
// pagemill returns at that LSN equals the image, masked.
func TestHistoricalReads(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{WALConsistencyChecking: "all"})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	p := pipetest.Start(t, c, pipetest.Options{})
	c.Pgbench(t, "-t", "300", "-c", "2")
	c.Exec(t, "CREATE TABLE h (id int PRIMARY KEY, v text); INSERT INTO h SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
	c.Exec(t, "UPDATE h SET v = 'x' WHERE id % 3 = 0; DELETE FROM h WHERE id % 7 = 0")
	c.Exec(t, "VACUUM h")
	began := time.Now()
	end := p.CatchUp(t, c)
	t.Logf("caught up to %s in %s", end, time.Since(began))
	horizon := p.Mat.Horizon()

	dir := t.TempDir()
	c.CopyWAL(t, dir)
	samples, seen := sampleConsistencyImages(t, dir, horizon, end)
	if len(samples) < 1000 {
		t.Fatalf("only %d consistency images after the horizon %s", len(samples), horizon)
	}
	t.Logf("sampled in %s", time.Since(began))
	ctx := context.Background()
	bad := 0
	for _, s := range samples {
		got, _, err := p.Mat.PageAt(ctx, s.tag, s.lsn)
		if err != nil {
			if bad < 10 {
				t.Errorf("%s at %s: %v", s.tag, s.lsn, err)
			}
			bad++
			continue
		}
		off, equal, err := redo.CompareMasked(s.rmgr, s.tag.Block, s.image, got)
		if err != nil || !equal {
			if bad < 10 {
				t.Errorf("%s at %s (%s): differs at %d (%v)", s.tag, s.lsn, s.rmgr, off, err)
			}
			bad++
		}
	}
	t.Logf("%d (page, LSN) pairs compared out of %d consistency images after %s; %d differ", len(samples), seen, horizon, bad)
	if bad > 0 {
		t.Fatalf("%d of %d differ", bad, len(samples))
	}
}

// historyPos is a block reference: a record's LSN and the block's index.
type historyPos struct {
	lsn schema.LSN
	blk int
}

// historySample is a consistency image and what the page store must
// return for its page at its record's end.
type historySample struct {
	tag   schema.BufferTag
	lsn   schema.LSN
	rmgr  schema.RmgrID
	image schema.Page
}

// sampleConsistencyImages restores a random 1500 of the natively
// redone consistency images in dir's WAL from horizon to end: pass 1
// lists them, pass 2 restores the sample. It returns the sample and how
// many images there were.
func sampleConsistencyImages(t *testing.T, dir string, horizon, end schema.LSN) ([]historySample, int) {
	t.Helper()
	walk := func(f func(rec *schema.DecodedRecord, i int)) { walkConsistencyImages(t, dir, horizon, end, f) }
	var all []historyPos
	walk(func(rec *schema.DecodedRecord, i int) { all = append(all, historyPos{rec.LSN, i}) })
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	pick := map[historyPos]bool{}
	for _, p := range all[:min(1500, len(all))] {
		pick[p] = true
	}
	ir, err := schema.NewImageRestorer()
	if err != nil {
		t.Fatal(err)
	}
	var samples []historySample
	walk(func(rec *schema.DecodedRecord, i int) {
		if !pick[historyPos{rec.LSN, i}] {
			return
		}
		img := make(schema.Page, schema.BLCKSZ)
		if err := ir.Restore(img, rec, &rec.Blocks[i]); err != nil {
			t.Fatal(err)
		}
		samples = append(samples, historySample{tag: rec.Blocks[i].Tag, lsn: rec.EndLSN, rmgr: rec.Rmgr(), image: img})
	})
	return samples, len(all)
}

// walkConsistencyImages calls f for each block of a Heap, Heap2, Btree
// or Sequence record in dir's WAL from horizon to end whose image is for
// consistency checking.
func walkConsistencyImages(t *testing.T, dir string, horizon, end schema.LSN, f func(rec *schema.DecodedRecord, i int)) {
	t.Helper()
	native := map[schema.RmgrID]bool{schema.RmgrHeap: true, schema.RmgrHeap2: true, schema.RmgrBtree: true, schema.RmgrSequence: true}
	rd, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: horizon, End: end})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !native[rec.Rmgr()] {
			continue
		}
		for i := range rec.Blocks {
			if redo.ConsistencyCheckBlock(rec, &rec.Blocks[i]) {
				f(rec, i)
			}
		}
	}
}
