package restore

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	restores prometheus.Counter
	bytes    prometheus.Counter
	pages    prometheus.Counter
	seconds  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		restores: prometheus.NewCounter(prometheus.CounterOpts{Name: "pagemill_restore_data_directories_total", Help: "Data directories written (basebackup / restore)."}),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "pagemill_restore_bytes_total", Help: "Bytes of data directory files written."}),
		pages:    prometheus.NewCounter(prometheus.CounterOpts{Name: "pagemill_restore_pages_total", Help: "Relation pages written into data directories."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pagemill_restore_duration_seconds", Help: "Time to write one data directory.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.restores, m.bytes, m.pages, m.seconds)
	}
	return m
}
