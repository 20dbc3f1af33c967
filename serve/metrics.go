package serve

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Request kinds, the label of the latency histogram.
const (
	kindGetPage = iota
	kindNblocks
	kindExists
	kindDbSize
	kindGetSlru
	kindQuery
	numKinds
)

var kindNames = [numKinds]string{"get_page", "nblocks", "exists", "db_size", "get_slru_segment", "query"}

// Error kinds, the label of the errors counter.
const (
	errBadRequest   = "bad_request"
	errTimeout      = "timeout"
	errCanceled     = "canceled"
	errBelowHorizon = "below_horizon"
	errNotReady     = "not_ready"
	errUnavailable  = "unavailable"
	errNotFound     = "not_found"
	errUnsupported  = "unsupported"
	errWrongTenant  = "wrong_tenant"
	errProtocol     = "protocol"
	errAuth         = "auth"
	errTooMany      = "too_many_connections"
	errInternal     = "internal"
)

type metrics struct {
	request     [numKinds]prometheus.Observer
	waitSeconds prometheus.Histogram
	waiting     prometheus.Gauge
	timeouts    prometheus.Counter
	errors      *prometheus.CounterVec
	conns       prometheus.Gauge
	connsTotal  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	reqVec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pagemill_serve_request_seconds",
		Help:    "Time to answer one request (pagestream message or psql command), by kind, waits included.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 3, 12)}, []string{"kind"})
	m := &metrics{
		waitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pagemill_serve_lsn_wait_seconds",
			Help:    "Time requests waited for redo to apply the LSN they need (only requests that had to wait).",
			Buckets: prometheus.ExponentialBuckets(100e-6, 3, 12)}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pagemill_serve_waits_in_progress",
			Help: "Requests waiting for an LSN to be applied."}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "pagemill_serve_wait_timeouts_total",
			Help: "LSN waits that ran into the wait timeout."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pagemill_serve_errors_total",
			Help: "Requests and connections that ended in an error, by kind."}, []string{"kind"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pagemill_serve_connections",
			Help: "Open client connections."}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "pagemill_serve_connections_total",
			Help: "Client connections accepted."}),
	}
	// Resolve the label once: the histogram sits on the hot path.
	for k := range numKinds {
		m.request[k] = reqVec.WithLabelValues(kindNames[k])
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	cs := []prometheus.Collector{reqVec, m.waitSeconds, m.waiting, m.timeouts, m.errors, m.conns, m.connsTotal}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return m, nil
}
