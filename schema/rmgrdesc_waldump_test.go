package schema

import (
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestDescribeAgainstWaldump compares WaldumpLine with real pg_waldump 15
// output, record by record. It runs only when RMGRDESC_WALDIR (a pg_wal
// directory) and RMGRDESC_DUMP (pg_waldump's output for the same range)
// are set:
//
//	TZ=UTC pg_waldump [-b] -p $DIR -s $START -e $END > dump.txt
//	RMGRDESC_WALDIR=$DIR RMGRDESC_DUMP=dump.txt RMGRDESC_START=$START \
//	  RMGRDESC_END=$END RMGRDESC_TZ=UTC [RMGRDESC_DETAILED=1] \
//	  go test -run DescribeAgainstWaldump ./schema/
//
// RMGRDESC_TZ must name the zone pg_waldump ran in (default: Local).
func TestDescribeAgainstWaldump(t *testing.T) {
	dir, dumpPath := os.Getenv("RMGRDESC_WALDIR"), os.Getenv("RMGRDESC_DUMP")
	if dir == "" || dumpPath == "" {
		t.Skip("RMGRDESC_WALDIR and RMGRDESC_DUMP not set")
	}
	start, err := ParseLSN(os.Getenv("RMGRDESC_START"))
	if err != nil {
		t.Fatalf("RMGRDESC_START: %v", err)
	}
	var end LSN
	if s := os.Getenv("RMGRDESC_END"); s != "" {
		if end, err = ParseLSN(s); err != nil {
			t.Fatalf("RMGRDESC_END: %v", err)
		}
	}
	loc := time.Local
	if z := os.Getenv("RMGRDESC_TZ"); z != "" {
		if loc, err = time.LoadLocation(z); err != nil {
			t.Fatalf("RMGRDESC_TZ: %v", err)
		}
	}
	detailed := os.Getenv("RMGRDESC_DETAILED") != ""

	raw, err := os.ReadFile(dumpPath)
	if err != nil {
		t.Fatal(err)
	}
	// Split the dump into per-record chunks: each starts with "rmgr: ".
	text := string(raw)
	var chunks []string
	for len(text) > 0 {
		next := strings.Index(text[1:], "\nrmgr: ")
		if next < 0 {
			chunks = append(chunks, text)
			break
		}
		chunks = append(chunks, text[:next+2])
		text = text[next+2:]
	}

	rd, err := OpenWALDir(dir, DirOptions{Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	mismatches := map[string]int{}
	total := map[string]int{}
	shown := 0
	n := 0
	for ; ; n++ {
		rec, err := rd.Next()
		if err == io.EOF || errors.Is(err, ErrEndOfWAL) {
			break
		}
		if err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		if n >= len(chunks) {
			t.Fatalf("more records than pg_waldump printed (%d)", len(chunks))
		}
		key := RecordTypeName(rec.Rmgr(), rec.Info())
		total[key]++
		got := WaldumpLine(rec, loc, detailed)
		if got != chunks[n] {
			mismatches[key]++
			if shown < 30 {
				shown++
				t.Errorf("record %d at %s (%s):\n got %q\nwant %q", n, rec.LSN, key, got, chunks[n])
			}
		}
	}
	if n != len(chunks) {
		t.Errorf("read %d records, pg_waldump printed %d", n, len(chunks))
	}
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if mismatches[k] > 0 {
			t.Errorf("%-35s %7d records, %7d differ", k, total[k], mismatches[k])
		} else {
			t.Logf("%-35s %7d records, all equal", k, total[k])
		}
	}
}
