package redo

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

const maxBlockNumber = schema.BlockNumber(0xFFFFFFFE) // MaxBlockNumber

func mustChecksum(t testing.TB, p schema.Page, blk schema.BlockNumber) uint16 {
	t.Helper()
	sum, err := PGChecksumPage(p, blk)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// knownPages are fixed pages whose checksums PostgreSQL 15's
// pageinspect.page_checksum computed (TestChecksumMatchesPageChecksum
// checks them against a live server too).
func knownPages() []struct {
	name string
	page schema.Page
	blk  schema.BlockNumber
	want uint16
} {
	empty := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(empty, 0)
	btree := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(btree, 16)
	btree.SetLSN(0x1_00ABCDEF)
	for i := 24; i < schema.BLCKSZ; i++ {
		btree[i] = byte(i * 7)
	}
	ones := make(schema.Page, schema.BLCKSZ)
	for i := range ones {
		ones[i] = 0xFF
	}
	return []struct {
		name string
		page schema.Page
		blk  schema.BlockNumber
		want uint16
	}{
		{"empty heap page, block 0", empty, 0, 25952},
		{"empty heap page, block 1", empty, 1, 25951},
		{"empty heap page, MaxBlockNumber", empty, maxBlockNumber, 39586},
		{"patterned btree page, block 12345", btree, 12345, 22127},
		{"all ones, block 7", ones, 7, 3619},
	}
}

func TestChecksumKnownValues(t *testing.T) {
	for _, k := range knownPages() {
		if got := mustChecksum(t, k.page, k.blk); got != k.want {
			t.Errorf("%s: checksum %d, want %d", k.name, got, k.want)
		}
	}
}

func TestChecksumProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	p := schema.Page(randBytes(rng, schema.BLCKSZ))
	orig := clonePage(p)
	sum := mustChecksum(t, p, 3)
	if string(p) != string(orig) {
		t.Fatal("PGChecksumPage modified the page")
	}
	if sum == 0 {
		t.Error("checksum 0 is impossible ((x % 65535) + 1)")
	}
	// pd_checksum itself does not count; pd_flags (the other half of the
	// same 32-bit word) does, as does every other byte.
	p.SetChecksum(p.Checksum() + 1)
	if mustChecksum(t, p, 3) != sum {
		t.Error("pd_checksum influenced the checksum")
	}
	for _, pos := range []int{0, 7, 10, 11, 12, 23, 24, 4095, 8191} {
		q := clonePage(p)
		q[pos] ^= 0x01
		if mustChecksum(t, q, 3) == sum {
			t.Errorf("flipping byte %d did not change the checksum", pos)
		}
	}
	if mustChecksum(t, p, 4) == sum {
		t.Error("block number not mixed in")
	}
	if _, err := PGChecksumPage(p[:100], 0); !errors.Is(err, schema.ErrCorruptPage) {
		t.Errorf("short buffer: %v", err)
	}
}

func TestPageSetChecksumInplaceAndVerify(t *testing.T) {
	p := threeItemPage(t, 0)
	if err := PageSetChecksumInplace(p, 42); err != nil {
		t.Fatal(err)
	}
	if p.Checksum() != mustChecksum(t, p, 42) || p.Checksum() == 0 {
		t.Fatalf("pd_checksum %d after PageSetChecksumInplace", p.Checksum())
	}
	if err := PageIsVerifiedExtended(p, 42, true); err != nil {
		t.Errorf("freshly checksummed page: %v", err)
	}
	err := PageIsVerifiedExtended(p, 43, true)
	if !errors.Is(err, schema.ErrCorruptPage) || !strings.Contains(err.Error(), "block 43") || !strings.Contains(err.Error(), "calculated checksum") {
		t.Errorf("wrong block: %v", err)
	}
	if err := PageIsVerifiedExtended(p, 43, false); err != nil {
		t.Errorf("checksums off must ignore pd_checksum: %v", err)
	}
	q := clonePage(p)
	q[8000] ^= 0x80
	if err := PageIsVerifiedExtended(q, 42, true); err == nil {
		t.Error("corrupted tuple byte passed")
	}
	q = clonePage(p)
	q.SetUpper(q.Special() + 8)
	if err := PageIsVerifiedExtended(q, 42, false); err == nil || !strings.Contains(err.Error(), "invalid page header") {
		t.Errorf("bad header: %v", err)
	}
	q = clonePage(p)
	q.SetFlags(0x10)
	if err := PageIsVerifiedExtended(q, 42, false); err == nil {
		t.Error("invalid pd_flags bit passed")
	}

	// New pages: never checksummed; all-zero ones always pass.
	z := make(schema.Page, schema.BLCKSZ)
	if err := PageSetChecksumInplace(z, 1); err != nil || z.Checksum() != 0 {
		t.Errorf("new page got checksum %d (%v)", z.Checksum(), err)
	}
	if err := PageIsVerifiedExtended(z, 1, true); err != nil {
		t.Errorf("zero page: %v", err)
	}
	z[5000] = 1
	if err := PageIsVerifiedExtended(z, 1, true); err == nil || !strings.Contains(err.Error(), "not all zeroes") {
		t.Errorf("new page with garbage: %v", err)
	}
	if err := PageSetChecksumInplace(make(schema.Page, 10), 0); err == nil {
		t.Error("short buffer accepted")
	}
}

// TestChecksumMatchesPageChecksum compares PGChecksumPage with PostgreSQL's
// own pg_checksum_page (pageinspect's page_checksum) on random pages and
// block numbers, and on knownPages.
func TestChecksumMatchesPageChecksum(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Exec(t, `CREATE EXTENSION pageinspect`)
	rng := rand.New(rand.NewPCG(2026, 15))
	type sample struct {
		page schema.Page
		blk  schema.BlockNumber
		name string
	}
	var samples []sample
	for _, k := range knownPages() {
		samples = append(samples, sample{k.page, k.blk, k.name})
	}
	for i := 0; i < 120; i++ {
		p := schema.Page(randBytes(rng, schema.BLCKSZ))
		if p.Upper() == 0 {
			p.SetUpper(1)
		}
		blk := schema.BlockNumber(rng.Uint32N(uint32(maxBlockNumber) + 1))
		switch i {
		case 0:
			blk = 0
		case 1:
			blk = maxBlockNumber
		}
		samples = append(samples, sample{p, blk, fmt.Sprintf("random %d", i)})
	}
	for start := 0; start < len(samples); start += 20 {
		batch := samples[start:min(start+20, len(samples))]
		var q strings.Builder
		q.WriteString("SELECT page_checksum(decode(v.p, 'hex'), v.b) FROM (VALUES ")
		for i, s := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "(%d, '%s', %d::int8)", i, hex.EncodeToString(s.page), s.blk)
		}
		q.WriteString(") AS v(i, p, b) ORDER BY v.i")
		rows := c.Query(t, q.String())
		if len(rows) != len(batch) {
			t.Fatalf("%d rows for %d pages", len(rows), len(batch))
		}
		for i, s := range batch {
			v, err := strconv.ParseInt(rows[i][0], 10, 16)
			if err != nil {
				t.Fatalf("%s: page_checksum returned %q", s.name, rows[i][0])
			}
			want := uint16(int16(v)) // int2 in SQL
			if got := mustChecksum(t, s.page, s.blk); got != want {
				t.Errorf("%s (block %d): PGChecksumPage %d, PostgreSQL %d", s.name, s.blk, got, want)
			}
		}
	}
}

// TestChecksumMatchesDisk reads every relation file of a cluster initialized
// with data checksums, after a clean shutdown, and checks that every
// initialized page of every fork carries the checksum PGChecksumPage
// computes for its block number, and that PageIsVerifiedExtended accepts it.
func TestChecksumMatchesDisk(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{DataChecksums: true})
	if got := c.Query(t, "SHOW data_checksums")[0][0]; got != "on" {
		t.Fatalf("data_checksums = %s", got)
	}
	c.Exec(t, `CREATE TABLE ck (id int4 PRIMARY KEY, payload text, n numeric) WITH (autovacuum_enabled = off);
		INSERT INTO ck SELECT g, md5(g::text) || repeat('p', g % 50), g * 1.5 FROM generate_series(1, 20000) g;
		CREATE INDEX ck_payload ON ck USING hash (payload);
		DELETE FROM ck WHERE id % 7 = 0;
		UPDATE ck SET n = n + 1 WHERE id % 11 = 0`)
	c.Exec(t, `VACUUM ck`) // makes the _fsm and _vm forks
	c.Checkpoint(t)
	rows := c.Query(t, `SELECT pg_relation_filepath(oid) FROM pg_class
		WHERE relpersistence = 'p' AND relkind IN ('r', 'i', 't', 'm', 'S') AND pg_relation_filepath(oid) IS NOT NULL`)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	forks := map[string]int{}
	verified := 0
	for _, r := range rows {
		base := filepath.Join(c.DataDir(), r[0])
		for _, fork := range []string{"", "_fsm", "_vm"} {
			for seg := 0; ; seg++ {
				path := base + fork
				if seg > 0 {
					path += "." + strconv.Itoa(seg)
				}
				data, err := os.ReadFile(path)
				if errors.Is(err, os.ErrNotExist) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(data)%schema.BLCKSZ != 0 {
					t.Fatalf("%s: %d bytes", path, len(data))
				}
				for i := 0; i < len(data)/schema.BLCKSZ; i++ {
					page := schema.Page(data[i*schema.BLCKSZ : (i+1)*schema.BLCKSZ])
					blk := schema.BlockNumber(seg*(1<<30/schema.BLCKSZ) + i)
					if page.IsNew() {
						continue
					}
					if got := mustChecksum(t, page, blk); got != page.Checksum() {
						t.Errorf("%s block %d: PGChecksumPage %d, on disk %d", path, blk, got, page.Checksum())
					}
					if err := PageIsVerifiedExtended(page, blk, true); err != nil {
						t.Errorf("%s block %d: %v", path, blk, err)
					}
					forks[fork]++
					verified++
				}
			}
		}
	}
	t.Logf("verified %d pages in %d relations: %v", verified, len(rows), forks)
	if forks[""] < 200 || forks["_fsm"] == 0 || forks["_vm"] == 0 {
		t.Errorf("too little coverage: %v", forks)
	}
}

func BenchmarkPGChecksumPage(b *testing.B) {
	p := make(schema.Page, schema.BLCKSZ)
	for i := range p {
		p[i] = byte(i * 31)
	}
	binary.LittleEndian.PutUint16(p[14:], 100)
	b.SetBytes(schema.BLCKSZ)
	var sink uint16
	for b.Loop() {
		sum, _ := PGChecksumPage(p, 17)
		sink ^= sum
	}
	_ = sink
}
