package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/schema"
)

// timeReceiveWAL times pg_receivewal writing [start of stop's segment,
// target) into a fresh directory. PostgreSQL 15's pg_receivewal has no
// --startpos: it starts after the newest complete segment in its
// directory (else at the slot's restart_lsn or the server's position), so
// a sparse placeholder for the segment before stop's makes it start at
// stop's segment.
func (b *ingestBench) timeReceiveWAL(ctx context.Context, variant string) (ingestRow, error) {
	flag, label, _ := receivewalVariant(variant)
	segSize := uint32(b.c.WALSegmentSize())
	startSeg := b.stop.SegNo(segSize)
	start := schema.SegmentStart(startSeg, segSize)
	row := ingestRow{name: label, bytes: int64(b.target - start)}
	dir, err := os.MkdirTemp(b.tmp, "receivewal-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	placeholder := filepath.Join(dir, schema.XLogFileName(b.timeline, startSeg-1, segSize))
	if err := os.WriteFile(placeholder, nil, 0o600); err != nil {
		return row, err
	}
	if err := os.Truncate(placeholder, int64(segSize)); err != nil {
		return row, err
	}
	// It stops once it has received past --endpos (endpos < received), so
	// target-1 ends it at target rather than at the next WAL the server
	// writes.
	args := []string{"-D", dir, "--endpos", (b.target - 1).Short(), "--no-loop", "-h", "127.0.0.1", "-p", strconv.Itoa(b.c.Port()), "-U", "postgres"}
	if flag != "" {
		args = append(args, flag)
	}
	row.load = quiesce()
	b.log.Info("timing pg_receivewal", "args", strings.Join(args, " "), "from", start, "to", b.target, "load_average", row.load)
	cmd := b.c.Command(ctx, "pg_receivewal", args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	sw := startWatch(syscall.RUSAGE_CHILDREN)
	err = cmd.Run()
	row.elapsed, row.cpu = sw.elapsed()
	if err != nil {
		return row, fmt.Errorf("pg_receivewal %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	// It must have written the range: the segment holding the last byte
	// before target, complete or partial.
	last := schema.XLogFileName(b.timeline, (b.target - 1).SegNo(segSize), segSize)
	if _, err := os.Stat(filepath.Join(dir, last)); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, last+".partial")); err2 != nil {
			return row, fmt.Errorf("pg_receivewal %s left no %s: %v\n%s", variant, last, err, out.String())
		}
	}
	b.log.Info("pg_receivewal done", "variant", variant, "seconds", row.elapsed.Seconds(),
		"mb_per_s", float64(row.bytes)/1e6/row.elapsed.Seconds(), "load_average", loadAverage())
	return row, nil
}

func fmtMillis(seconds float64) string {
	if math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return "?"
	}
	return strconv.FormatFloat(seconds*1000, 'f', 1, 64) + " ms"
}

// histogramSummary summarises a Prometheus histogram.
type histogramSummary struct {
	count         uint64
	mean          float64 // seconds
	p50, p90, p99 float64 // seconds, estimated from the buckets
}

// histogramBucket is one cumulative bucket: count observations ≤ upper.
type histogramBucket struct {
	upper float64
	count uint64
}

// bucketQuantile estimates quantile q from cumulative buckets the way
// PromQL's histogram_quantile does: linear interpolation inside the bucket
// holding the rank (from 0 for the first bucket); a rank beyond the last
// finite bucket answers that bucket's upper bound.
func bucketQuantile(q float64, buckets []histogramBucket, total uint64) float64 {
	if total == 0 || len(buckets) == 0 {
		return math.NaN()
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].upper < buckets[j].upper })
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for _, b := range buckets {
		if float64(b.count) >= rank {
			if math.IsInf(b.upper, 1) {
				return lower
			}
			in := b.count - below
			if in == 0 {
				return b.upper
			}
			return lower + (b.upper-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = b.upper, b.count
	}
	return lower
}

type ingestMetrics struct {
	records, rounds, bytes int64
	latency                histogramSummary
}

// gatherIngestMetrics reads the ingest's counters and publish-latency
// histogram from the registry it was given.
func gatherIngestMetrics(reg *prometheus.Registry) (ingestMetrics, error) {
	var m ingestMetrics
	mfs, err := reg.Gather()
	if err != nil {
		return m, fmt.Errorf("ingest metrics: %w", err)
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		pm := mf.GetMetric()[0]
		switch mf.GetName() {
		case "pagemill_ingest_published_records_total":
			m.records = int64(pm.GetCounter().GetValue())
		case "pagemill_ingest_published_rounds_total":
			m.rounds = int64(pm.GetCounter().GetValue())
		case "pagemill_ingest_published_bytes_total":
			m.bytes = int64(pm.GetCounter().GetValue())
		case "pagemill_ingest_publish_duration_seconds":
			h := pm.GetHistogram()
			var buckets []histogramBucket
			for _, b := range h.GetBucket() {
				buckets = append(buckets, histogramBucket{upper: b.GetUpperBound(), count: b.GetCumulativeCount()})
			}
			n := h.GetSampleCount()
			buckets = append(buckets, histogramBucket{upper: math.Inf(1), count: n})
			m.latency = histogramSummary{count: n}
			if n > 0 {
				m.latency.mean = h.GetSampleSum() / float64(n)
				m.latency.p50 = bucketQuantile(0.5, buckets, n)
				m.latency.p90 = bucketQuantile(0.9, buckets, n)
				m.latency.p99 = bucketQuantile(0.99, buckets, n)
			}
		}
	}
	return m, nil
}
