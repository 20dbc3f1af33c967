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
	path := fs.String("path", "", "directory holding WAL segment files (required)")
	start := fs.String("start", "", "LSN to start at, X/X (required)")
	end := fs.String("end", "", "LSN to stop at, X/X (default: the end of WAL)")
	tli := fs.Uint("timeline", 0, "timeline of the segment files (default: the highest one holding --start)")
	limit := fs.Int("limit", 0, "stop after this many records (0: no limit)")
	detailed := fs.Bool("bkp-details", false, "show details of block references and images, like pg_waldump -b")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || *start == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	startLSN, err := schema.ParseLSN(*start)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill waldump: --start: %v\n", err)
		return 2
	}
	var endLSN schema.LSN
	if *end != "" {
		if endLSN, err = schema.ParseLSN(*end); err != nil {
			fmt.Fprintf(env.Stderr, "pagemill waldump: --end: %v\n", err)
			return 2
		}
	}
	d, err := schema.OpenWALDir(*path, schema.DirOptions{Start: startLSN, End: endLSN, Timeline: schema.TimeLineID(*tli)})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill waldump: %v\n", err)
		return 1
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
