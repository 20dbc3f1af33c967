package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Config configures an Ingester.
type Config struct {
	Source string // libpq URL or key/value string; replication is added
	Slot   string // physical slot name (default "pagemill")

	Streams streams.Config

	RoundBytes int // publish a round once it holds this much WAL (default 4 MiB)
	// RoundInterval: rounds begin at most this often (default 5 ms). A
	// round takes what is waiting, up to RoundBytes, and is published once
	// nothing more is waiting and the interval since the last round began
	// has passed: a record after a quiet spell goes at once, and under load
	// a record waits at most the interval plus the publish before it, while
	// rounds stay large enough that a consumer's cost per message does not
	// dominate. Negative: no wait.
	RoundInterval time.Duration
	// WholeBytes: a round of at most this many bytes of records is
	// published as one message, a whole round (streams.HdrWhole), which
	// JetStream stores at a fraction of an atomic batch's cost (default 1
	// MiB; never more than MessageBytes; negative: never).
	WholeBytes int
	// MessageBytes bounds a message's records (default 1 MiB; the
	// server's and the stream's message limits bound it too): a batch
	// that is larger is split over several messages. The server's pull
	// consumer loads a message again for every pull request it does not
	// fit, so messages of MiBs made it copy the backlog several times.
	MessageBytes   int
	StatusInterval time.Duration // standby status updates at least this often (default 1 s), so the slot follows closely
	RetryMax       time.Duration // longest pause between reconnects (default 10 s)

	BaseBackupProgress time.Duration // base backup progress log interval (default 5 s)

	// SlotBusyGrace is how long a slot in use by another receiver is
	// retried before Run gives up (default 75 s: a crashed pagemill's
	// walsender lives until wal_sender_timeout, 60 s by default). Negative
	// gives up at once.
	SlotBusyGrace time.Duration
}

func (c *Config) setDefaults() {
	if c.Slot == "" {
		c.Slot = "pagemill"
	}
	if c.RoundBytes == 0 {
		c.RoundBytes = 4 << 20
	}
	if c.MessageBytes <= 0 {
		c.MessageBytes = 1 << 20
	}
	if c.WholeBytes == 0 {
		c.WholeBytes = 1 << 20
	}
	if c.RoundInterval == 0 {
		c.RoundInterval = 5 * time.Millisecond
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.SlotBusyGrace == 0 {
		c.SlotBusyGrace = 75 * time.Second
	}
}

// Status is a snapshot of the ingest's progress.
type Status struct {
	SystemID uint64
	Timeline schema.TimeLineID // the source's
	// History is the source timeline's history; StreamingTimeline the
	// timeline being streamed (older while catching up to a switch point).
	History           schema.TimeLineHistory
	StreamingTimeline schema.TimeLineID
	Connected         bool
	ReceivedLSN       schema.LSN // write: every byte before it was received
	PublishedLSN      schema.LSN // flush: every record before it is durable in JetStream
	SourceLSN         schema.LSN // the source's WAL end, from its last message
	BaseBackup        *BaseBackupState
	LastError         string
}

// Ingester follows one source and publishes its WAL to JetStream.
type Ingester struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
	m   *metrics

	mu     sync.Mutex
	status Status

	published atomic.Uint64 // flush LSN, read by the receiver for status updates

	identifiedOnce sync.Once
	identified     chan struct{}
	layout         streams.Layout // set before identified is closed
}

// New prepares an ingester; Run does the work.
func New(cfg Config, nc *nats.Conn, reg prometheus.Registerer, log *slog.Logger) (*Ingester, error) {
	cfg.setDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("ingest metrics: %w", err)
	}
	return &Ingester{cfg: cfg, nc: nc, js: js, log: log, m: m, identified: make(chan struct{})}, nil
}

// Identified is closed once the source is identified and its JetStream
// layout ensured; Layout is valid from then on.
func (in *Ingester) Identified() <-chan struct{} { return in.identified }

// Layout is the JetStream layout of the source (after Identified).
func (in *Ingester) Layout() streams.Layout {
	<-in.identified
	return in.layout
}

// Status returns a snapshot.
func (in *Ingester) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.status
	st.PublishedLSN = schema.LSN(in.published.Load())
	return st
}

func (in *Ingester) update(f func(*Status)) {
	in.mu.Lock()
	f(&in.status)
	in.mu.Unlock()
}

// Run follows the source until ctx ends or a permanent error (matching
// ErrBadSource, or a timeline switch) occurs; transient failures reconnect
// with backoff.
func (in *Ingester) Run(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	var slotBusySince time.Time
	for {
		err := in.runOnce(ctx)
		in.m.connected.Set(0)
		in.update(func(s *Status) {
			s.Connected = false
			if err != nil {
				s.LastError = err.Error()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, ErrSlotInUse):
			if slotBusySince.IsZero() {
				slotBusySince = time.Now()
			}
			left := in.cfg.SlotBusyGrace - time.Since(slotBusySince)
			if left <= 0 {
				return err
			}
			in.log.Error("replication slot is in use; retrying in case its holder is a crashed pagemill",
				"slot", in.cfg.Slot, "err", err, "gives_up_in", left.Round(time.Second))
		case errors.Is(err, ErrBadSource), errors.Is(err, ErrTimelineSwitch):
			return err
		default:
			slotBusySince = time.Time{}
			in.log.Warn("ingest interrupted; reconnecting", "err", err, "backoff", backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff/4)+1))):
		}
		backoff = min(backoff*2, in.cfg.RetryMax)
	}
}

// ErrTimelineSwitch is matched by errors about a timeline the log cannot
// follow: the source's history does not contain the log's timeline.
var ErrTimelineSwitch = errors.New("source switched timeline")

// position is where streaming goes on: an LSN on a timeline.
type position struct {
	tli schema.TimeLineID
	lsn schema.LSN
}

func (in *Ingester) runOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := connectReplication(ctx, in.cfg.Source)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	info, err := identify(ctx, conn)
	if err != nil {
		return err
	}
	select {
	case <-in.identified:
		if in.layout.SystemID != info.SystemID {
			return &SourceError{Reason: fmt.Sprintf("the source's system identifier is %d, the one followed so far %d: it is another database (restart pagemill with a new data directory to follow it)",
				info.SystemID, in.layout.SystemID)}
		}
	default:
	}
	layout := streams.Layout{SystemID: info.SystemID, Timeline: uint32(info.Timeline), Shards: in.cfg.Streams.ShardCount()}
	h, err := streams.Ensure(ctx, in.js, layout, in.cfg.Streams)
	if err != nil {
		return fmt.Errorf("jetstream layout: %w", err)
	}
	hist := schema.SingleTimeLine(info.Timeline)
	if info.Timeline > 1 {
		content, err := timelineHistory(ctx, conn, info.Timeline)
		if err != nil {
			return err
		}
		if hist, err = schema.ParseTimeLineHistory(info.Timeline, content); err != nil {
			return &SourceError{Reason: "TIMELINE_HISTORY", Err: err}
		}
		if err := streams.PutTimelineHistory(ctx, h.KV, info.Timeline, content); err != nil {
			return err
		}
	}
	in.update(func(s *Status) { s.SystemID, s.Timeline, s.History = info.SystemID, info.Timeline, hist })
	in.identifiedOnce.Do(func() {
		in.layout = layout
		close(in.identified)
	})

	pos, err := in.durablePosition(ctx, h, info, hist)
	if err != nil {
		return err
	}
	created, slot, err := ensureSlot(ctx, conn, in.cfg.Slot)
	if err != nil {
		return err
	}
	if created && pos.lsn != 0 {
		in.log.Warn("replication slot was missing and has been recreated; WAL the source already removed cannot be streamed",
			"slot", in.cfg.Slot, "resume", pos.lsn, "restart_lsn", slot.RestartLSN)
	}
	if pos.lsn == 0 {
		bb, err := in.baseBackup(ctx, conn, h, info)
		if err != nil {
			return err
		}
		pos = position{tli: info.Timeline, lsn: bb.StartLSN}
	}
	for {
		in.published.Store(uint64(pos.lsn))
		in.m.publishedLSN.Set(float64(pos.lsn))
		l := layout
		l.Timeline = uint32(pos.tli)
		next, err := in.stream(ctx, conn, h, l, info, pos)
		if err != nil {
			return err
		}
		// The source ended a historic timeline at its switch point;
		// everything up to it is durable. Go on on the next timeline.
		in.log.Info("end of timeline reached; following the next", "timeline", pos.tli, "switch_point", next.lsn, "next_timeline", next.tli)
		if next.tli <= pos.tli || next.lsn < pos.lsn {
			return fmt.Errorf("%w: the source ended timeline %d at %s and named timeline %d from %s next", ErrTimelineSwitch, pos.tli, pos.lsn, next.tli, next.lsn)
		}
		pos = next
	}
}

// durablePosition finds where the log ends: the end of the last round
// committed on a meta subject, else the base backup's start, else 0
// (nothing yet). The log may be on an older timeline than the source's:
// then streaming goes on on that timeline up to its switch point in the
// source's history, or, when the log holds WAL past it that the source
// never had (an abandoned branch), on the next timeline from the switch
// point.
func (in *Ingester) durablePosition(ctx context.Context, h *streams.Handles, info SourceInfo, hist schema.TimeLineHistory) (position, error) {
	bb, err := loadBaseBackupState(ctx, h.KV)
	if err != nil {
		return position{}, err
	}
	in.update(func(s *Status) { s.BaseBackup = bb })
	logTLI, end, err := in.logEnd(ctx, h, bb)
	if err != nil || end == 0 {
		return position{}, err
	}
	if logTLI == 0 { // a base backup recorded before timelines were kept
		logTLI = info.Timeline
	}
	if logTLI == info.Timeline {
		return position{tli: logTLI, lsn: end}, nil
	}
	sp, ok := hist.SwitchPoint(logTLI)
	switch {
	case !ok && logTLI > info.Timeline:
		// An old primary come back, or a standby not yet promoted:
		// retried, the primary may be another host by then.
		return position{}, fmt.Errorf("the source is on timeline %d, older than the log's %d (an old primary?); waiting for the current primary", info.Timeline, logTLI)
	case !ok:
		return position{}, &SourceError{Reason: fmt.Sprintf("the log follows timeline %d, which is not in the history of the source's timeline %d (%s): not the same history", logTLI, info.Timeline, hist),
			Err: ErrTimelineSwitch}
	case end < sp:
		return position{tli: logTLI, lsn: end}, nil
	case bb != nil && bb.StartLSN > sp:
		// Its pages hold changes the new timeline never had.
		return position{}, &SourceError{Reason: fmt.Sprintf("the base backup began at %s on timeline %d, past that timeline's switch point %s in the source's history (%s): its pages are an abandoned branch's; start pagemill on a new data directory to take a new one",
			bb.StartLSN, logTLI, sp, hist), Err: ErrTimelineSwitch}
	case end > sp:
		in.log.Warn("the log holds WAL past the switch point that the new timeline does not have; it is no longer history",
			"timeline", logTLI, "switch_point", sp, "log_end", end, "new_timeline", hist.TLIOf(sp))
	}
	return position{tli: hist.TLIOf(sp), lsn: sp}, nil
}

// logEnd is the timeline and end of the log: the last round's on any
// timeline, else the completed base backup's start; end 0 when there is
// neither.
func (in *Ingester) logEnd(ctx context.Context, h *streams.Handles, bb *BaseBackupState) (schema.TimeLineID, schema.LSN, error) {
	msg, err := streams.LastMsgOnSubject(ctx, h.Stream, h.Layout.MetaSubjectAnyTimeline())
	switch {
	case errors.Is(err, streams.ErrNoMessage):
		if bb != nil && bb.Completed {
			return bb.Timeline, bb.StartLSN, nil
		}
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("read the log's position: %w", err)
	}
	sub, err := streams.ParseShardSubject(msg.Subject)
	if err != nil {
		return 0, 0, fmt.Errorf("last round (seq %d): %w", msg.Sequence, err)
	}
	end, err := streams.RoundEnd(msg.Header)
	if err != nil {
		return 0, 0, fmt.Errorf("last round on %s (seq %d): %w", msg.Subject, msg.Sequence, err)
	}
	return schema.TimeLineID(sub.Timeline), end, nil
}

// stream runs START_REPLICATION from pos on its timeline and publishes
// until an error, or until the source ends the timeline (a historic one,
// at its switch point): then every record of it is durable and stream
// returns where the next timeline begins.
func (in *Ingester) stream(ctx context.Context, conn *pgconn.PgConn, h *streams.Handles, layout streams.Layout, info SourceInfo, pos position) (position, error) {
	start := pos.lsn
	pageStart := start &^ (schema.XLogBlcksz - 1)
	reader, err := schema.NewStreamReader(schema.ReaderOptions{
		StartLSN: pageStart, FirstRecord: start, SegSize: info.SegSize, SystemID: info.SystemID, Timeline: pos.tli,
	})
	if err != nil {
		return position{}, err
	}
	if pos.tli > 1 && pos.tli != info.Timeline {
		// Before the first round on the timeline: who reads it needs
		// its history (the source's own timeline's is recorded already).
		content, err := timelineHistory(ctx, conn, pos.tli)
		if err != nil {
			return position{}, err
		}
		if err := streams.PutTimelineHistory(ctx, h.KV, pos.tli, content); err != nil {
			return position{}, err
		}
	}
	err = pglogrepl.StartReplication(ctx, conn, quoteIdent(in.cfg.Slot), pglogrepl.LSN(pageStart),
		pglogrepl.StartReplicationOptions{Timeline: int32(pos.tli), Mode: pglogrepl.PhysicalReplication})
	if err != nil {
		return position{}, classify("START_REPLICATION", err)
	}
	in.log.Info("streaming WAL", "system_identifier", info.SystemID, "timeline", pos.tli, "from", start, "slot", in.cfg.Slot)
	in.m.connected.Set(1)
	in.update(func(s *Status) {
		s.Connected, s.ReceivedLSN, s.StreamingTimeline, s.LastError = true, pageStart, pos.tli, ""
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []*schema.DecodedRecord, 64)
	pubErr := make(chan error, 1)
	go func() {
		err := in.publishLoop(ctx, batches, layout)
		if err != nil {
			cancel() // stop receiving: nothing more can become durable
		}
		pubErr <- err
	}()

	err = in.receiveLoop(ctx, conn, reader, batches, pageStart)
	var eot *endOfTimeline
	if errors.As(err, &eot) {
		close(batches) // the publisher publishes what is left, then returns
		if perr := <-pubErr; perr != nil {
			return position{}, perr
		}
		if ctx.Err() != nil {
			return position{}, ctx.Err()
		}
		return eot.next, nil
	}
	cancel()
	if perr := <-pubErr; perr != nil {
		return position{}, perr // the root cause; the receiver only saw the cancel
	}
	return position{}, err
}

// endOfTimeline: the source ended the timeline being streamed; next is
// where the next one begins.
type endOfTimeline struct{ next position }

func (e *endOfTimeline) Error() string {
	return fmt.Sprintf("end of timeline; timeline %d begins at %s", e.next.tli, e.next.lsn)
}

// receiveLoop reads the replication stream, decodes records and hands
// them to the publisher, answering keepalives with the durable position.
func (in *Ingester) receiveLoop(ctx context.Context, conn *pgconn.PgConn, reader *schema.StreamReader, out chan<- []*schema.DecodedRecord, received schema.LSN) error {
	r := &receiver{in: in, ctx: ctx, conn: conn, reader: reader, received: received, nextStatus: time.Now().Add(in.cfg.StatusInterval)}
	for {
		if len(r.pending) > 0 {
			// Hand over what was decoded; while the publisher pushes back,
			// keep telling the source we are alive.
			select {
			case out <- r.pending:
				r.pending = nil
			case <-time.After(time.Until(r.nextStatus)):
				if err := r.sendStatus(); err != nil {
					return err
				}
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !time.Now().Before(r.nextStatus) {
			if err := r.sendStatus(); err != nil {
				return err
			}
		}
		rctx, rcancel := context.WithDeadline(ctx, r.nextStatus)
		msg, err := conn.ReceiveMessage(rctx)
		rcancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			return fmt.Errorf("receive from source: %w", err)
		}
		if err := r.handle(msg); err != nil {
			var eot *endOfTimeline
			if errors.As(err, &eot) && len(r.pending) > 0 {
				select {
				case out <- r.pending:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return err
		}
	}
}

// receiver is the state of one receiveLoop: the stream's position, the
// source's, when the next standby status is due, and the records decoded
// and not yet handed over.
type receiver struct {
	in         *Ingester
	ctx        context.Context
	conn       *pgconn.PgConn
	reader     *schema.StreamReader
	received   schema.LSN // the end of the WAL received
	sourceLSN  schema.LSN // the end of the source's WAL, as it last said
	nextStatus time.Time
	pending    []*schema.DecodedRecord
}

// sendStatus tells the source the durable (published) position.
func (r *receiver) sendStatus() error {
	in := r.in
	flush := schema.LSN(in.published.Load())
	err := pglogrepl.SendStandbyStatusUpdate(r.ctx, r.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pglogrepl.LSN(max(r.received, flush)),
		WALFlushPosition: pglogrepl.LSN(flush),
		WALApplyPosition: pglogrepl.LSN(flush),
		ClientTime:       time.Now(),
	})
	r.nextStatus = time.Now().Add(in.cfg.StatusInterval)
	if r.sourceLSN > flush {
		in.m.lagBytes.Set(float64(r.sourceLSN - flush))
	} else {
		in.m.lagBytes.Set(0)
	}
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	return nil
}

// handle handles one message of the replication stream.
func (r *receiver) handle(msg pgproto3.BackendMessage) error {
	switch msg := msg.(type) {
	case *pgproto3.CopyData:
		if len(msg.Data) == 0 {
			return nil
		}
		switch msg.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			return r.keepalive(msg.Data[1:])
		case pglogrepl.XLogDataByteID:
			return r.xlogData(msg.Data[1:])
		}
	case *pgproto3.CopyDone:
		// The timeline ends here (the source follows a newer one): it
		// says which, after our CopyDone.
		res, err := pglogrepl.SendStandbyCopyDone(r.ctx, r.conn)
		if err != nil {
			return classify("end of timeline", err)
		}
		if res == nil {
			return fmt.Errorf("%w: the source ended streaming at %s without naming the next timeline", ErrTimelineSwitch, r.received)
		}
		return &endOfTimeline{next: position{tli: schema.TimeLineID(res.Timeline), lsn: schema.LSN(res.LSN)}}
	case *pgproto3.ErrorResponse:
		return classify("replication stream", pgconn.ErrorResponseToPgError(msg))
	}
	return nil
}

// keepalive notes the source's position and answers if asked to.
func (r *receiver) keepalive(data []byte) error {
	ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data)
	if err != nil {
		return fmt.Errorf("parse keepalive: %w", err)
	}
	r.sourceLSN = max(r.sourceLSN, schema.LSN(ka.ServerWALEnd))
	if ka.ReplyRequested {
		return r.sendStatus()
	}
	return nil
}

// xlogData feeds WAL to the reader and decodes the records it completes.
func (r *receiver) xlogData(data []byte) error {
	xld, err := pglogrepl.ParseXLogData(data)
	if err != nil {
		return fmt.Errorf("parse XLogData: %w", err)
	}
	if schema.LSN(xld.WALStart) != r.received {
		return fmt.Errorf("XLogData at %s, expected %s: the stream has a gap", schema.LSN(xld.WALStart), r.received)
	}
	r.reader.Write(xld.WALData)
	r.received += schema.LSN(len(xld.WALData))
	r.sourceLSN = max(r.sourceLSN, schema.LSN(xld.ServerWALEnd))
	m := r.in.m
	m.receivedBytes.Add(float64(len(xld.WALData)))
	m.receivedLSN.Set(float64(r.received))
	for {
		rec, err := r.reader.Next()
		if errors.Is(err, schema.ErrNeedMoreData) {
			break
		}
		if err != nil {
			return fmt.Errorf("decode replication stream: %w", err)
		}
		r.pending = append(r.pending, rec)
	}
	m.receivedRecords.Add(float64(len(r.pending)))
	received, sourceLSN := r.received, r.sourceLSN
	r.in.update(func(s *Status) { s.ReceivedLSN, s.SourceLSN = received, sourceLSN })
	return nil
}

// publishLoop gathers records into rounds and publishes each atomically;
// after JetStream acknowledges a round, its end becomes the flush position.
// A round takes every batch already waiting, up to RoundBytes, and is
// published when nothing more is waiting and RoundInterval has passed
// since the last round began (see Config.RoundInterval).
func (in *Ingester) publishLoop(ctx context.Context, in_ <-chan []*schema.DecodedRecord, layout streams.Layout) error {
	// A message, headers included, must fit both the connection's
	// max_payload and the stream's MaxMsgSize.
	maxPayload := max(64<<10, min(int(in.nc.MaxPayload()), int(in.cfg.Streams.WithDefaults().MaxMsgSize))-4096)
	maxPayload = min(maxPayload, in.cfg.MessageBytes)
	wholeMax := min(maxPayload, max(0, in.cfg.WholeBytes))
	r := newRound(layout, wholeMax)
	var timer <-chan time.Time
	var began time.Time // of the last round
	for {
		flush, ended := false, false
		select {
		case recs, ok := <-in_:
			ended = !ok
			for ok {
				for _, rec := range recs {
					r.add(rec)
				}
				if r.bytes >= in.cfg.RoundBytes {
					break
				}
				select {
				case recs, ok = <-in_:
					ended = !ok
				default:
					ok = false
				}
			}
			wait := in.cfg.RoundInterval - time.Since(began)
			switch {
			case ended || r.bytes >= in.cfg.RoundBytes || wait <= 0:
				flush = true
			case timer == nil && !r.empty():
				timer = time.After(wait)
			}
		case <-timer:
			flush = true
		case <-ctx.Done():
			return nil
		}
		if !flush || r.empty() {
			if ended {
				return nil
			}
			continue
		}
		began, timer = time.Now(), nil
		if err := in.publishRound(ctx, r, maxPayload); err != nil {
			if ctx.Err() != nil && !ended {
				return nil // shutting down: the round may not be durable
			}
			return err
		}
		in.published.Store(uint64(r.end))
		in.m.publishedLSN.Set(float64(r.end))
		r.reset()
		if ended { // the timeline ended: what was left is published
			return nil
		}
	}
}

// publishRound publishes one round, retrying while that is safe: a
// duplicate means an earlier attempt landed; a full stream pushes back.
// Deduplication only spans the stream's duplicate window, so after half of
// it the round is abandoned with an error: the caller reconnects and
// re-reads the log's position, which tells whether the round landed. Any
// error, ctx's included, means the round is not known to be durable.
func (in *Ingester) publishRound(ctx context.Context, r *round, maxPayload int) error {
	msgs := r.messages(maxPayload)
	bytes := 0
	for _, m := range msgs {
		bytes += len(m.Data)
	}
	t0 := time.Now()
	budget := in.cfg.Streams.WithDefaults().DuplicateWindow / 2
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		if len(msgs) == 1 {
			_, err = streams.PublishOne(pctx, in.nc, r.batchID(), msgs[0])
		} else {
			_, err = streams.PublishAtomic(pctx, in.nc, r.batchID(), msgs)
		}
		cancel()
		if err == nil || errors.Is(err, streams.ErrDuplicateBatch) {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		kind := "other"
		switch {
		case errors.Is(err, streams.ErrStreamFull):
			kind = "stream_full"
		case errors.Is(err, streams.ErrPublishTimeout):
			kind = "timeout"
		case errors.Is(err, streams.ErrNoResponders):
			kind = "no_responders"
		}
		in.m.jsErrors.WithLabelValues(kind).Inc()
		if !streams.Retryable(err) && !errors.Is(err, streams.ErrStreamFull) {
			return fmt.Errorf("publish round ending at %s: %w", r.end, err)
		}
		if time.Since(t0) > budget {
			return fmt.Errorf("publish round ending at %s: still failing after %s, past half the duplicate window: %w", r.end, time.Since(t0).Round(time.Second), err)
		}
		in.log.Warn("publish round failed; retrying", "round_end", r.end, "messages", len(msgs), "attempt", attempt, "kind", kind, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	in.m.publishDuration.Observe(time.Since(t0).Seconds())
	in.m.publishedRounds.Inc()
	in.m.publishedRecords.Add(float64(r.records))
	in.m.publishedBytes.Add(float64(bytes))
	return nil
}
