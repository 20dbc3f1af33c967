package rebuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Metrics are the pagemill_rebuild_* metrics.
type Metrics struct {
	walBytes, walTarget, basePages, versions, records, seconds, done prometheus.Gauge
	movedAside                                                       prometheus.Counter
}

// NewMetrics registers the metrics on reg; a second registration on the
// same registry keeps the first's collectors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "pagemill_rebuild_" + name, Help: help})
	}
	m := &Metrics{
		walBytes:  g("wal_bytes", "WAL bytes (LSN distance from the base backup's start) the page store rebuild has applied."),
		walTarget: g("wal_target_bytes", "WAL bytes the page store rebuild applies in all: up to the last round in the stream at its start."),
		basePages: g("base_pages", "Base backup pages the page store rebuild imported."),
		versions:  g("page_versions", "Page versions the page store rebuild wrote from the records."),
		records:   g("records", "Records the page store rebuild applied (a record is counted by every shard that applies it)."),
		seconds:   g("seconds", "Duration of the page store rebuild so far (its total once done)."),
		done:      g("done", "1 once the page store rebuild reached its target LSN."),
		movedAside: prometheus.NewCounter(prometheus.CounterOpts{Name: "pagemill_rebuild_stores_moved_aside_total",
			Help: "Page stores moved aside (damaged, or replaced by `rebuild --force`) to be rebuilt from the streams."}),
	}
	for _, c := range []prometheus.Collector{m.walBytes, m.walTarget, m.basePages, m.versions, m.records, m.seconds, m.done, m.movedAside} {
		_ = reg.Register(c) // a second registration keeps the first's
	}
	return m
}

// watch follows a materializer filling a fresh store.
type watch struct {
	m      *materialize.Materializer
	base   streams.BaseBackupState
	target schema.LSN
	tli    uint32              // target's timeline
	gather prometheus.Gatherer // nil: no base import or record counts
	met    *Metrics
	began  time.Time
	// Start of the WAL replay (the base import done).
	walBegan time.Time
}

func newWatch(m *materialize.Materializer, base streams.BaseBackupState, target schema.LSN, tli uint32, reg prometheus.Registerer, met *Metrics) *watch {
	w := &watch{m: m, base: base, target: target, tli: tli, met: met, began: time.Now()}
	w.gather, _ = reg.(prometheus.Gatherer)
	met.walTarget.Set(float64(walBytes(base.StartLSN, target)))
	return w
}

// Progress is one observation of a rebuild.
type Progress struct {
	Importing           bool // the base backup is being imported
	BasePages           int64
	BaseTotal           int64 // pages of the base backup (0: unknown)
	Applied, Target     schema.LSN
	WALDone, WALTotal   int64 // bytes
	Records, Versions   int64
	Elapsed, WALElapsed time.Duration
	Done                bool
}

func (w *watch) progress() Progress {
	p := Progress{BaseTotal: w.base.Pages, Target: w.target, Versions: w.m.VersionsWritten(), Elapsed: time.Since(w.began)}
	select {
	case <-w.m.Ready():
	default:
		p.Importing = true
	}
	p.BasePages, p.Records = w.counts()
	if !p.Importing {
		if w.walBegan.IsZero() {
			w.walBegan = time.Now()
		}
		p.WALElapsed = time.Since(w.walBegan)
		p.Applied = w.m.Applied()
		if p.BasePages == 0 {
			p.BasePages = w.base.Pages // imported before the watch began
		}
	}
	p.WALTotal = walBytes(w.base.StartLSN, w.target)
	p.WALDone = min(walBytes(w.base.StartLSN, p.Applied), p.WALTotal)
	// On the target's timeline: an older one's abandoned branch may reach
	// past the target's LSN.
	p.Done = !p.Importing && p.Applied >= w.target && w.m.Layout().Timeline == w.tli
	w.met.walBytes.Set(float64(p.WALDone))
	w.met.basePages.Set(float64(p.BasePages))
	w.met.versions.Set(float64(p.Versions))
	w.met.records.Set(float64(p.Records))
	w.met.seconds.Set(p.Elapsed.Seconds())
	return p
}

// counts reads the base pages imported and the records applied from the
// materializer's metrics.
func (w *watch) counts() (basePages, records int64) {
	if w.gather == nil {
		return 0, 0
	}
	mfs, err := w.gather.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		var sum float64
		for _, mt := range mf.GetMetric() {
			sum += mt.GetCounter().GetValue()
		}
		switch mf.GetName() {
		case "pagemill_materialize_base_pages_total":
			basePages = int64(sum)
		case "pagemill_materialize_records_applied_total", "pagemill_materialize_records_unsupported_total":
			records += int64(sum)
		}
	}
	return basePages, records
}

// Follow logs the progress of a materializer filling a fresh page store
// inside a node, until it reaches the last round the stream held when it
// started (nothing when the stream is empty) or ctx ends.
func Follow(ctx context.Context, m *materialize.Materializer, h *streams.Handles, reg prometheus.Registerer, met *Metrics, log *slog.Logger) {
	last, err := streams.LastMsgOnSubject(ctx, h.Stream, h.Layout.MetaSubject())
	if err != nil {
		if !errors.Is(err, streams.ErrNoMessage) && ctx.Err() == nil {
			log.Warn("rebuild progress unknown", "err", err)
		}
		return
	}
	target, err := streams.RoundEnd(last.Header)
	if err != nil {
		log.Warn("rebuild progress unknown", "err", err)
		return
	}
	var base streams.BaseBackupState
	if e, err := h.KV.Get(ctx, streams.KeyBaseBackup); err != nil || json.Unmarshal(e.Value(), &base) != nil || !base.Completed {
		return // records come after the base backup: none yet
	}
	w := newWatch(m, base, target, h.Layout.Timeline, reg, met)
	log.Info("the page store is empty: rebuilding it from the streams", "target_lsn", target)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.progress().Log(log)
		case <-poll.C:
			if p := w.progress(); p.Done {
				met.done.Set(1)
				p.LogDone(log, "", 0)
				return
			}
		}
	}
}

func walBytes(from, to schema.LSN) int64 {
	if to <= from {
		return 0
	}
	return int64(to - from)
}

func mb(b int64) float64 { return float64(b) / 1e6 }

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return min(1, float64(a)/float64(b))
}

// BaseBytes is the size of the pages imported from the base backup.
func (p Progress) BaseBytes() int64 { return p.BasePages * schema.BLCKSZ }

// WALRate is the WAL replay's average in MB/s.
func (p Progress) WALRate() float64 {
	if p.WALElapsed <= 0 {
		return 0
	}
	return mb(p.WALDone) / p.WALElapsed.Seconds()
}

// Rate is the whole rebuild's average in MB/s (base pages and WAL).
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return mb(p.BaseBytes()+p.WALDone) / p.Elapsed.Seconds()
}

// ETA is the WAL replay's remaining time at its average rate (-1:
// unknown).
func (p Progress) ETA() time.Duration {
	if p.Done {
		return 0
	}
	if p.Importing || p.WALDone <= 0 || p.WALElapsed <= 0 {
		return -1
	}
	left := float64(p.WALTotal-p.WALDone) / float64(p.WALDone) * p.WALElapsed.Seconds()
	return time.Duration(left * float64(time.Second))
}

// Fraction is how much of the current phase is done, 0 to 1: of the base
// backup's pages while importing, of the WAL after.
func (p Progress) Fraction() float64 {
	if p.Importing {
		return ratio(p.BasePages, p.BaseTotal)
	}
	if p.WALTotal == 0 {
		return 1
	}
	return ratio(p.WALDone, p.WALTotal)
}

// FormatETA writes an ETA as M:SS or H:MM:SS ("--" when unknown).
func FormatETA(d time.Duration) string {
	if d < 0 {
		return "--"
	}
	d = d.Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// Log logs the observation as a progress line.
func (p Progress) Log(log *slog.Logger) {
	if p.Importing {
		log.Info("rebuild progress: importing the base backup", "pages", p.BasePages, "of", p.BaseTotal, "seconds", round1(p.Elapsed.Seconds()))
		return
	}
	log.Info("rebuild progress", "applied_lsn", p.Applied, "target_lsn", p.Target, "wal_mb", round1(mb(p.WALDone)), "wal_total_mb", round1(mb(p.WALTotal)),
		"percent", round1(100*ratio(p.WALDone, p.WALTotal)), "mb_per_s", round1(p.WALRate()), "eta", FormatETA(p.ETA()),
		"records", p.Records, "page_versions", p.Versions)
}

// LogDone logs the rebuild's end; dir and storeBytes (the store's size)
// are left out when dir is "".
func (p Progress) LogDone(log *slog.Logger, dir string, storeBytes int64) {
	args := []any{"applied_lsn", p.Applied, "mb", round1(mb(p.BaseBytes() + p.WALDone)), "base_mb", round1(mb(p.BaseBytes())), "wal_mb", round1(mb(p.WALDone)),
		"seconds", round1(p.Elapsed.Seconds()), "mb_per_s", round1(p.Rate()), "wal_mb_per_s", round1(p.WALRate()),
		"base_pages", p.BasePages, "page_versions", p.Versions, "records", p.Records}
	if dir != "" {
		args = append(args, "dir", dir, "store_mb", round1(mb(storeBytes)))
	}
	log.Info("page store rebuilt from the streams", args...)
}
