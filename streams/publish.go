package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of JetStream's atomic batch publish (ADR-50, nats-server 2.12+).
// PublishAtomic sets them; the server stores them with every message, so a
// consumer sees each committed batch as BatchSeq 1..n on consecutive stream
// sequences with BatchCommit "1" on the last.
const (
	HdrBatchID     = "Nats-Batch-Id"
	HdrBatchSeq    = "Nats-Batch-Sequence"
	HdrBatchCommit = "Nats-Batch-Commit"
)

// Limits of atomic batches.
const (
	// MaxBatchIDLen is the longest batch id the server accepts.
	MaxBatchIDLen = 64
	// MaxAtomicBatch is the server's default limit on messages in one
	// atomic batch (streamDefaultMaxAtomicBatchSize; the server option
	// jetstream.limits.max_batch_size can change it).
	MaxAtomicBatch = 1000
	// DefaultPublishTimeout bounds PublishAtomic when ctx has no deadline.
	DefaultPublishTimeout = 30 * time.Second
)

// Flow control: at most this many messages, and this many bytes beyond the
// first message, are unacknowledged at once.
const (
	maxInflightMsgs  = 64
	maxInflightBytes = 16 << 20
)

// Errors of PublishAtomic, matched with errors.Is. A *PublishError carries
// the details.
var (
	// ErrStreamFull: the stream is at MaxBytes (DiscardNew), or the
	// account's or server's storage is exhausted. Nothing of the batch
	// was stored; retrying does not help until space is freed.
	ErrStreamFull = errors.New("stream full")
	// ErrDuplicateBatch: a message of the batch carries a Nats-Msg-Id the
	// stream has stored within its duplicate window, so the server
	// rejected the whole batch and stored nothing. For a retried batch
	// whose message ids are deterministic this means "already stored".
	ErrDuplicateBatch = errors.New("atomic batch contains already stored message ids")
	// ErrDuplicateInFlight: a message id of the batch belongs to a batch
	// the leader is committing right now (typically the first attempt of
	// a retried batch). Retry: the answer becomes ErrDuplicateBatch or
	// success.
	ErrDuplicateInFlight = errors.New("atomic batch message ids are being stored")
	// ErrPublishTimeout: ctx's deadline passed before the commit's ack.
	// If PublishError.CommitSent, the outcome is unknown.
	ErrPublishTimeout = errors.New("atomic publish timed out")
	// ErrNoResponders: no stream listens on the subject (no stream, or no
	// leader during an election). Nothing of the batch was committed.
	ErrNoResponders = errors.New("no stream responded")
	// ErrBatchIncomplete: the server dropped the staged batch (leader
	// change, inactivity timeout, or a new batch with the id of one still
	// staged). Nothing of the batch was committed; retry.
	ErrBatchIncomplete = errors.New("atomic batch incomplete")
	// ErrServerBusy: too many batches in flight or the stream's ingest
	// queue is full. Nothing was committed; retry after a pause.
	ErrServerBusy = errors.New("server busy")
	// ErrInvalidBatch: the batch can never succeed as it is (empty, too
	// many messages, bad id, message too large, atomic publish disabled,
	// unsupported header).
	ErrInvalidBatch = errors.New("invalid atomic batch")
)

// Retryable reports whether publishing the same batch again (same batch id,
// same message ids) may succeed: timeouts, no responders (leader
// election), dropped staged batches, ids in flight and a busy server. A
// retry that answers ErrDuplicateBatch means the batch is stored.
func Retryable(err error) bool {
	return errors.Is(err, ErrPublishTimeout) || errors.Is(err, ErrNoResponders) ||
		errors.Is(err, ErrBatchIncomplete) || errors.Is(err, ErrDuplicateInFlight) ||
		errors.Is(err, ErrServerBusy) || errors.Is(err, nats.ErrConnectionReconnecting)
}

// PublishError describes a failed atomic publish.
type PublishError struct {
	BatchID string
	// Seq is the batch sequence (1-based) of the message the error is
	// about, 0 if none.
	Seq int
	// CommitSent tells whether the commit message was handed to the
	// connection. When false the batch was certainly not committed.
	CommitSent bool
	// API is the server's error response, if there was one.
	API *jetstream.APIError
	// Kind is one of the Err* values above, or nil.
	Kind error
	// Cause is the client-side cause (context, connection), or nil.
	Cause error
}

func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "atomic publish of batch %q", e.BatchID)
	if e.Seq > 0 {
		fmt.Fprintf(&b, " (message %d)", e.Seq)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.API != nil {
		fmt.Fprintf(&b, ": server: %s (code %d, err_code %d)", e.API.Description, e.API.Code, e.API.ErrorCode)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap exposes Kind, API and Cause to errors.Is and errors.As.
func (e *PublishError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Kind, e.Cause} {
		if err != nil {
			out = append(out, err)
		}
	}
	if e.API != nil {
		out = append(out, e.API)
	}
	return out
}

// BatchAck is the server's acknowledgement of a committed atomic batch. The
// batch occupies the consecutive stream sequences FirstSeq..LastSeq, in the
// order it was published.
type BatchAck struct {
	Stream   string
	Domain   string
	BatchID  string
	Count    int
	FirstSeq uint64
	LastSeq  uint64
}

// pubAckResponse is the server's JSPubAckResponse with the batch fields.
type pubAckResponse struct {
	Error     *jetstream.APIError `json:"error,omitempty"`
	Stream    string              `json:"stream"`
	Sequence  uint64              `json:"seq"`
	Domain    string              `json:"domain,omitempty"`
	Duplicate bool                `json:"duplicate,omitempty"`
	BatchID   string              `json:"batch,omitempty"`
	BatchSize int                 `json:"count,omitempty"`
}

// Server error codes (nats-server errors.json) PublishAtomic tells apart.
const (
	errCodeAccountResources   = 10002
	errCodeInsufficientRes    = 10023
	errCodeStorageResources   = 10047
	errCodeMsgExceedsMax      = 10054
	errCodeStoreFailed        = 10077
	errCodeHeaderExceedsMax   = 10097
	errCodeDuplicateConflict  = 10158
	errCodeTooManyRequests    = 10167
	errCodeAtomicDisabled     = 10174
	errCodeAtomicMissingSeq   = 10175
	errCodeAtomicIncomplete   = 10176
	errCodeAtomicUnsupported  = 10177
	errCodeAtomicInvalidID    = 10179
	errCodeAtomicTooLarge     = 10199
	errCodeAtomicInvalidComm  = 10200
	errCodeAtomicDuplicate    = 10201
	errCodeAtomicTooManyBatch = 10210
)

func classify(apiErr *jetstream.APIError) error {
	switch apiErr.ErrorCode {
	case errCodeAtomicDuplicate:
		return ErrDuplicateBatch
	case errCodeDuplicateConflict:
		return ErrDuplicateInFlight
	case errCodeAtomicIncomplete:
		return ErrBatchIncomplete
	case errCodeAccountResources, errCodeInsufficientRes, errCodeStorageResources:
		return ErrStreamFull
	case errCodeStoreFailed:
		// DiscardNew's limits come back as a store failure whose
		// description is the store's error text.
		d := apiErr.Description
		if strings.Contains(d, "maximum bytes exceeded") || strings.Contains(d, "maximum messages exceeded") ||
			strings.Contains(d, "maximum messages per subject exceeded") {
			return ErrStreamFull
		}
		return nil
	case errCodeTooManyRequests, errCodeAtomicTooManyBatch:
		return ErrServerBusy
	case errCodeAtomicDisabled, errCodeAtomicMissingSeq, errCodeAtomicUnsupported, errCodeAtomicInvalidID,
		errCodeAtomicTooLarge, errCodeAtomicInvalidComm, errCodeMsgExceedsMax, errCodeHeaderExceedsMax:
		return ErrInvalidBatch
	}
	return nil
}

// PublishAtomic publishes msgs as one JetStream atomic batch: the stream
// stores all of them, on consecutive sequences in this order, or none.
//
// Every message goes out with a reply subject. The server answers each
// staged message with an empty ack and the last (commit) message with the
// batch's PubAck; an error answer names the failing message. At most 64
// messages (16 MiB beyond the first) are unanswered at a time, which keeps
// a large batch from overrunning the server's ingest queue, and the first
// error stops the publish.
//
// msgs are not modified: PublishAtomic sends copies with the batch headers
// (HdrBatchID, HdrBatchSeq, HdrBatchCommit) and its reply subjects added.
// Give every message a deterministic Nats-Msg-Id (nats.MsgIdHdr) so that a
// retry of a batch whose first attempt was committed fails whole with
// ErrDuplicateBatch instead of storing it twice; see Retryable for what to
// retry. The publish is bounded by ctx, or DefaultPublishTimeout if ctx has
// no deadline. Errors are *PublishError.
func PublishAtomic(ctx context.Context, nc *nats.Conn, batchID string, msgs []*nats.Msg) (*BatchAck, error) {
	fail := func(seq int, kind, cause error) *PublishError {
		return &PublishError{BatchID: batchID, Seq: seq, Kind: kind, Cause: cause}
	}
	switch {
	case len(msgs) == 0:
		return nil, fail(0, ErrInvalidBatch, errors.New("no messages"))
	case len(msgs) > MaxAtomicBatch:
		return nil, fail(0, ErrInvalidBatch, fmt.Errorf("%d messages, at most %d", len(msgs), MaxAtomicBatch))
	case batchID == "" || len(batchID) > MaxBatchIDLen || strings.ContainsAny(batchID, "\r\n"):
		return nil, fail(0, ErrInvalidBatch, fmt.Errorf("batch id must have 1..%d characters and no line breaks", MaxBatchIDLen))
	}
	for i, m := range msgs {
		if m == nil || m.Subject == "" {
			return nil, fail(i+1, ErrInvalidBatch, errors.New("message without subject"))
		}
		if m.Reply != "" {
			return nil, fail(i+1, ErrInvalidBatch, errors.New("message has a reply subject"))
		}
	}
	// While reconnecting the client would buffer the batch and send it
	// after the reconnect, long after this call gave up on it: fail fast
	// instead and let the caller retry.
	switch {
	case nc.IsClosed():
		return nil, fail(0, nil, nats.ErrConnectionClosed)
	case nc.IsReconnecting():
		return nil, fail(0, nil, nats.ErrConnectionReconnecting)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultPublishTimeout)
		defer cancel()
	}

	inbox := nc.NewInbox()
	// A channel of our size: SubscribeSync's holds 64 Ki messages (half a
	// MiB, allocated per round), and at most maxInflightMsgs answers are
	// ever pending.
	replies := make(chan *nats.Msg, 2*maxInflightMsgs)
	sub, err := nc.ChanSubscribe(inbox+".*", replies)
	if err != nil {
		return nil, fail(0, nil, fmt.Errorf("subscribe to replies: %w", err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	replyPrefix := inbox + "."

	p := &atomicPublisher{nc: nc, replies: replies, batchID: batchID, n: len(msgs), replyPrefix: replyPrefix}
	ack, perr := p.run(ctx, msgs)
	if perr != nil {
		if !p.commitSent && p.sent > 0 {
			p.abort(msgs[0].Subject)
		}
		perr.CommitSent = p.commitSent
		return nil, perr
	}
	return ack, nil
}

type atomicPublisher struct {
	nc          *nats.Conn
	replies     <-chan *nats.Msg
	batchID     string
	n           int
	replyPrefix string

	sent       int    // messages handed to the connection
	answered   []bool // by batch sequence - 1
	sizes      []int  // by batch sequence - 1, for the byte window
	inflight   int    // sent and not answered
	inflightB  int
	commitSent bool
}

func (p *atomicPublisher) perr(seq int, kind, cause error) *PublishError {
	return &PublishError{BatchID: p.batchID, Seq: seq, Kind: kind, Cause: cause}
}

func (p *atomicPublisher) run(ctx context.Context, msgs []*nats.Msg) (*BatchAck, *PublishError) {
	p.answered = make([]bool, p.n)
	p.sizes = make([]int, p.n)
	for i, m := range msgs {
		seq := i + 1
		size := len(m.Data) + len(m.Subject)
		for p.inflight > 0 && (p.inflight >= maxInflightMsgs || p.inflightB+size > maxInflightBytes) {
			if ack, err := p.await(ctx); err != nil || ack != nil {
				return ack, err
			}
		}
		out := &nats.Msg{
			Subject: m.Subject,
			Reply:   p.replyPrefix + strconv.Itoa(seq),
			Header:  make(nats.Header, len(m.Header)+3),
			Data:    m.Data,
		}
		for k, v := range m.Header {
			out.Header[k] = v
		}
		out.Header.Set(HdrBatchID, p.batchID)
		out.Header.Set(HdrBatchSeq, strconv.Itoa(seq))
		if seq == p.n {
			out.Header.Set(HdrBatchCommit, "1")
		} else {
			out.Header.Del(HdrBatchCommit)
		}
		if err := ctx.Err(); err != nil {
			return nil, p.ctxErr(seq, err)
		}
		if err := p.nc.PublishMsg(out); err != nil {
			kind := error(nil)
			if errors.Is(err, nats.ErrMaxPayload) {
				kind = ErrInvalidBatch
			}
			return nil, p.perr(seq, kind, fmt.Errorf("publish: %w", err))
		}
		p.sent = seq
		p.commitSent = seq == p.n
		p.sizes[i] = size
		p.inflight++
		p.inflightB += size
	}
	for {
		if ack, err := p.await(ctx); err != nil || ack != nil {
			return ack, err
		}
	}
}

func (p *atomicPublisher) ctxErr(seq int, err error) *PublishError {
	if errors.Is(err, context.DeadlineExceeded) {
		return p.perr(seq, ErrPublishTimeout, err)
	}
	return p.perr(seq, nil, err)
}

// await reads one answer. It returns the batch's ack once the commit is
// answered, an error for an error answer, and (nil, nil) for a staged
// message's empty ack.
func (p *atomicPublisher) await(ctx context.Context) (*BatchAck, *PublishError) {
	var rm *nats.Msg
	select {
	case rm = <-p.replies:
	case <-ctx.Done():
		return nil, p.ctxErr(p.sent, ctx.Err())
	}
	seq, err := strconv.Atoi(strings.TrimPrefix(rm.Subject, p.replyPrefix))
	if err != nil || seq < 1 || seq > p.sent {
		return nil, nil // not ours; cannot happen on a fresh inbox
	}
	if !p.answered[seq-1] {
		p.answered[seq-1] = true
		p.inflight--
		p.inflightB -= p.sizes[seq-1]
	}
	if len(rm.Data) == 0 {
		if status := rm.Header.Get("Status"); status != "" {
			if status == "503" {
				return nil, p.perr(seq, ErrNoResponders, nats.ErrNoResponders)
			}
			return nil, p.perr(seq, nil, fmt.Errorf("status %s %s", status, rm.Header.Get("Description")))
		}
		if seq == p.n {
			return nil, p.perr(seq, nil, errors.New("empty answer to the commit"))
		}
		return nil, nil // staged
	}
	var resp pubAckResponse
	if err := json.Unmarshal(rm.Data, &resp); err != nil {
		return nil, p.perr(seq, nil, fmt.Errorf("decode reply %q: %w", rm.Data, err))
	}
	if resp.Error != nil {
		e := p.perr(seq, classify(resp.Error), nil)
		e.API = resp.Error
		return nil, e
	}
	if seq != p.n {
		return nil, p.perr(seq, nil, fmt.Errorf("unexpected ack before the commit: %q", rm.Data))
	}
	if resp.BatchID != p.batchID || resp.BatchSize != p.n || resp.Sequence < uint64(p.n) {
		return nil, p.perr(seq, nil, fmt.Errorf("ack does not match the batch: %q", rm.Data))
	}
	return &BatchAck{
		Stream:   resp.Stream,
		Domain:   resp.Domain,
		BatchID:  resp.BatchID,
		Count:    resp.BatchSize,
		FirstSeq: resp.Sequence - uint64(resp.BatchSize) + 1,
		LastSeq:  resp.Sequence,
	}, nil
}

// abort asks the server to drop the staged batch at once rather than after
// its inactivity timeout (10 s), so an abandoned batch does not hold one of
// the stream's 50 in-flight batch slots. A commit header other than "1" or
// "eob" makes the server discard the batch; nothing is stored. Best effort.
func (p *atomicPublisher) abort(subject string) {
	m := &nats.Msg{Subject: subject, Header: nats.Header{}}
	m.Header.Set(HdrBatchID, p.batchID)
	m.Header.Set(HdrBatchSeq, strconv.Itoa(p.sent+1))
	m.Header.Set(HdrBatchCommit, "abort")
	_ = p.nc.PublishMsg(m)
}

// PublishOne publishes a batch of one message as an ordinary JetStream
// publish: one message is stored whole or not at all by itself, and the
// server stages an atomic batch in a file store of its own (created,
// synced and removed per batch), which made a round of two messages cost
// several times a single publish. Errors are *PublishError with
// PublishAtomic's kinds; a message id the stream already holds (within the
// duplicate window) answers ErrDuplicateBatch, as for a batch.
func PublishOne(ctx context.Context, nc *nats.Conn, batchID string, msg *nats.Msg) (*BatchAck, error) {
	fail := func(kind, cause error) *PublishError {
		return &PublishError{BatchID: batchID, Seq: 1, Kind: kind, Cause: cause}
	}
	switch {
	case msg == nil || msg.Subject == "":
		return nil, fail(ErrInvalidBatch, errors.New("message without subject"))
	case msg.Reply != "":
		return nil, fail(ErrInvalidBatch, errors.New("message has a reply subject"))
	case nc.IsClosed():
		return nil, &PublishError{BatchID: batchID, Cause: nats.ErrConnectionClosed}
	case nc.IsReconnecting():
		return nil, &PublishError{BatchID: batchID, Cause: nats.ErrConnectionReconnecting}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultPublishTimeout)
		defer cancel()
	}
	rm, err := nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: msg.Subject, Header: msg.Header, Data: msg.Data})
	if err != nil {
		e := fail(nil, err)
		e.CommitSent = true
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			e.Kind, e.CommitSent = ErrNoResponders, false
		case errors.Is(err, nats.ErrMaxPayload):
			e.Kind, e.CommitSent = ErrInvalidBatch, false
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			e.Kind = ErrPublishTimeout
		}
		return nil, e
	}
	var resp pubAckResponse
	if err := json.Unmarshal(rm.Data, &resp); err != nil {
		e := fail(nil, fmt.Errorf("decode reply %q: %w", rm.Data, err))
		e.CommitSent = true
		return nil, e
	}
	if resp.Error != nil {
		e := fail(classify(resp.Error), nil)
		e.API, e.CommitSent = resp.Error, true
		return nil, e
	}
	ack := &BatchAck{Stream: resp.Stream, Domain: resp.Domain, BatchID: batchID, Count: 1, FirstSeq: resp.Sequence, LastSeq: resp.Sequence}
	if resp.Duplicate {
		e := fail(ErrDuplicateBatch, nil)
		e.CommitSent = true
		return ack, e
	}
	return ack, nil
}
