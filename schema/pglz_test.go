package schema

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// decodeOK decompresses src into a fresh buffer of rawsize bytes and fails the
// test on any error or short result.
func decodeOK(t *testing.T, src []byte, rawsize int) []byte {
	t.Helper()
	dst := make([]byte, rawsize)
	n, err := PglzDecompress(dst, src)
	if err != nil {
		t.Fatalf("PglzDecompress: %v", err)
	}
	if n != rawsize {
		t.Fatalf("PglzDecompress returned %d, want %d", n, rawsize)
	}
	return dst
}

// decodeErr expects PglzDecompress to reject src and checks the error shape.
func decodeErr(t *testing.T, src []byte, rawsize int, wantSubstr string) {
	t.Helper()
	dst := make([]byte, rawsize)
	n, err := PglzDecompress(dst, src)
	if err == nil {
		t.Fatalf("PglzDecompress succeeded (n=%d), want error containing %q", n, wantSubstr)
	}
	if !errors.Is(err, ErrPglzCorrupt) {
		t.Fatalf("error %v does not wrap ErrPglzCorrupt", err)
	}
	if n != 0 {
		t.Fatalf("n = %d on error, want 0", n)
	}
	msg := err.Error()
	if !strings.Contains(msg, wantSubstr) || !strings.Contains(msg, "input offset") ||
		!strings.Contains(msg, "output offset") {
		t.Fatalf("error %q: want it to mention %q and both offsets", msg, wantSubstr)
	}
	if got := pglzDecompressRef(make([]byte, rawsize), src); got != -1 {
		t.Fatalf("reference decoder accepted a stream PglzDecompress rejected (%d)", got)
	}
}

// Streams below are assembled by hand from the format: a control byte whose
// bits, LSB first, mark the next 8 items as literal (0) or tag (1); a tag is
// T1 = offset>>8<<4 | (len-3), T2 = offset&0xff, plus T3 = len-18 when the
// low nibble of T1 is 0xf.
func TestPglzHandVectors(t *testing.T) {
	tests := []struct {
		name string
		src  string // hex
		want string
	}{
		{
			// items: 'a' 'b' 'c' tag(off 3,len 9) 'X' -> ctrl 0b01000
			name: "two-byte tag",
			src:  "08" + "616263" + "0603" + "58",
			want: "abcabcabcabcX",
		},
		{
			// 8 literals under ctrl 0x00, then ctrl 0x01 for
			// tag(off 8,len 40 = 18+22) and literal 'Z'.
			name: "three-byte tag across two control bytes",
			src:  "00" + "4142434445464748" + "01" + "0f0816" + "5a",
			want: strings.Repeat("ABCDEFGH", 6) + "Z",
		},
		{
			// 'q' then tag(off 1,len 17): longest two-byte tag, nibble 0xe.
			name: "length 17 two-byte tag, RLE",
			src:  "02" + "71" + "0e01",
			want: strings.Repeat("q", 18),
		},
		{
			// 'q' then tag(off 1,len 18): shortest three-byte tag, T3 = 0.
			name: "length 18 three-byte tag",
			src:  "02" + "71" + "0f0100",
			want: strings.Repeat("q", 19),
		},
		{
			// "xy" then tag(off 2,len 7): source overlaps destination.
			name: "overlapping period 2",
			src:  "04" + "7879" + "0402",
			want: "xyxyxyxyx",
		},
		{
			name: "literals only, partial control byte",
			src:  "00" + "68656c6c6f",
			want: "hello",
		},
		{
			name: "empty",
			src:  "",
			want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := hex.DecodeString(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeOK(t, src, len(tc.want))
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			ref := make([]byte, len(tc.want))
			if n := pglzDecompressRef(ref, src); n != len(tc.want) || string(ref) != tc.want {
				t.Fatalf("reference decoder disagrees: n=%d %q", n, ref)
			}
		})
	}
}

// pgPageCompressed is heapPageLike() as compressed by PostgreSQL 15.18's own
// pglz_compress with PGLZ_strategy_default (the strategy XLogCompressBackupBlock
// uses), built from src/common/pg_lzcompress.c outside this repository.
const pgPageCompressed = "" +
	"40c8b3a20101000301c48001e80100200420010c00b89f8e00709f8e0000289f8e00e09e8e0000989e8e00509e8e0000" +
	"089e8e00c09d8e0000789d8e00309d8e0000e89c8e00a09c8e0000589c8e00109c8e0000c89b8e00809b8e0000389b8e" +
	"00f09a8e0000a89a8e00609a8e0000189a8e00d0998e000088998e0040998e0000f8988e00b0988e000068988e002098" +
	"8e0000d8978e0090978e000048978e0000978e0000b8968e0070968e000028968e00e0958e000098958e0050958e0000" +
	"08958e00c0948e000078948e0030948e0000e8938e00a0938e000058938e0010938e0000c8928e0080928e000038928e" +
	"00f0918e0000a8918e0060918e000018918e00d0908e000088908e0040908e0000f88f8e00b08f8e0000688f8e00208f" +
	"8e0000d88e8e00908e8e0000488e8e00008e8e0000b88d8e00708d8e0000288d8e00e08c8e0000988c8e00508c8e0000" +
	"088c8e00c08b8e0000788b8e00308b8e0000e88a8e00a08a8e0000588a8e00108a8e0000c8898e0080898e000038898e" +
	"00f0888e0000a8888e0060888e000018888e00d0878e000088878e0040878e0000f8868e00b0868e000068868e002086" +
	"8e0000d8858e0090858e000048858e0000858e0000b8848e0070848e000028848e00e0838e000098838e0050838e0000" +
	"08838e00c0828e000078828e0030828e0098e8818e14be0f010cdb020b10006b00030002091800006b0000005eb70000" +
	"004f637573746f6d6500722d30303031303700207374617475733d006163746976652072806567696f6e3d300e48026a" +
	"04486a0000003b7b550e48360f4804350e4869044869a00000004c2c0e48350f48040a360e4868044868000000546146" +
	"0e48340f4804330e4867810448670000008a900e482a330f4804370e48660448660050000017ba0e48320f480432050e" +
	"486504486500000098aa2b0e48310f4804310e486404484064000000dddb0e4830051f201663044863000000f6a2380c" +
	"483039391ff816620448406200000033750e4838051ff81661044861000000242ec80e482fd0051f6800600448600070" +
	"000099730e482fd0053f18005f8104485f000000a29c0e480b2fd0052f40005e04485e000000ac8f480e482fd005340e" +
	"485d0448c05d000000f00d0e482fd005050fd8005c04485c000000952e490e482fd0050f90005b04485b007000008ee7" +
	"0e482fd0050f48005a8104485a0000002b100e480b2fd0050fd800590448590000005afc1e68382fd0052f8800580448" +
	"5860000000d1d90e482fd0175781044857000000ba850e480b2fd0053fa800560448560000005c07e80e482fd0052f88" +
	"0055044855e000000048050e482fd0053ff00002540448540000004de0170e482fd0050f9000530448530000b8002623" +
	"0e482fd0052f40005204482052000000236d7830380b2fd0050fd800510448510000005cd40e0e482fd0051ff8005004" +
	"4850e000000009590e482fd0054fc800024f04484f000000d2ab150d48372fd0174e04484e000058007f780e482fd017" +
	"4d04484d60000000a0710e482fd0174c8104484c00000005800e480b2fd0057f08004b04484b0000005cbe4b0e482fd0" +
	"052f40004a04484ae00000001ba90e482fd0052f40000249044849000000ac79170e482fd0051f6800480448480000b8" +
	"0041d10e482fd0051f6800470448c047000000ea6e0e482fd005055f580046044846000000f72d5e10372fd0051fb000" +
	"4504484500500000f8b20d48362fd0174481044844000000bd080e48d52fd017430448435164c10e488f701702420448" +
	"420000001367170e482fd0050f4800410448410000580084e90e485fa01740044840e000000079220e482fd0051fb000" +
	"023f04483f000000022f170e482fd0050f90003e04483e0000b8006fec0e482fd0056f30003d0448ba3d5164290e482f" +
	"d0053f18003c0448c03c000000755a0e482fd005052f40003b04483b000000ee5ae30d48352fd0054f80003a04483a90" +
	"0000000bcdf030352fd005d51f68003904483991e4be0e485fa0178238044838000000b17e500a355fa0173704483700" +
	"00005c1a4c0e482fd0050f900036044836e0000000e78f0e482fd0051fb0000235044835000000a8340b0e488f701734" +
	"0448340000002c2d550e488f7017330448330070000086130e482fd0054f3800328104483200000003260e48ab2fd005" +
	"0f90003104483101e4580d4816342fd0051fb0003004483000005800e9cf0e485fa0172f04482f5b01e40ed8342fd005" +
	"4f38002e04482eadd1d4a40e482fd0172d04482d234d0b0d488f70172c04482c0000002ce5d80e488f70172b04482b00" +
	"b000001eb00e485fa0172a0448c02a000000fbe60e48ef101702290448290000000c17170e482fd0051fb00028044828" +
	"00005400216e3034bf401727044827b591e41d0d48332fd0050f4800260448c026000000d7090e482fd017ea25044825" +
	"e1648a0e482fd0059f900002240448240000009dc50b0e48ef1017230448230000002cb6190e482fd017220448220070" +
	"0000f3680e482fd0051f68002141044821000000e47e98330b2fd0054f8000200448200000005c59610e482fd0051f68" +
	"001f04481f6000000062910e485fa0171eb504481ed1d4a00e488f70171d0448401d000000b0940d48320b2fd0050fd8" +
	"001c04481c0000005c55fb0e482fd0055f10001b04481b5be1644e80322fd0054f80001a04481ae0000000eb8b0e482f" +
	"d0051ff8000219044819000000bc83170e482fd0051fb000180448180000b800910f0e482fd0050f9000170448c01700" +
	"00007ae20e482fd0170216044816000000c7470b0e488f7017150448150000002c08b40e485fa0171404481400680000" +
	"0d3ea8322fd0050f48001381044813000000e6d30d480a318f7017120448120000005ae3cea8312fd0050f9000110448" +
	"116000000094f10e48bf40171081044810000000c9d60e48052fd0170f04480f0000009256700e48ef10170e04480ed1" +
	"d4e0170e482fd0054f38000d04480d0000b80060480e482fd0051f68000c0448a00c000000c5fe78312fd017020b0448" +
	"0b0000007ee4170e482fd0050fd8000a04480a00005400dbce18315fa01709044809a00000006c040d4830ef10170208" +
	"0448080000000197170e482fd0050f48000704480700005800aa9b0e482fd01706044806e0000000b7490e482fd0051f" +
	"68000205044805000000b8b1170e482fd0052f400004044804000058007d120e48bf4017030448036d5164420e48ef10" +
	"170204480117d3167a0e488f70170104480100001800441c0e482fd007"

func TestPglzPostgresCompressedPage(t *testing.T) {
	src, err := hex.DecodeString(pgPageCompressed)
	if err != nil {
		t.Fatal(err)
	}
	want := heapPageLike()
	got := decodeOK(t, src, len(want))
	if !bytes.Equal(got, want) {
		t.Fatal("decoded page differs from heapPageLike()")
	}
	// Every proper prefix must be rejected, never silently accepted.
	for i := 0; i < len(src); i++ {
		if _, err := PglzDecompress(make([]byte, len(want)), src[:i]); !errors.Is(err, ErrPglzCorrupt) {
			t.Fatalf("prefix of %d bytes: err = %v", i, err)
		}
	}
}

func TestPglzMaxLengthMatch(t *testing.T) {
	// 'r' then tag(off 1,len 273): T3 = 255 is the largest length.
	src := []byte{0x02, 'r', 0x0f, 0x01, 0xff}
	got := decodeOK(t, src, 274)
	if !bytes.Equal(got, bytes.Repeat([]byte{'r'}, 274)) {
		t.Fatalf("got %q", got)
	}

	// Non-overlapping 273-byte copy from 300 bytes back.
	w := &pglzWriter{}
	var want []byte
	for i := 0; i < 300; i++ {
		b := byte(i*7 + i>>3)
		w.literal(b)
		want = append(want, b)
	}
	w.match(300, 273)
	want = append(want, want[:273]...)
	if got := decodeOK(t, w.out, len(want)); !bytes.Equal(got, want) {
		t.Fatal("273-byte non-overlapping match decoded wrongly")
	}
}

func TestPglzMaxOffset(t *testing.T) {
	// 4095 distinct-ish literals, then a tag reaching back exactly to byte 0.
	// T1 has offset nibble 0xf, so this also checks the high-bit decoding.
	rng := rand.New(rand.NewPCG(1, 2))
	w := &pglzWriter{}
	want := make([]byte, 0, 4095+273)
	for i := 0; i < 4095; i++ {
		b := byte(rng.Uint32())
		w.literal(b)
		want = append(want, b)
	}
	w.match(4095, 273)
	want = append(want, want[:273]...)
	tag := w.out[len(w.out)-3:]
	if !bytes.Equal(tag, []byte{0xff, 0xff, 0xff}) {
		t.Fatalf("tag = % x, want ff ff ff", tag)
	}
	if got := decodeOK(t, w.out, len(want)); !bytes.Equal(got, want) {
		t.Fatal("offset-4095 match decoded wrongly")
	}

	// Offset 0x123 exercises a middle high nibble.
	w = &pglzWriter{}
	want = want[:0]
	for i := 0; i < 0x123; i++ {
		w.literal(byte(i))
		want = append(want, byte(i))
	}
	w.match(0x123, 5)
	want = append(want, 0, 1, 2, 3, 4)
	if got := w.out[len(w.out)-2:]; !bytes.Equal(got, []byte{0x12, 0x23}) {
		t.Fatalf("tag = % x, want 12 23", got)
	}
	if got := decodeOK(t, w.out, len(want)); !bytes.Equal(got, want) {
		t.Fatal("offset-0x123 match decoded wrongly")
	}
}

func TestPglzOverlappingCopy(t *testing.T) {
	// For each period p, p literals then one long tag with offset p: the
	// output must repeat the first p bytes, as an RLE-style encoder expects.
	for p := 1; p <= 20; p++ {
		for _, n := range []int{3, p, p + 1, 2*p + 1, 100, 273} {
			if n < 3 {
				continue
			}
			w := &pglzWriter{}
			var want []byte
			for i := 0; i < p; i++ {
				w.literal(byte('A' + i))
				want = append(want, byte('A'+i))
			}
			w.match(p, n)
			for i := 0; i < n; i++ {
				want = append(want, want[i])
			}
			if got := decodeOK(t, w.out, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("period %d len %d: got %q want %q", p, n, got, want)
			}
		}
	}
}

func TestPglzCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		src     string // hex
		rawsize int
		want    string
	}{
		{"offset 0", "02" + "61" + "0000", 4, "match offset 0"},
		{"match before start of output", "01" + "0001", 3, "before start of output"},
		{"offset one past output start", "04" + "6162" + "0003", 5, "before start of output"},
		{"offset high nibble past start", "02" + "61" + "1001", 4, "before start of output"},
		{"truncated two-byte tag", "02" + "61" + "00", 4, "truncated match tag"},
		{"truncated three-byte tag", "02" + "61" + "0f01", 20, "truncated match length byte"},
		{"empty input, non-empty output", "", 1, "output incomplete"},
		{"control byte only", "00", 1, "output incomplete"},
		{"output incomplete", "00" + "616263", 4, "output incomplete: 3 of 4"},
		{"match short of rawsize", "02" + "61" + "0001", 5, "output incomplete: 4 of 5"},
		{"output overflow by literal", "00" + "616263", 2, "1 trailing input bytes"},
		{"output overflow, dst empty", "00" + "61", 0, "2 trailing input bytes"},
		{"trailing control byte", "00" + "6162" + "00", 2, "1 trailing input bytes"},
		{"overflowing match then more input", "02" + "61" + "0e01" + "62", 5, "1 trailing input bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := hex.DecodeString(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			decodeErr(t, src, tc.rawsize, tc.want)
		})
	}
}

// PostgreSQL clamps a final match that would overrun rawsize instead of
// failing; with check_complete the stream is still accepted because the
// output is full and the input is exhausted. Mirror that exactly.
func TestPglzFinalMatchClampedLikePostgres(t *testing.T) {
	src := []byte{0x02, 'a', 0x0e, 0x01} // 'a' then tag(off 1,len 17)
	got := decodeOK(t, src, 5)
	if string(got) != "aaaaa" {
		t.Fatalf("got %q", got)
	}
	if n := pglzDecompressRef(make([]byte, 5), src); n != 5 {
		t.Fatalf("reference decoder: %d", n)
	}
}

func TestPglzDoesNotWritePastRawsize(t *testing.T) {
	// dst is a window of a larger buffer; bytes after it must be untouched
	// even by a clamped match.
	buf := bytes.Repeat([]byte{0xee}, 16)
	src := []byte{0x02, 'a', 0x0f, 0x01, 0xff}
	if _, err := PglzDecompress(buf[:5], src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[5:], bytes.Repeat([]byte{0xee}, 11)) {
		t.Fatalf("wrote past dst: % x", buf)
	}
}

// roundTripInputs returns named inputs of up to 8192 bytes.
func roundTripInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(42, 7))
	in := map[string][]byte{
		"empty":     {},
		"one byte":  {0x5a},
		"two bytes": {1, 2},
		"zeros":     make([]byte, 8192),
		"heap page": heapPageLike(),
	}
	random := make([]byte, 8192)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	in["random 8192"] = random
	// Small alphabet: many short matches and long chains.
	small := make([]byte, 8192)
	for i := range small {
		small[i] = "ab"[rng.IntN(2)]
	}
	in["binary alphabet"] = small
	// Runs of random lengths, up to beyond the 273 match limit.
	var runs []byte
	for len(runs) < 8192 {
		runs = append(runs, bytes.Repeat([]byte{byte(rng.Uint32())}, 1+rng.IntN(600))...)
	}
	in["runs"] = runs[:8192]
	// A block repeated at distance exactly 4095 and 4096.
	for _, d := range []int{4094, 4095, 4096} {
		b := make([]byte, 8192)
		for i := 0; i < d; i++ {
			b[i] = byte(rng.Uint32())
		}
		for i := d; i < len(b); i++ {
			b[i] = b[i-d]
		}
		in["period "+strconv.Itoa(d)] = b
	}
	// Text-like data.
	in["text"] = []byte(strings.Repeat("the quick brown fox jumps over the lazy dog; ", 190)[:8192])
	return in
}

func TestPglzRoundTrip(t *testing.T) {
	for name, raw := range roundTripInputs() {
		for _, opts := range []pglzCompressOpts{{}, {maxOffset: 4094}, {maxChain: 1}} {
			comp := pglzCompressTest(raw, opts)
			got := decodeOK(t, comp, len(raw))
			if !bytes.Equal(got, raw) {
				t.Fatalf("%s %+v: round trip mismatch", name, opts)
			}
			ref := make([]byte, len(raw))
			if n := pglzDecompressRef(ref, comp); n != len(raw) || !bytes.Equal(ref, raw) {
				t.Fatalf("%s %+v: reference decoder n=%d", name, opts, n)
			}
		}
	}
}

func TestPglzRoundTripRandomSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 300; iter++ {
		size := rng.IntN(8193)
		raw := make([]byte, size)
		alpha := 1 + rng.IntN(256)
		for i := range raw {
			// Mix fresh bytes with copies from recent history.
			if i > 0 && rng.IntN(4) == 0 {
				raw[i] = raw[i-1-rng.IntN(min(i, 5000))]
			} else {
				raw[i] = byte(rng.IntN(alpha))
			}
		}
		comp := pglzCompressTest(raw, pglzCompressOpts{})
		if got := decodeOK(t, comp, size); !bytes.Equal(got, raw) {
			t.Fatalf("iter %d size %d: mismatch", iter, size)
		}
		// A too-small rawsize is rejected unless the stream ends in a match
		// that PostgreSQL would clamp; the reference decoder decides which.
		if size > 0 {
			_, err := PglzDecompress(make([]byte, size-1), comp)
			refOK := pglzDecompressRef(make([]byte, size-1), comp) >= 0
			if (err == nil) != refOK {
				t.Fatalf("iter %d: rawsize-1: err=%v, reference ok=%v", iter, err, refOK)
			}
		}
		if _, err := PglzDecompress(make([]byte, size+1), comp); !errors.Is(err, ErrPglzCorrupt) {
			t.Fatalf("iter %d: rawsize+1 accepted: %v", iter, err)
		}
	}
}

// Flip and truncate bytes of valid streams and compare with the naive
// reference decoder: same verdict, and same bytes on success.
func TestPglzDifferentialMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	type pair struct{ raw, comp []byte }
	var pairs []pair
	for _, raw := range roundTripInputs() {
		if len(raw) > 0 {
			pairs = append(pairs, pair{raw, pglzCompressTest(raw, pglzCompressOpts{})})
		}
	}
	for iter := 0; iter < 3000; iter++ {
		p := pairs[rng.IntN(len(pairs))]
		raw, comp := p.raw, p.comp
		mut := append([]byte(nil), comp...)
		for k := 1 + rng.IntN(4); k > 0; k-- {
			mut[rng.IntN(len(mut))] ^= byte(1 + rng.IntN(255))
		}
		if rng.IntN(4) == 0 {
			mut = mut[:rng.IntN(len(mut)+1)]
		}
		rawsize := len(raw)
		if rng.IntN(4) == 0 {
			rawsize = rng.IntN(len(raw) + 16)
		}
		got := make([]byte, rawsize)
		want := make([]byte, rawsize)
		n, err := PglzDecompress(got, mut)
		wn := pglzDecompressRef(want, mut)
		if (err == nil) != (wn >= 0) {
			t.Fatalf("iter %d: verdicts differ: err=%v ref=%d", iter, err, wn)
		}
		if err == nil && (n != rawsize || !bytes.Equal(got, want)) {
			t.Fatalf("iter %d: outputs differ", iter)
		}
	}
}

func TestPglzNoAllocs(t *testing.T) {
	raw := heapPageLike()
	comp := pglzCompressTest(raw, pglzCompressOpts{})
	dst := make([]byte, len(raw))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := PglzDecompress(dst, comp); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per decode, want 0", allocs)
	}
}

// BenchmarkPglzDecompress decodes 8 KiB page images. "heap-page" is the
// PostgreSQL-compressed heap page of repetitive tuples, the common case for
// full-page images; "zeros" is dominated by overlapping (RLE) matches.
func BenchmarkPglzDecompress(b *testing.B) {
	pg, err := hex.DecodeString(pgPageCompressed)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		src  []byte
	}{
		{"heap-page", pg},
		{"zeros", pglzCompressTest(make([]byte, 8192), pglzCompressOpts{})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			dst := make([]byte, 8192)
			b.SetBytes(int64(len(dst)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := PglzDecompress(dst, c.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
