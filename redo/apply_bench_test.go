package redo

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// benchRecords reads every record of testdata/verify/NAME into memory.
func benchRecords(b *testing.B, name string) []*schema.DecodedRecord {
	b.Helper()
	src := filepath.Join(testdataVerify, name)
	rng, err := os.ReadFile(filepath.Join(src, "range.txt"))
	if err != nil {
		b.Fatal(err)
	}
	var start, end schema.LSN
	for _, line := range strings.Split(strings.TrimSpace(string(rng)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		lsn, err := schema.ParseLSN(v)
		if err != nil {
			b.Fatal(err)
		}
		if k == "start" {
			start = lsn
		} else {
			end = lsn
		}
	}
	d, err := schema.OpenWALDir(os.DirFS(pgtest.UnpackWAL(b, src)), schema.DirOptions{Start: start, End: end})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var recs []*schema.DecodedRecord
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			b.Fatal(err)
		}
		r, err := schema.DecodeRecord(append([]byte(nil), rec.Raw...), rec.LSN, rec.EndLSN)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
}

// BenchmarkApplyTestdata replays the plain testdata case with the engine
// (no comparison): redo and its record decoding.
func BenchmarkApplyTestdata(b *testing.B) {
	recs := benchRecords(b, "plain")
	eng, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Restorer.Close()
	b.ReportAllocs()
	for b.Loop() {
		pages := NewMemPages()
		for _, rec := range recs {
			res, err := eng.Apply(rec, pages)
			var uns *Unsupported
			if err != nil && !errors.As(err, &uns) {
				b.Fatal(err)
			}
			if res.Truncate != nil {
				pages.Truncate(res.Truncate)
			}
		}
	}
}
