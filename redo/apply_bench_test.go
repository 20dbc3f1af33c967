package redo

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/pagemill/pagemill/internal/testwal"
	"github.com/pagemill/pagemill/schema"
)

// benchRecords reads every record of testdata/verify/NAME into memory.
func benchRecords(b *testing.B, name string) []*schema.DecodedRecord {
	b.Helper()
	return testwal.Records(b, filepath.Join(testdataVerify, name))
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
