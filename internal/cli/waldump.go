package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pagemill/pagemill/schema"
)

// Waldump prints one line per record in pg_waldump's format.
func Waldump(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "waldump", "--path DIR --start LSN [--end LSN]")
	wr := addWALRangeFlags(fs)
	limit := fs.Int("limit", 0, "stop after this many records (0: no limit)")
	detailed := fs.Bool("bkp-details", false, "show details of block references and images, like pg_waldump -b")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, startLSN, endLSN, code := wr.open(env, fs, "waldump")
	if code != 0 {
		return code
	}
	defer d.Close()

	out := bufio.NewWriterSize(env.Stdout, 256<<10)
	defer out.Flush()
	var line []byte
	n := 0
	for {
		if n%4096 == 0 && ctx.Err() != nil {
			return 1
		}
		rec, err := d.Next()
		if err != nil {
			out.Flush()
			if errors.Is(err, io.EOF) || (endLSN == 0 && errors.Is(err, schema.ErrEndOfWAL)) {
				return 0
			}
			fmt.Fprintf(env.Stderr, "pagemill waldump: error: %v\n", err)
			return 1
		}
		if n == 0 && rec.LSN != startLSN && startLSN.SegOffset(d.SegSize()) != 0 {
			// pg_waldump says so when --start is not a record's start.
			fmt.Fprintf(out, "first record is after %s, at %s, skipping over %d byte", startLSN.Short(), rec.LSN.Short(), rec.LSN-startLSN)
			if rec.LSN-startLSN != 1 {
				out.WriteByte('s')
			}
			out.WriteByte('\n')
		}
		line = schema.AppendWaldumpLine(line[:0], rec, nil, *detailed)
		out.Write(line)
		n++
		if *limit > 0 && n >= *limit {
			return 0
		}
	}
}
