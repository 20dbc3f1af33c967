package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for Config's zero fields.
const (
	DefaultShards          = 1
	DefaultReplicas        = 1
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultMaxMsgSize      = 8 << 20
)

// ErrLayoutMismatch is matched by Ensure's error when the WAL stream exists
// with another layout version or shard count than asked for.
var ErrLayoutMismatch = errors.New("stream layout mismatch")

// ErrNoMessage is matched by LastMsgOnSubject's error when the subject holds
// no message.
var ErrNoMessage = errors.New("no message on subject")

// Config is the JetStream configuration of one source system's streams and
// buckets. Zero fields take the defaults above.
type Config struct {
	// Shards is the number of shard subjects (default 1). It is fixed when
	// the stream is created; Ensure refuses to change it. A record is
	// published once per shard holding a page it changes, so one subject
	// publishes (and the materializer decodes) every record once; the
	// materializer's redo shards do not depend on it.
	Shards int
	// Replicas is the replication factor of the stream and both buckets:
	// 1 on one node, 3 on a cluster (default 1).
	Replicas int
	// MaxBytes caps the WAL stream's size; 0 means no cap. With DiscardNew
	// a full stream rejects publishes (ErrStreamFull): it is a ceiling, not
	// a rolling window.
	MaxBytes int64
	// MaxAge is the retention window: messages older than this are removed
	// whether or not anything has consumed them; 0 keeps them forever. It
	// must exceed the worst consumer lag and the base-backup interval.
	MaxAge time.Duration
	// DuplicateWindow is how long Nats-Msg-Id values are remembered for
	// deduplication (default 2m). It may not exceed MaxAge.
	DuplicateWindow time.Duration
	// MaxMsgSize bounds one message, headers included (default 8 MiB).
	// The server's max_payload must be at least this large.
	MaxMsgSize int32
}

// WithDefaults returns c with zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = DefaultMaxMsgSize
	}
	return c
}

// ShardCount is the number of shards c asks for: Shards, or DefaultShards
// when it is 0.
func (c Config) ShardCount() int { return c.WithDefaults().Shards }

// Validate checks a configuration after WithDefaults.
func (c Config) Validate() error {
	switch {
	case c.Shards < 1 || c.Shards > MaxShards:
		return fmt.Errorf("%w: %d shards, want 1..%d", ErrInvalidLayout, c.Shards, MaxShards)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("%w: %d replicas, want 1..5", ErrInvalidLayout, c.Replicas)
	case c.MaxBytes < 0:
		return fmt.Errorf("%w: negative MaxBytes", ErrInvalidLayout)
	case c.MaxAge < 0:
		return fmt.Errorf("%w: negative MaxAge", ErrInvalidLayout)
	case c.DuplicateWindow < 100*time.Millisecond:
		return fmt.Errorf("%w: duplicate window %v, want at least 100ms", ErrInvalidLayout, c.DuplicateWindow)
	case c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge:
		return fmt.Errorf("%w: duplicate window %v exceeds MaxAge %v", ErrInvalidLayout, c.DuplicateWindow, c.MaxAge)
	case c.MaxMsgSize < 1:
		return fmt.Errorf("%w: MaxMsgSize %d", ErrInvalidLayout, c.MaxMsgSize)
	}
	return nil
}

// WALStreamConfig is the configuration Ensure gives the WAL stream.
func WALStreamConfig(l Layout, c Config) jetstream.StreamConfig {
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        l.StreamName(),
		Description: "pagemill WAL events of system " + strconv.FormatUint(l.SystemID, 10),
		Subjects:    l.StreamSubjects(),
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		// A full log pushes back on ingest; it never drops records.
		Discard:    jetstream.DiscardNew,
		MaxBytes:   maxBytes,
		MaxMsgs:    -1,
		MaxAge:     c.MaxAge,
		MaxMsgSize: c.MaxMsgSize,
		// Without a per-subject limit: every event of a subject is kept.
		MaxMsgsPerSubject: -1,
		MaxConsumers:      -1,
		Duplicates:        c.DuplicateWindow,
		Replicas:          c.Replicas,
		// Rounds are published as atomic batches.
		AllowAtomicPublish: true,
		// The log is append-only: deleting one message would leave a hole
		// no consumer could tell from a lost record. DenyDelete cannot be
		// undone, which is the point. Purge stays allowed (and rollups
		// stay off): trimming history older than a newer base backup is
		// an operator's only remedy for a full stream besides MaxBytes.
		DenyDelete:  true,
		DenyPurge:   false,
		AllowRollup: false,
		// Reads go to the leader, so a resuming writer that reads the last
		// progress marker never sees a lagging replica's older one.
		AllowDirect: false,
		Metadata: map[string]string{
			MetaLayoutVersion: strconv.Itoa(LayoutVersion),
			MetaShards:        strconv.Itoa(l.Shards),
			MetaSystemID:      strconv.FormatUint(l.SystemID, 10),
		},
	}
}

// Handles are the JetStream objects of one source system.
type Handles struct {
	Layout  Layout                // with Shards filled in
	Config  Config                // with defaults filled in
	Stream  jetstream.Stream      // the WAL stream, PM_WAL_<sysid>
	Objects jetstream.ObjectStore // the base backup, pm_base_<sysid>
	KV      jetstream.KeyValue    // small state, pm_state_<sysid>
}

// Ensure creates the WAL stream, the base-backup object store and the state
// KV bucket of layout, or updates them to cfg. It is idempotent. A layout
// with Shards 0 takes cfg's; otherwise the two must agree. An existing
// stream written with another shard count or layout version is an error
// matching ErrLayoutMismatch, and nothing is changed.
func Ensure(ctx context.Context, js jetstream.JetStream, layout Layout, cfg Config) (*Handles, error) {
	if cfg.Shards == 0 {
		cfg.Shards = layout.Shards
	}
	cfg = cfg.WithDefaults()
	if layout.Shards == 0 {
		layout.Shards = cfg.Shards
	}
	if layout.Shards != cfg.Shards {
		return nil, fmt.Errorf("%w: layout has %d shards, config %d", ErrInvalidLayout, layout.Shards, cfg.Shards)
	}
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	scfg := WALStreamConfig(layout, cfg)

	existing, err := js.Stream(ctx, scfg.Name)
	switch {
	case err == nil:
		old := existing.CachedInfo().Config
		if err := checkLayoutMetadata(old.Metadata, layout); err != nil {
			return nil, fmt.Errorf("stream %s: %w", scfg.Name, err)
		}
		// Both are one-way on the server; keep what an operator set.
		scfg.DenyDelete = scfg.DenyDelete || old.DenyDelete
		scfg.DenyPurge = scfg.DenyPurge || old.DenyPurge
	case errors.Is(err, jetstream.ErrStreamNotFound):
	default:
		return nil, fmt.Errorf("look up stream %s: %w", scfg.Name, err)
	}
	stream, err := js.CreateOrUpdateStream(ctx, scfg)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", scfg.Name, err)
	}

	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      layout.ObjectBucket(),
		Description: "pagemill base backup of system " + strconv.FormatUint(layout.SystemID, 10),
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update object store %s: %w", layout.ObjectBucket(), err)
	}

	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      layout.KVBucket(),
		Description: "pagemill state of system " + strconv.FormatUint(layout.SystemID, 10),
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update key-value bucket %s: %w", layout.KVBucket(), err)
	}
	return &Handles{Layout: layout, Config: cfg, Stream: stream, Objects: obj, KV: kv}, nil
}

func checkLayoutMetadata(md map[string]string, l Layout) error {
	if v, ok := md[MetaLayoutVersion]; ok && !ReadsLayoutVersion(v) {
		return fmt.Errorf("%w: layout version %s, this build reads 1 and %d (a newer build wrote the stream: run that build, or rebuild the log from the source with a new base backup)",
			ErrLayoutMismatch, v, LayoutVersion)
	}
	if v, ok := md[MetaShards]; ok && v != strconv.Itoa(l.Shards) {
		return fmt.Errorf("%w: stream has %s shards, asked for %d", ErrLayoutMismatch, v, l.Shards)
	}
	return nil
}

// LastMsgOnSubject returns the last message stored on subject (which may
// contain wildcards) in stream, read from the stream leader. An empty
// subject is an error matching ErrNoMessage.
func LastMsgOnSubject(ctx context.Context, stream jetstream.Stream, subject string) (*jetstream.RawStreamMsg, error) {
	m, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("last message on %s: %w", subject, ErrNoMessage)
	}
	if err != nil {
		return nil, fmt.Errorf("last message on %s: %w", subject, err)
	}
	return m, nil
}
