package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// Demo starts a scratch PostgreSQL 15, runs pgbench on it and decodes its
// WAL while the load runs, then checks the result against pg_waldump and
// removes the cluster. It grows into the whole pipeline with later issues.
func Demo(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "demo", "[--seconds N] [--scale N]")
	seconds := fs.Int("seconds", 5, "how long pgbench runs")
	scale := fs.Int("scale", 1, "pgbench scale factor")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out := env.Stdout
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "pagemill demo: %v\n", err)
		return 1
	}

	fmt.Fprintln(out, "Starting a scratch PostgreSQL 15 cluster...")
	c, err := pgtest.New(ctx, pgtest.Options{})
	if err != nil {
		return fail(err)
	}
	defer func() {
		c.Close()
		fmt.Fprintln(out, "Stopped the scratch cluster and removed", c.DataDir())
	}()
	fmt.Fprintf(out, "PostgreSQL is running in %s on 127.0.0.1:%d\n", c.DataDir(), c.Port())
	startText, err := c.CreatePhysicalSlotContext(ctx, "pagemill_demo")
	if err != nil {
		return fail(err)
	}
	start, _ := schema.ParseLSN(startText)

	fmt.Fprintf(out, "Loading pgbench (scale %d) and running it for %d s; decoding WAL as it is written:\n", *scale, *seconds)
	loadDone := make(chan error, 1)
	go func() {
		if _, err := c.PgbenchContext(ctx, "-i", "-s", fmt.Sprint(*scale), "-q"); err != nil {
			loadDone <- err
			return
		}
		_, err := c.PgbenchContext(ctx, "-T", fmt.Sprint(*seconds), "-c", "4", "-j", "2")
		loadDone <- err
	}()

	st := newDemoStats()
	pos := start
	t0 := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last []*schema.DecodedRecord
	for running := true; running; {
		select {
		case err := <-loadDone:
			if err != nil {
				return fail(err)
			}
			running = false
		case <-tick.C:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		// Decode everything PostgreSQL has written so far: records up to
		// pg_current_wal_lsn() are complete in pg_wal.
		endText, err := c.CurrentWALLSNContext(ctx)
		if err != nil {
			return fail(err)
		}
		end, _ := schema.ParseLSN(endText)
		if end > pos {
			next, recs, err := decodeRange(c.WALDir(), pos, end, st)
			if err != nil {
				return fail(err)
			}
			pos, last = next, recs
		}
		el := time.Since(t0).Seconds()
		fmt.Fprintf(out, "  %5.1fs  decoded to %-12s %8d records  %7.1f MB  %8.0f records/s  %5d images\n",
			el, pos, st.records, float64(pos-start)/1e6, float64(st.records)/el, st.images)
	}

	st.print(out)
	fmt.Fprintln(out, "\nThe last records, as `pagemill waldump` prints them:")
	for _, r := range last[max(0, len(last)-5):] {
		fmt.Fprintf(out, "  %s", schema.AppendWaldumpLine(nil, r, nil, false))
	}

	// The oracle: pg_waldump on the same WAL must list the same records.
	want, err := c.RunBin(ctx, "pg_waldump", "-p", c.WALDir(), "-s", start.Short(), "-e", pos.Short())
	if err != nil {
		return fail(fmt.Errorf("pg_waldump: %v: %s", err, want))
	}
	n := strings.Count(string(want), "\n")
	if n != st.records {
		return fail(fmt.Errorf("pg_waldump lists %d records in %s..%s, pagemill decoded %d", n, start, pos, st.records))
	}
	fmt.Fprintf(out, "\npg_waldump lists the same %d records in %s..%s.\n", n, start, pos)
	return 0
}

// decodeRange decodes [from, to) and returns where it stopped (the end of
// the last whole record) and the records of the last batch.
func decodeRange(dir string, from, to schema.LSN, st *demoStats) (schema.LSN, []*schema.DecodedRecord, error) {
	d, err := schema.OpenWALDir(dir, schema.DirOptions{Start: from, End: to})
	if err != nil {
		return from, nil, err
	}
	defer d.Close()
	var recs []*schema.DecodedRecord
	next := from
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return next, recs, nil
		}
		if err != nil {
			return next, recs, err
		}
		st.add(rec)
		recs = append(recs, rec)
		if len(recs) > 64 {
			recs = recs[len(recs)-8:]
		}
		next = rec.EndLSN
	}
}

type demoStats struct {
	records, images int
	byType          map[string]*typeStat
}

type typeStat struct {
	n, bytes, fpi int
}

func newDemoStats() *demoStats { return &demoStats{byType: map[string]*typeStat{}} }

func (s *demoStats) add(r *schema.DecodedRecord) {
	s.records++
	name := schema.RecordTypeName(r.Rmgr(), r.Info())
	ts := s.byType[name]
	if ts == nil {
		ts = &typeStat{}
		s.byType[name] = ts
	}
	ts.n++
	ts.bytes += int(r.Header.TotLen)
	ts.fpi += int(r.FPILen())
	for i := range r.Blocks {
		if r.Blocks[i].HasImage {
			s.images++
		}
	}
}

func (s *demoStats) print(w io.Writer) {
	names := make([]string, 0, len(s.byType))
	for n := range s.byType {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return s.byType[names[i]].bytes > s.byType[names[j]].bytes })
	fmt.Fprintf(w, "\n%-32s %9s %12s %12s\n", "record type", "count", "bytes", "image bytes")
	for _, n := range names {
		ts := s.byType[n]
		fmt.Fprintf(w, "%-32s %9d %12d %12d\n", n, ts.n, ts.bytes, ts.fpi)
	}
}
