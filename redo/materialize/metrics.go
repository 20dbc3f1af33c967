package materialize

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	applied         *prometheus.GaugeVec
	lagBytes        prometheus.Gauge
	lagSeconds      prometheus.Gauge
	records         *prometheus.CounterVec
	unsupported     *prometheus.CounterVec
	redoSeconds     prometheus.Histogram
	commitSeconds   prometheus.Histogram
	syncSeconds     prometheus.Histogram
	reconstructions *prometheus.CounterVec
	reconstructSecs prometheus.Histogram
	waiters         prometheus.Gauge
	images          prometheus.Counter
	deltas          prometheus.Counter
	spilled         prometheus.Counter
	unspilled       prometheus.Counter
	baseImportPages prometheus.Counter
	snapshots       prometheus.Counter
	snapshotSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, storeSize func() (lsm, vlog int64), segmentBytes func() int64) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}
	m := &metrics{
		applied: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pagemill_materialize_applied_lsn",
			Help: "Applied LSN of each shard (as a number)."}, []string{"shard"}),
		lagBytes: gauge("pagemill_materialize_lag_bytes",
			"WAL bytes published by ingest and not yet applied by the slowest shard."),
		lagSeconds: gauge("pagemill_materialize_lag_seconds",
			"Age of the newest applied round when it was applied (publish to applied), slowest shard."),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pagemill_materialize_records_applied_total",
			Help: "Records applied, by record type."}, []string{"type"}),
		unsupported: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pagemill_materialize_records_unsupported_total",
			Help: "Records whose redo is not supported (their pages became unavailable), by record type."}, []string{"type"}),
		redoSeconds: histogram("pagemill_materialize_redo_seconds",
			fmt.Sprintf("Time to apply one record to its pages (one record in %d is timed).", redoSampleEvery), prometheus.ExponentialBuckets(1e-7, 4, 10)),
		commitSeconds: histogram("pagemill_materialize_commit_seconds",
			"Time to commit one shard batch to the page store.", prometheus.ExponentialBuckets(1e-4, 3, 10)),
		syncSeconds: histogram("pagemill_materialize_sync_seconds",
			"Time to sync the page store for the batches committed since the last sync.", prometheus.ExponentialBuckets(1e-4, 3, 10)),
		reconstructions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pagemill_materialize_reconstructions_total",
			Help: "On-demand page reconstructions, by result (ok, shared, error)."}, []string{"result"}),
		reconstructSecs: histogram("pagemill_materialize_reconstruct_seconds",
			"Time to reconstruct one page version on demand.", prometheus.ExponentialBuckets(1e-5, 3, 10)),
		waiters:         gauge("pagemill_materialize_waiters", "Readers waiting for an LSN to be applied."),
		images:          counter("pagemill_materialize_images_written_total", "Full page images written to the page store."),
		deltas:          counter("pagemill_materialize_deltas_written_total", "Records written to the page store as page deltas."),
		spilled:         counter("pagemill_materialize_spilled_pages_total", "Current pages evicted from the redo shards' cache into their spill files."),
		unspilled:       counter("pagemill_materialize_unspilled_pages_total", "Current pages loaded back from the spill files."),
		baseImportPages: counter("pagemill_materialize_base_pages_total", "Pages imported from the base backup."),
		snapshots:       counter("pagemill_materialize_snapshots_total", "Snapshots of the page store stored in the object store."),
		snapshotSeconds: histogram("pagemill_materialize_snapshot_duration_seconds",
			"Time to write one snapshot.", prometheus.ExponentialBuckets(0.1, 2, 14)),
	}
	size := func(pick func(l, v int64) int64) func() float64 {
		return func() float64 { l, v := storeSize(); return float64(pick(l, v)) }
	}
	reg.MustRegister(m.applied, m.lagBytes, m.lagSeconds, m.records, m.unsupported, m.redoSeconds, m.commitSeconds, m.syncSeconds,
		m.reconstructions, m.reconstructSecs, m.waiters, m.images, m.deltas, m.spilled, m.unspilled, m.baseImportPages, m.snapshots, m.snapshotSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pagemill_materialize_store_lsm_bytes", Help: "Badger LSM size."},
			size(func(l, _ int64) int64 { return l })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pagemill_materialize_store_vlog_bytes", Help: "Badger value log size."},
			size(func(_, v int64) int64 { return v })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pagemill_materialize_store_segment_file_bytes", Help: "Size of the page store's segment files (the records)."},
			func() float64 { return float64(segmentBytes()) }),
	)
	return m
}

func shardLabel(s int) string { return strconv.Itoa(s) }
