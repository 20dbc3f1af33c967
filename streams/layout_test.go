package streams

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"math/bits"
	"regexp"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/pagemill/pagemill/schema"
)

func TestLayoutNames(t *testing.T) {
	l := Layout{SystemID: 7301234567890123456, Timeline: 3, Shards: 16}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ got, want string }{
		{l.StreamName(), "PM_WAL_7301234567890123456"},
		{l.StreamSubjects()[0], "pm.7301234567890123456.*.wal.>"},
		{l.TimelineSubjects(), "pm.7301234567890123456.3.wal.>"},
		{l.ShardSubject(0), "pm.7301234567890123456.3.wal.s000"},
		{l.ShardSubject(15), "pm.7301234567890123456.3.wal.s015"},
		{l.MetaSubject(), "pm.7301234567890123456.3.wal.meta"},
		{l.MetaSubjectAnyTimeline(), "pm.7301234567890123456.*.wal.meta"},
		{l.ObjectBucket(), "pm_base_7301234567890123456"},
		{l.KVBucket(), "pm_state_7301234567890123456"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	big := Layout{SystemID: math.MaxUint64, Timeline: math.MaxUint32, Shards: MaxShards}
	if got := big.ShardSubject(999); got != "pm.18446744073709551615.4294967295.wal.s999" {
		t.Errorf("largest shard subject %q", got)
	}

	// Names the server accepts: stream and bucket names are single
	// tokens of [A-Za-z0-9_-], subjects are valid and publishable, and
	// every WAL subject of every timeline falls under the stream filter.
	bucketName := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	for _, lay := range []Layout{l, big} {
		if !bucketName.MatchString(lay.StreamName()) || !bucketName.MatchString(lay.ObjectBucket()) || !bucketName.MatchString(lay.KVBucket()) {
			t.Errorf("invalid names for %+v", lay)
		}
		filter := lay.StreamSubjects()[0]
		if !server.IsValidSubject(filter) {
			t.Errorf("invalid filter %q", filter)
		}
		for _, s := range []string{lay.ShardSubject(0), lay.ShardSubject(lay.Shards - 1), lay.MetaSubject()} {
			if !server.IsValidPublishSubject(s) {
				t.Errorf("invalid publish subject %q", s)
			}
			if !server.SubjectMatchesFilter(s, filter) || !server.SubjectMatchesFilter(s, lay.TimelineSubjects()) {
				t.Errorf("%q is not under %q", s, filter)
			}
		}
	}
	other := Layout{SystemID: l.SystemID + 1, Timeline: 1, Shards: 1}
	if server.SubjectMatchesFilter(other.MetaSubject(), l.StreamSubjects()[0]) {
		t.Errorf("another system's subject falls under this stream")
	}

	for _, bad := range []Layout{{Timeline: 1, Shards: 1}, {SystemID: 1, Shards: 1}, {SystemID: 1, Timeline: 1}, {SystemID: 1, Timeline: 1, Shards: MaxShards + 1}} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidLayout) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidLayout", bad, err)
		}
	}
}

func TestParseShardSubject(t *testing.T) {
	l := Layout{SystemID: 42, Timeline: 7, Shards: 200}
	for s := 0; s < l.Shards; s++ {
		w, err := ParseShardSubject(l.ShardSubject(s))
		if err != nil {
			t.Fatal(err)
		}
		if w != (WALSubject{SystemID: 42, Timeline: 7, Shard: s}) || w.Meta() {
			t.Fatalf("shard %d parsed as %+v", s, w)
		}
	}
	w, err := ParseShardSubject(l.MetaSubject())
	if err != nil || !w.Meta() || w.SystemID != 42 || w.Timeline != 7 {
		t.Fatalf("meta parsed as %+v, %v", w, err)
	}
	for _, bad := range []string{
		"", "pm.42.7.wal", "pm.42.7.wal.s1", "pm.42.7.wal.s0001", "pm.42.7.wal.sabc", "pm.42.7.wal.x000",
		"pm.042.7.wal.s000", "pm.42.07.wal.s000", "pm.0.7.wal.s000", "pm.42.0.wal.s000",
		"pm.42.7.wal.s000.x", "px.42.7.wal.s000", "pm.42.7.wat.s000", "pm.42.4294967296.wal.s000",
		"pm.18446744073709551616.1.wal.s000", "pm.42.7.wal.META", "pm.42.*.wal.s000",
	} {
		if w, err := ParseShardSubject(bad); !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("ParseShardSubject(%q) = %+v, %v; want ErrInvalidSubject", bad, w, err)
		}
	}
}

// referenceShard is ShardOf written from its documentation against the
// standard library's FNV.
func referenceShard(tag schema.BufferTag, shards int) int {
	h := fnv.New64a()
	var b [17]byte
	binary.LittleEndian.PutUint32(b[0:], tag.Rel.SpcNode)
	binary.LittleEndian.PutUint32(b[4:], tag.Rel.DbNode)
	binary.LittleEndian.PutUint32(b[8:], tag.Rel.RelNode)
	b[12] = byte(tag.Fork)
	binary.LittleEndian.PutUint32(b[13:], uint32(tag.Block))
	h.Write(b[:])
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	hi, _ := bits.Mul64(x, uint64(shards))
	return int(hi)
}

func tag(spc, db, rel uint32, fork schema.ForkNumber, blk uint32) schema.BufferTag {
	return schema.BufferTag{Rel: schema.RelFileNode{SpcNode: spc, DbNode: db, RelNode: rel}, Fork: fork, Block: schema.BlockNumber(blk)}
}

// TestShardOfGolden pins ShardOf: these values are stored layout. If this
// test fails, the change needs a LayoutVersion bump and a migration, not a
// new golden table.
func TestShardOfGolden(t *testing.T) {
	golden := []struct {
		tag    schema.BufferTag
		shards int
		want   int
	}{
		{tag(1663, 5, 16384, schema.MainForkNum, 0), 8, 1},
		{tag(1663, 5, 16384, schema.MainForkNum, 1), 8, 6},
		{tag(1663, 5, 16384, schema.MainForkNum, 2), 8, 5},
		{tag(1663, 5, 16384, schema.MainForkNum, 3), 8, 4},
		{tag(1663, 5, 16384, schema.FSMForkNum, 0), 8, 2},
		{tag(1663, 5, 16384, schema.VisibilityMapFork, 0), 8, 4},
		{tag(1663, 5, 16384, schema.InitForkNum, 0), 8, 1},
		{tag(1663, 5, 16397, schema.MainForkNum, 0), 8, 4},
		{tag(1664, 0, 1262, schema.MainForkNum, 0), 8, 7},
		{tag(1663, 16384, 2619, schema.MainForkNum, 12345), 8, 5},
		{tag(1663, 5, 16384, schema.MainForkNum, 0xFFFFFFFE), 8, 0},
		{tag(1663, 5, 16384, schema.MainForkNum, 0), 1, 0},
		{tag(1663, 5, 16384, schema.MainForkNum, 0), 16, 2},
		{tag(1663, 5, 16384, schema.MainForkNum, 0), 1000, 186},
		{tag(0, 0, 0, schema.MainForkNum, 0), 8, 4},
		{tag(math.MaxUint32, math.MaxUint32, math.MaxUint32, schema.InvalidForkNumber, math.MaxUint32), 1000, 137},
	}
	for _, g := range golden {
		if got := ShardOf(g.tag, g.shards); got != g.want {
			t.Errorf("ShardOf(%v, %d) = %d, want %d", g.tag, g.shards, got, g.want)
		}
		if ref := referenceShard(g.tag, g.shards); ref != g.want {
			t.Errorf("reference(%v, %d) = %d, want %d", g.tag, g.shards, ref, g.want)
		}
	}
}

// TestShardOfMatchesReference: ShardOf and a Sharder (whose cached
// relation changes every few tags here) both equal the reference.
func TestShardOfMatchesReference(t *testing.T) {
	for _, shards := range []int{1, 3, 8, 64, 1000} {
		s := NewSharder(shards)
		for rel := uint32(16384); rel < 16384+50; rel++ {
			for blk := uint32(0); blk < 200; blk++ {
				tg := tag(1663, 5, rel, schema.ForkNumber(blk/8%4), blk)
				b := referenceShard(tg, shards)
				if a := ShardOf(tg, shards); a != b || a < 0 || a >= shards {
					t.Fatalf("ShardOf(%v, %d) = %d, reference %d", tg, shards, a, b)
				}
				if a := s.Of(tg); a != b {
					t.Fatalf("Sharder(%d).Of(%v) = %d, reference %d", shards, tg, a, b)
				}
			}
		}
	}
}

// TestShardOfSpreads checks that pages spread evenly (a chi-square test
// over many relations) and that every relation's blocks reach every shard.
func TestShardOfSpreads(t *testing.T) {
	for _, tc := range []struct {
		shards   int
		critical float64 // chi-square, p = 0.001, shards-1 degrees of freedom
	}{{8, 24.32}, {16, 37.70}, {64, 103.44}} {
		counts := make([]int, tc.shards)
		n := 0
		for rel := uint32(16384); rel < 16384+200; rel++ {
			perRel := make([]bool, tc.shards)
			for blk := uint32(0); blk < 1000; blk++ {
				s := ShardOf(tag(1663, 16384, rel, schema.MainForkNum, blk), tc.shards)
				counts[s]++
				perRel[s] = true
				n++
			}
			for s, hit := range perRel {
				if !hit {
					t.Errorf("%d shards: relation %d never reaches shard %d in 1000 blocks", tc.shards, rel, s)
				}
			}
		}
		exp := float64(n) / float64(tc.shards)
		chi := 0.0
		for _, c := range counts {
			d := float64(c) - exp
			chi += d * d / exp
		}
		t.Logf("%d shards: chi-square %.2f (critical %.2f)", tc.shards, chi, tc.critical)
		if chi > tc.critical {
			t.Errorf("%d shards: chi-square %.2f > %.2f: %v", tc.shards, chi, tc.critical, counts)
		}
	}

	// Small relations, the common case: the first 8 blocks of 1000
	// relations over 8 shards.
	counts := make([]int, 8)
	for rel := uint32(16384); rel < 16384+1000; rel++ {
		for blk := uint32(0); blk < 8; blk++ {
			counts[ShardOf(tag(1663, 5, rel, schema.MainForkNum, blk), 8)]++
		}
	}
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - 1000
		chi += d * d / 1000
	}
	if chi > 24.32 {
		t.Errorf("small relations: chi-square %.2f: %v", chi, counts)
	}
}

func TestShardOfPanicsWithoutShards(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("ShardOf(tag, 0) did not panic")
		}
	}()
	ShardOf(tag(1, 2, 3, 0, 4), 0)
}
