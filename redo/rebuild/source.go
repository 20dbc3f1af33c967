package rebuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Source is what a rebuild reads.
type Source struct {
	// Handles reach the WAL stream, the object store and the state bucket
	// (Handles.Layout is the discovered layout).
	Handles *streams.Handles
	// Base is the base backup's state; its StartLSN is where the rebuild
	// starts: the oldest snapshot's LSN when there is one.
	Base streams.BaseBackupState
	// Target is the end of the last round on the meta subject at the
	// start (the base backup's start when there is no round).
	Target schema.LSN
	// StreamBytes is the WAL stream's size at the start.
	StreamBytes int64
}

// OpenSource finds the stream of want (zero fields: discovered, see
// DiscoverLayout), checks that it can rebuild a page store — a completed
// base backup, and the WAL from the backup's start (or the oldest
// snapshot) on — and reads the target LSN. It changes nothing in
// JetStream.
func OpenSource(ctx context.Context, js jetstream.JetStream, want streams.Layout) (*Source, error) {
	layout, stream, err := DiscoverLayout(ctx, js, want)
	if err != nil {
		return nil, err
	}
	h := &streams.Handles{Layout: layout, Stream: stream}
	src := &Source{Handles: h, StreamBytes: int64(stream.CachedInfo().State.Bytes)}
	if h.Objects, err = js.ObjectStore(ctx, layout.ObjectBucket()); err != nil {
		return nil, fmt.Errorf("base backup object store %s: %w", layout.ObjectBucket(), err)
	}
	if h.KV, err = js.KeyValue(ctx, layout.KVBucket()); err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", layout.KVBucket(), err)
	}
	e, err := h.KV.Get(ctx, streams.KeyBaseBackup)
	if err != nil {
		return nil, fmt.Errorf("base backup state in %s: %w", layout.KVBucket(), err)
	}
	if err := json.Unmarshal(e.Value(), &src.Base); err != nil {
		return nil, fmt.Errorf("base backup state: %w", err)
	}
	if !src.Base.Completed {
		return nil, fmt.Errorf("the base backup %s (started %s) is not complete: nothing to rebuild from yet", src.Base.Prefix, src.Base.StartedAt.Format(time.RFC3339))
	}
	if err := src.checkCoverage(ctx); err != nil {
		return nil, err
	}
	return src, nil
}

// DiscoverLayout completes want from the server: the system id of the
// only pagemill WAL stream (PM_WAL_<sysid>) when want has none, the shard
// count from the stream's metadata (which must agree with want's), and
// the timeline of the newest round when want has none. It returns the
// stream too.
func DiscoverLayout(ctx context.Context, js jetstream.JetStream, want streams.Layout) (streams.Layout, jetstream.Stream, error) {
	layout := want
	if layout.SystemID == 0 {
		id, err := onlySystem(ctx, js)
		if err != nil {
			return layout, nil, err
		}
		layout.SystemID = id
	}
	stream, err := js.Stream(ctx, layout.StreamName())
	if err != nil {
		return layout, nil, fmt.Errorf("stream %s: %w", layout.StreamName(), err)
	}
	md := stream.CachedInfo().Config.Metadata
	if v := md[streams.MetaLayoutVersion]; v != "" && !streams.ReadsLayoutVersion(v) {
		return layout, nil, fmt.Errorf("stream %s: %w: layout version %s, this build reads 1 and %d", layout.StreamName(), streams.ErrLayoutMismatch, v, streams.LayoutVersion)
	}
	n, err := strconv.Atoi(md[streams.MetaShards])
	switch {
	case err != nil && layout.Shards == 0:
		return layout, nil, fmt.Errorf("stream %s: no %s metadata: give --shards", layout.StreamName(), streams.MetaShards)
	case err == nil && layout.Shards == 0:
		layout.Shards = n
	case err == nil && layout.Shards != n:
		return layout, nil, fmt.Errorf("stream %s: %w: stream has %d shards, asked for %d", layout.StreamName(), streams.ErrLayoutMismatch, n, layout.Shards)
	}
	if layout.Timeline == 0 {
		last, err := streams.LastMsgOnSubject(ctx, stream, layout.MetaSubjectAnyTimeline())
		if err != nil {
			return layout, nil, fmt.Errorf("stream %s: newest round (give --timeline): %w", layout.StreamName(), err)
		}
		sub, err := streams.ParseShardSubject(last.Subject)
		if err != nil {
			return layout, nil, err
		}
		layout.Timeline = sub.Timeline
	}
	if err := layout.Validate(); err != nil {
		return layout, nil, err
	}
	return layout, stream, nil
}

// onlySystem is the system id of the only pagemill WAL stream on the
// server.
func onlySystem(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	var names []string
	l := js.StreamNames(ctx)
	for n := range l.Name() {
		if strings.HasPrefix(n, "PM_WAL_") {
			names = append(names, n)
		}
	}
	if err := l.Err(); err != nil {
		return 0, fmt.Errorf("list streams: %w", err)
	}
	switch len(names) {
	case 0:
		return 0, errors.New("no pagemill WAL stream (PM_WAL_<sysid>) on this NATS server")
	case 1:
	default:
		return 0, fmt.Errorf("several pagemill WAL streams (%s): choose one with --system-id", strings.Join(names, ", "))
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(names[0], "PM_WAL_"), 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("stream %s: not a system identifier", names[0])
	}
	return id, nil
}

// checkCoverage reads the target and checks that the stream goes on from
// where a rebuild starts: right after the oldest snapshot kept if there
// is one (it covers the retention window), else from the base backup's
// start; pages would silently miss the changes in a gap.
func (src *Source) checkCoverage(ctx context.Context) error {
	layout, stream := src.Handles.Layout, src.Handles.Stream
	meta := layout.MetaSubject()
	last, err := streams.LastMsgOnSubject(ctx, stream, meta)
	switch {
	case errors.Is(err, streams.ErrNoMessage):
		if other, err := streams.LastMsgOnSubject(ctx, stream, layout.MetaSubjectAnyTimeline()); err == nil {
			return fmt.Errorf("no rounds on timeline %d in %s (the newest is on %s)", layout.Timeline, layout.StreamName(), other.Subject)
		}
		src.Target = src.Base.StartLSN // the base backup alone
		return nil
	case err != nil:
		return err
	}
	if src.Target, err = streams.RoundEnd(last.Header); err != nil {
		return fmt.Errorf("last round on %s (seq %d): %w", meta, last.Sequence, err)
	}
	snaps, err := materialize.ListSnapshots(ctx, src.Handles.Objects)
	if err != nil {
		return err
	}
	if len(snaps) > 0 {
		si := snaps[0]
		src.Base.StartLSN = si.LSN // where the rebuild starts
		if first := stream.CachedInfo().State.FirstSeq; first > si.Seq+1 {
			return fmt.Errorf("the stream begins at sequence %d, after the oldest snapshot %s (LSN %s, sequence %d): the WAL in between is no longer in %s",
				first, si.Object, si.LSN, si.Seq, layout.StreamName())
		}
		return nil
	}
	// The first round of any timeline: an older timeline's records lead
	// to the newest's switch point.
	anyMeta := layout.MetaSubjectAnyTimeline()
	first, err := stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(anyMeta))
	if err != nil {
		return fmt.Errorf("first round on %s: %w", anyMeta, err)
	}
	if v := first.Header.Get(streams.HdrRoundStart); v != "" {
		start, err := schema.ParseLSN(v)
		if err != nil {
			return fmt.Errorf("first round on %s (seq %d): %s %q: %w", first.Subject, first.Sequence, streams.HdrRoundStart, v, err)
		}
		if start > src.Base.StartLSN {
			return fmt.Errorf("the stream's records begin at %s, after the base backup's start %s: the WAL in between is no longer in %s, so a rebuild would miss it",
				start, src.Base.StartLSN, layout.StreamName())
		}
	}
	return nil
}
