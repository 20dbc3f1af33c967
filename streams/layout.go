package streams

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/pagemill/pagemill/schema"
)

// LayoutVersion is the version of the stream's layout: the naming and
// sharding scheme in this file and what a round's messages hold (package
// documentation). It is recorded in the WAL stream's metadata
// (MetaLayoutVersion). Anything that changes where an existing event lives
// — a subject's shape, ShardOf's hash or its reduction to a shard — or how
// a reader must read a round needs a new version. Version 2 added whole
// rounds (HdrWhole): a version-1 stream is one a version-2 reader reads as
// it is, so this build reads both and writes 2; a reader of version 1 must
// refuse a version-2 stream.
const LayoutVersion = 2

// ReadsLayoutVersion reports whether this build reads a stream whose
// metadata records layout version v.
func ReadsLayoutVersion(v string) bool { return v == "1" || v == strconv.Itoa(LayoutVersion) }

// MaxShards bounds Layout.Shards: shard numbers are written with three
// decimal digits (s000..s999).
const MaxShards = 1000

// MetaShard is the shard number ParseShardSubject reports for the meta
// subject.
const MetaShard = -1

// Stream metadata keys written by Ensure. The shard count is a property of
// the stream: changing it would move pages to other subjects, so Ensure
// refuses to.
const (
	MetaLayoutVersion = "pagemill.layout"
	MetaShards        = "pagemill.shards"
	MetaSystemID      = "pagemill.sysid"
)

// ErrInvalidLayout is matched by errors about a Layout or a Config that
// cannot be used.
var ErrInvalidLayout = errors.New("invalid stream layout")

// ErrInvalidSubject is matched by errors from ParseShardSubject.
var ErrInvalidSubject = errors.New("not a pagemill WAL subject")

// Layout names everything pagemill keeps in JetStream for one source system
// (PostgreSQL's database system identifier, pg_control's system_identifier)
// on one timeline. See the package documentation for the scheme.
type Layout struct {
	SystemID uint64 // source database system identifier; never 0
	Timeline uint32 // WAL timeline (TimeLineID); PostgreSQL's start at 1
	Shards   int    // number of shard subjects, 1..MaxShards
}

// Validate reports whether every name of the layout is usable.
func (l Layout) Validate() error {
	if l.SystemID == 0 {
		return fmt.Errorf("%w: system identifier is 0", ErrInvalidLayout)
	}
	if l.Timeline == 0 {
		return fmt.Errorf("%w: timeline is 0", ErrInvalidLayout)
	}
	if l.Shards < 1 || l.Shards > MaxShards {
		return fmt.Errorf("%w: %d shards, want 1..%d", ErrInvalidLayout, l.Shards, MaxShards)
	}
	return nil
}

// StreamName is the WAL stream of the source system: PM_WAL_<sysid>. It
// holds every timeline.
func (l Layout) StreamName() string {
	return "PM_WAL_" + strconv.FormatUint(l.SystemID, 10)
}

// StreamSubjects is the WAL stream's subject filter: pm.<sysid>.*.wal.>
// (every timeline, every shard and the meta subject).
func (l Layout) StreamSubjects() []string {
	return []string{l.systemPrefix() + "*.wal.>"}
}

// TimelineSubjects matches every WAL subject of the layout's timeline:
// pm.<sysid>.<tli>.wal.> (the shards and the meta subject).
func (l Layout) TimelineSubjects() string {
	return l.timelinePrefix() + ">"
}

// ShardSubject is the subject of one shard on the layout's timeline:
// pm.<sysid>.<tli>.wal.s<NNN>, NNN the shard in three decimal digits. It
// panics if shard is not in [0, l.Shards): a shard number comes from ShardOf
// or a loop over the shards, so anything else is a bug.
func (l Layout) ShardSubject(shard int) string {
	if shard < 0 || shard >= l.Shards || shard >= MaxShards {
		panic(fmt.Sprintf("streams: shard %d out of range [0,%d)", shard, l.Shards))
	}
	return l.timelinePrefix() + shardToken(shard)
}

// MetaSubject is the subject for records that change no page and for the
// ingest progress markers: pm.<sysid>.<tli>.wal.meta.
func (l Layout) MetaSubject() string {
	return l.timelinePrefix() + "meta"
}

// MetaSubjectAnyTimeline matches the meta subject of every timeline:
// pm.<sysid>.*.wal.meta. The last message on it is the newest progress
// marker whatever the timeline; its subject tells which.
func (l Layout) MetaSubjectAnyTimeline() string {
	return l.systemPrefix() + "*.wal.meta"
}

// SubjectOf is the shard subject that carries the records changing tag.
func (l Layout) SubjectOf(tag schema.BufferTag) string {
	return l.ShardSubject(ShardOf(tag, l.Shards))
}

// ObjectBucket is the object store bucket for the base backup:
// pm_base_<sysid>.
func (l Layout) ObjectBucket() string {
	return "pm_base_" + strconv.FormatUint(l.SystemID, 10)
}

// KVBucket is the key-value bucket for small state: pm_state_<sysid>.
func (l Layout) KVBucket() string {
	return "pm_state_" + strconv.FormatUint(l.SystemID, 10)
}

func (l Layout) systemPrefix() string {
	return "pm." + strconv.FormatUint(l.SystemID, 10) + "."
}

func (l Layout) timelinePrefix() string {
	return l.systemPrefix() + strconv.FormatUint(uint64(l.Timeline), 10) + ".wal."
}

func shardToken(shard int) string {
	var b [4]byte
	b[0] = 's'
	b[1] = byte('0' + shard/100)
	b[2] = byte('0' + shard/10%10)
	b[3] = byte('0' + shard%10)
	return string(b[:])
}

// WALSubject is a parsed WAL subject.
type WALSubject struct {
	SystemID uint64
	Timeline uint32
	Shard    int // MetaShard for the meta subject
}

// Meta reports whether the subject is the meta subject.
func (w WALSubject) Meta() bool { return w.Shard == MetaShard }

// ParseShardSubject parses a shard subject (pm.<sysid>.<tli>.wal.s<NNN>) or
// the meta subject (pm.<sysid>.<tli>.wal.meta, Shard = MetaShard). Only the
// canonical spelling is accepted — the one Layout produces — so parsing and
// formatting round-trip. Errors match ErrInvalidSubject.
func ParseShardSubject(subject string) (WALSubject, error) {
	bad := func(why string) (WALSubject, error) {
		return WALSubject{}, fmt.Errorf("%w: %q: %s", ErrInvalidSubject, subject, why)
	}
	tok := strings.Split(subject, ".")
	if len(tok) != 5 || tok[0] != "pm" || tok[3] != "wal" {
		return bad("want pm.<sysid>.<tli>.wal.<s000|meta>")
	}
	sysid, err := strconv.ParseUint(tok[1], 10, 64)
	if err != nil || sysid == 0 || strconv.FormatUint(sysid, 10) != tok[1] {
		return bad("bad system identifier")
	}
	tli, err := strconv.ParseUint(tok[2], 10, 32)
	if err != nil || tli == 0 || strconv.FormatUint(tli, 10) != tok[2] {
		return bad("bad timeline")
	}
	w := WALSubject{SystemID: sysid, Timeline: uint32(tli), Shard: MetaShard}
	if tok[4] == "meta" {
		return w, nil
	}
	s := tok[4]
	if len(s) != 4 || s[0] != 's' {
		return bad("bad shard token")
	}
	n := 0
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return bad("bad shard token")
		}
		n = n*10 + int(c-'0')
	}
	w.Shard = n
	return w, nil
}

// FNV-1a, 64 bit (the published offset basis and prime).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// ShardOf maps a page to one of shards shards. It is part of the stored
// layout (LayoutVersion 1) and must never change without a version bump:
// ingest in one process and redo in another, of different builds, must
// agree forever on where a page's records are.
//
// Definition, in three steps:
//
//  1. h = FNV-1a 64 over 17 bytes: spcNode, dbNode and relNode as uint32
//     little-endian, fork as one byte (two's complement), block as uint32
//     little-endian (offset basis 14695981039346656037, prime
//     1099511628211).
//  2. h = fmix64(h), MurmurHash3's 64-bit finalizer: h ^= h>>33;
//     h *= 0xff51afd7ed558ccd; h ^= h>>33; h *= 0xc4ceb9fe1a85ec53;
//     h ^= h>>33.
//  3. shard = floor(h × shards / 2^64), the high word of the 128-bit
//     product.
//
// The finalizer is not decoration: FNV-1a alone mixes its last input bytes
// badly — its low bits depend only on the low bits of each byte, and a
// change in the block number reaches the high bits through only four
// multiplications — so neither h mod shards nor step 3 on raw FNV spreads
// one relation's blocks evenly (TestShardOfSpreads measures it). With it,
// consecutive blocks of one relation spread over all shards.
//
// shards < 1 is a programming error and panics.
func ShardOf(tag schema.BufferTag, shards int) int {
	if shards < 1 {
		panic(fmt.Sprintf("streams: ShardOf with %d shards", shards))
	}
	return shardOfPrefix(relForkHash(tag.Rel, tag.Fork), tag.Block, shards)
}

// relForkHash is step 1 of ShardOf over its first 13 bytes: the relation
// and the fork.
func relForkHash(rel schema.RelFileNode, fork schema.ForkNumber) uint64 {
	var b [13]byte
	binary.LittleEndian.PutUint32(b[0:], rel.SpcNode)
	binary.LittleEndian.PutUint32(b[4:], rel.DbNode)
	binary.LittleEndian.PutUint32(b[8:], rel.RelNode)
	b[12] = byte(fork)
	h := uint64(fnvOffset64)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// shardOfPrefix finishes ShardOf from relForkHash: the block's 4 bytes,
// then steps 2 and 3.
func shardOfPrefix(h uint64, block schema.BlockNumber, shards int) int {
	for i := range 4 {
		h ^= uint64(byte(uint32(block) >> (8 * i)))
		h *= fnvPrime64
	}
	hi, _ := bits.Mul64(fmix64(h), uint64(shards))
	return int(hi)
}

// Sharder is ShardOf for one shard count, remembering the relation-fork
// part of the hash of the last relation it saw: consecutive tags mostly
// share it (a record's blocks, a batch's hot relations), and it is three
// quarters of the hashing.
type Sharder struct {
	shards int
	rel    schema.RelFileNode
	fork   schema.ForkNumber
	h      uint64
	valid  bool
}

// NewSharder returns a Sharder over shards shards (at least 1: ShardOf's
// rule).
func NewSharder(shards int) *Sharder {
	if shards < 1 {
		panic(fmt.Sprintf("streams: NewSharder with %d shards", shards))
	}
	return &Sharder{shards: shards}
}

// Of is ShardOf(tag, shards).
func (s *Sharder) Of(tag schema.BufferTag) int {
	if !s.valid || tag.Rel != s.rel || tag.Fork != s.fork {
		s.rel, s.fork, s.h, s.valid = tag.Rel, tag.Fork, relForkHash(tag.Rel, tag.Fork), true
	}
	return shardOfPrefix(s.h, tag.Block, s.shards)
}

// fmix64 is MurmurHash3's 64-bit finalizer.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
