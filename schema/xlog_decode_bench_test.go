package schema

import (
	"testing"
	"time"
)

// The record-decoding hot paths over the golden WAL: the waldump
// descriptions and the pages each record changes (routing).

func BenchmarkDescribeGolden(b *testing.B) {
	g := goldenWALFor(b)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, rec := range g.records {
			buf = AppendDescription(buf[:0], rec, time.UTC)
		}
	}
}

func BenchmarkPagesChangedGolden(b *testing.B) {
	g := goldenWALFor(b)
	var tags []BufferTag
	b.ReportAllocs()
	for b.Loop() {
		for _, rec := range g.records {
			tags = PagesChanged(tags[:0], rec)
		}
	}
}
