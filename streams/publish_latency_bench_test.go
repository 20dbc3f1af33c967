package streams

import (
	"sort"
	"testing"
	"time"
)

// BenchmarkPublishRoundLatency publishes rounds like a live ingest's (a
// shard message and the meta message, 40 KB) one at a time and reports
// their latency percentiles.
func BenchmarkPublishRoundLatency(b *testing.B) {
	ctx, nc, _, _ := ensuredNode(b, 10*time.Minute, Config{})
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs := makeBatch(testLayout, i+1, []int{0}, 40<<10)
		t0 := time.Now()
		if _, err := PublishAtomic(ctx, nc, batchID(i+1), msgs); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

// BenchmarkPublishOneLatency publishes the same bytes as one message with
// a plain, deduplicated JetStream publish.
func BenchmarkPublishOneLatency(b *testing.B) {
	ctx, nc, js, _ := ensuredNode(b, 10*time.Minute, Config{})
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs := makeBatch(testLayout, i+1, nil, 80<<10)
		t0 := time.Now()
		if _, err := js.PublishMsg(ctx, msgs[0]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	_ = nc
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}
