package schema

import (
	"math/rand/v2"
	"testing"
)

func TestLSNFormatAndParse(t *testing.T) {
	cases := []struct {
		lsn         LSN
		long, short string
	}{
		{0, "0/00000000", "0/0"},
		{0x16B3748, "0/016B3748", "0/16B3748"},
		{0x1_0000_0028, "1/00000028", "1/28"},
		{0xFFFFFFFF_FFFFFFFF, "FFFFFFFF/FFFFFFFF", "FFFFFFFF/FFFFFFFF"},
	}
	for _, c := range cases {
		if got := c.lsn.String(); got != c.long {
			t.Errorf("String(%#x) = %q, want %q", uint64(c.lsn), got, c.long)
		}
		if got := string(appendLSN(nil, c.lsn)); got != c.long {
			t.Errorf("appendLSN(%#x) = %q, want %q", uint64(c.lsn), got, c.long)
		}
		if got := c.lsn.Short(); got != c.short {
			t.Errorf("Short(%#x) = %q, want %q", uint64(c.lsn), got, c.short)
		}
		for _, s := range []string{c.long, c.short} {
			if got, err := ParseLSN(s); err != nil || got != c.lsn {
				t.Errorf("ParseLSN(%q) = %s, %v", s, got, err)
			}
		}
	}
	if got, err := ParseLSN("a/bcdef"); err != nil || got != 0xA_000BCDEF {
		t.Errorf("lower case: %s %v", got, err)
	}
	for _, bad := range []string{"", "0", "/1", "1/", "x/1", "1/123456789", "0/0/0", "-1/0", "0/ 1"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) accepted", bad)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 1000; i++ {
		l := LSN(rng.Uint64())
		if got, err := ParseLSN(l.String()); err != nil || got != l {
			t.Fatalf("round trip %s: %s %v", l, got, err)
		}
	}
}

func TestSegmentNames(t *testing.T) {
	const seg16 = 16 << 20
	if got := XLogFileName(1, LSN(0x3000028).SegNo(seg16), seg16); got != "000000010000000000000003" {
		t.Fatalf("got %s", got)
	}
	if got := XLogFileName(2, LSN(0x1_2300_0000).SegNo(seg16), seg16); got != "000000020000000100000023" {
		t.Fatalf("got %s", got)
	}
	// 1 MiB segments: 4096 per xlogid.
	if got := XLogFileName(1, LSN(0x1_0010_0000).SegNo(1<<20), 1<<20); got != "000000010000000100000001" {
		t.Fatalf("got %s", got)
	}
	for _, segSize := range []uint32{1 << 20, 16 << 20, 1 << 30} {
		for _, seg := range []XLogSegNo{0, 1, 255, 256, 4095, 4096, 123456} {
			name := XLogFileName(7, seg, segSize)
			tli, got, err := ParseXLogFileName(name, segSize)
			if err != nil || tli != 7 || got != seg {
				t.Fatalf("%s: %d %d %v", name, tli, got, err)
			}
		}
	}
	if _, _, err := ParseXLogFileName("000000010000000000000100", 16<<20); err == nil {
		t.Fatal("segment 0x100 of 16 MiB segments accepted")
	}
	if _, _, err := ParseXLogFileName("00000001000000000000000G", 16<<20); err == nil {
		t.Fatal("non-hex accepted")
	}
	if ValidWALSegSize(3<<20) || !ValidWALSegSize(64<<20) || ValidWALSegSize(512<<10) || ValidWALSegSize(2<<30) {
		t.Fatal("ValidWALSegSize")
	}
}

func TestRelFileNodeAndFork(t *testing.T) {
	r, err := ParseRelFileNode("1663/5/16384")
	if err != nil || r != (RelFileNode{1663, 5, 16384}) || r.String() != "1663/5/16384" {
		t.Fatalf("%v %v", r, err)
	}
	for _, bad := range []string{"1663/5", "a/b/c", "1/2/3/4", "1/2/99999999999"} {
		if _, err := ParseRelFileNode(bad); err == nil {
			t.Errorf("ParseRelFileNode(%q) accepted", bad)
		}
	}
	for i, name := range []string{"main", "fsm", "vm", "init"} {
		f, err := ParseForkNumber(name)
		if err != nil || f != ForkNumber(i) || f.String() != name {
			t.Errorf("fork %s: %v %v", name, f, err)
		}
	}
	if _, err := ParseForkNumber("heap"); err == nil {
		t.Error("unknown fork accepted")
	}
	tag := BufferTag{RelFileNode{1663, 5, 16384}, VisibilityMapFork, 3}
	if tag.String() != "rel 1663/5/16384 fork vm blk 3" {
		t.Errorf("tag %s", tag)
	}
	tag.Fork = MainForkNum
	if tag.String() != "rel 1663/5/16384 blk 3" {
		t.Errorf("tag %s", tag)
	}
}
