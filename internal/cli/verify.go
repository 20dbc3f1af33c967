package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// Verify replays WAL with the redo engine and compares the replayed pages
// with the consistency images of wal_consistency_checking. It prints per
// record type, then per resource manager with the share applied natively.
// Exit status 1 when a page mismatches, when a record of a built-in
// resource manager could not be applied (every record type a stock
// PostgreSQL 15 writes has native redo), or on error; records of custom
// resource managers are counted, not failures.
func Verify(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "verify", "--path DIR --start LSN [--end LSN] [--json]")
	wr := addWALRangeFlags(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, _, endLSN, code := wr.open(env, fs, "verify")
	if code != 0 {
		return code
	}
	defer d.Close()

	rep, err := redo.Verify(ctx, d)
	if err != nil && !(endLSN == 0 && errors.Is(err, schema.ErrEndOfWAL)) {
		fmt.Fprintf(env.Stderr, "pagemill verify: error: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(env.Stderr, "pagemill verify: %v\n", err)
			return 1
		}
	} else {
		writeVerifyTable(env, rep)
	}
	if rep.Mismatches > 0 {
		return 1
	}
	for name, st := range rep.ByRmgr {
		if st.Unsupported > 0 && !strings.HasPrefix(name, "custom") {
			return 1
		}
	}
	return 0
}

func writeVerifyTable(env Env, rep *redo.VerifyReport) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "type\t%8s\t%8s\t%8s\t%10s\t%11s\n", "records", "applied", "compared", "mismatches", "unsupported")
	names := make([]string, 0, len(rep.ByType))
	for n := range rep.ByType {
		names = append(names, n)
	}
	sort.Strings(names)
	row := func(name string, s *redo.VerifyStats) {
		fmt.Fprintf(tw, "%s\t%8d\t%8d\t%8d\t%10d\t%11d\n", name, s.Records, s.Applied, s.Compared, s.Mismatches, s.Unsupported)
	}
	for _, n := range names {
		row(n, rep.ByType[n])
	}
	row("total", &rep.VerifyStats)
	tw.Flush()

	fmt.Fprintln(env.Stdout)
	tw = tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "rmgr\t%8s\t%8s\t%8s\t%8s\t%10s\t%11s\n", "records", "applied", "native", "compared", "mismatches", "unsupported")
	rmgrs := make([]string, 0, len(rep.ByRmgr))
	for n := range rep.ByRmgr {
		rmgrs = append(rmgrs, n)
	}
	sort.Strings(rmgrs)
	for _, n := range rmgrs {
		s := rep.ByRmgr[n]
		fmt.Fprintf(tw, "%s\t%8d\t%8d\t%7.2f%%\t%8d\t%10d\t%11d\n", n, s.Records, s.Applied,
			100*float64(s.Applied)/float64(max(s.Records, 1)), s.Compared, s.Mismatches, s.Unsupported)
	}
	tw.Flush()
	for _, m := range rep.FirstMismatches {
		fmt.Fprintf(env.Stdout, "mismatch: %s at %s, %s, first difference at offset %d", m.Record, m.At, m.Block, m.Offset)
		if m.Err != "" {
			fmt.Fprintf(env.Stdout, " (%s)", m.Err)
		}
		fmt.Fprintln(env.Stdout)
	}
	if rep.Mismatches > len(rep.FirstMismatches) {
		fmt.Fprintf(env.Stdout, "... and %d more mismatches\n", rep.Mismatches-len(rep.FirstMismatches))
	}
}
