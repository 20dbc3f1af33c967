package ingest

import "github.com/prometheus/client_golang/prometheus"

// metrics are the ingest's Prometheus series, registered on the registry
// the process passes in.
type metrics struct {
	receivedBytes    prometheus.Counter
	receivedRecords  prometheus.Counter
	publishedBytes   prometheus.Counter
	publishedRecords prometheus.Counter
	publishedRounds  prometheus.Counter
	publishDuration  prometheus.Histogram
	lagBytes         prometheus.Gauge
	receivedLSN      prometheus.Gauge
	publishedLSN     prometheus.Gauge
	connected        prometheus.Gauge
	jsErrors         *prometheus.CounterVec
	baseBackupBytes  prometheus.Counter
	baseBackupFiles  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &metrics{
		receivedBytes:    counter("pagemill_ingest_received_bytes_total", "WAL bytes received from the source."),
		receivedRecords:  counter("pagemill_ingest_received_records_total", "WAL records decoded from the replication stream."),
		publishedBytes:   counter("pagemill_ingest_published_bytes_total", "Bytes of WAL events acknowledged by JetStream."),
		publishedRecords: counter("pagemill_ingest_published_records_total", "WAL records acknowledged by JetStream."),
		publishedRounds:  counter("pagemill_ingest_published_rounds_total", "Atomic publish rounds acknowledged by JetStream."),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pagemill_ingest_publish_duration_seconds",
			Help:    "Time from sending a round to JetStream until it is acknowledged (retries included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		lagBytes:     gauge("pagemill_ingest_replication_lag_bytes", "Source's current WAL position minus the flush position acknowledged by JetStream."),
		receivedLSN:  gauge("pagemill_ingest_received_lsn", "Highest WAL position received (as a number)."),
		publishedLSN: gauge("pagemill_ingest_published_lsn", "Flush position: every record before it is durable in JetStream."),
		connected:    gauge("pagemill_ingest_replication_connected", "1 while the replication connection streams."),
		jsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pagemill_ingest_jetstream_errors_total", Help: "JetStream publish errors by kind.",
		}, []string{"kind"}),
		baseBackupBytes: counter("pagemill_ingest_basebackup_bytes_total", "Bytes of base backup files stored."),
		baseBackupFiles: counter("pagemill_ingest_basebackup_files_total", "Base backup files stored."),
	}
	for _, c := range []prometheus.Collector{m.receivedBytes, m.receivedRecords, m.publishedBytes, m.publishedRecords,
		m.publishedRounds, m.publishDuration, m.lagBytes, m.receivedLSN, m.publishedLSN, m.connected, m.jsErrors,
		m.baseBackupBytes, m.baseBackupFiles} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
