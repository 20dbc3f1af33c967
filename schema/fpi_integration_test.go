package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestFPIRestoreMatchesPostgres uses PostgreSQL itself as the oracle for
// ImageRestorer: pages that the server WAL-logs with log_newpage and then
// writes straight to the relation file (bypassing shared buffers, never
// touched again) must restore from their WAL image to exactly the bytes on
// disk, except for what log_newpage and the write legitimately change
// afterwards:
//
//   - pd_lsn (bytes 0-7): log_newpage sets it to the record's end after the
//     image was taken. It is not just masked: it must equal the EndLSN of
//     the record that carried the last image of the block.
//   - pd_checksum (bytes 8-9): PageSetChecksumInplace runs after the image
//     is taken; masked only when the cluster has data checksums, otherwise
//     both must be zero.
//   - the hole [pd_lower, pd_upper) of the restored page: the image never
//     contains it (Restore zero-fills it).
//
// Two such writers exist in PostgreSQL 15:
//
//   - btree build (nbtsort.c, _bt_blwritepage): every index page, the
//     metapage included, as an XLOG/FPI record.
//   - heap rewrite (rewriteheap.c, raw_heap_insert/end_heap_rewrite) for
//     VACUUM FULL and CLUSTER: every page of the new heap, also XLOG/FPI.
//
// The heap oracle is exact because the table has autovacuum off (so no
// vacuum or analyze sets hint bits or PD_ALL_VISIBLE later), the rewritten
// tuples already carry XMIN_COMMITTED|XMAX_INVALID copied from the old ones
// (which VACUUM FULL's own visibility check hinted), and the new pages have
// no pd_prune_xid, so the CREATE INDEX scan that follows reads them without
// changing them. Nothing else reads the table.
func TestFPIRestoreMatchesPostgres(t *testing.T) {
	cases := []struct {
		name      string
		method    fpiMethod
		setting   string
		checksums bool
	}{
		{"off", fpiNone, "off", false},
		{"pglz", fpiPGLZ, "pglz", true},
		{"lz4", fpiLZ4, "lz4", false},
		{"zstd", fpiZSTD, "zstd", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := pgtest.Start(t, pgtest.Options{WALCompression: tc.setting, DataChecksums: tc.checksums})
			startText := c.CreatePhysicalSlot(t, "fpi")

			c.Exec(t, `CREATE TABLE fpi_t (id int4 NOT NULL, payload text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO fpi_t SELECT g, 'customer ' || lpad(g::text, 7, '0') || ' ' || substr(md5(g::text), 1, 8)
  FROM generate_series(1, 20000) g`)
			// Heap rewrite, then btree build: both log_newpage every page.
			c.Exec(t, `VACUUM FULL fpi_t`)
			c.Exec(t, `CREATE INDEX fpi_t_payload ON fpi_t (payload)`)

			rels := fpiRelations(t, c, "fpi_t", "fpi_t_payload")
			c.Checkpoint(t)
			endText := c.CurrentWALLSN(t)
			walDir := t.TempDir()
			c.CopyWAL(t, walDir)

			start, err := ParseLSN(startText)
			if err != nil {
				t.Fatal(err)
			}
			end, err := ParseLSN(endText)
			if err != nil {
				t.Fatal(err)
			}
			images, stats := fpiCollectImages(t, walDir, start, end, rels)
			t.Logf("wal_compression=%s checksums=%v: %d records %s..%s, %d images of the relations (%d with hole), bimg_info compression: %v",
				tc.setting, tc.checksums, stats.records, start, end, stats.images, stats.withHole, stats.byMethod)

			// Images must be compressed with the configured method, and
			// only with it.
			for m, n := range stats.byMethod {
				if m != tc.method && n > 0 {
					t.Errorf("%d images compressed with %s, setting is %s", n, m, tc.setting)
				}
			}
			if tc.method != fpiNone && stats.byMethod[tc.method]*2 < stats.images {
				t.Errorf("only %d of %d images compressed with %s", stats.byMethod[tc.method], stats.images, tc.method)
			}

			for _, r := range rels {
				n := fpiCompareRelation(t, c, r, images[r.node], tc.checksums)
				t.Logf("%s (%s, %s): %d pages byte-identical to the data directory after masking", r.name, r.node, r.path, n)
				if n <= 10 {
					t.Errorf("%s: only %d pages compared, want > 10", r.name, n)
				}
			}
		})
	}
}

// fpiRel is a relation whose main fork is checked.
type fpiRel struct {
	name string
	node RelFileNode
	path string // relative to the data directory
}

// fpiRelations looks up the storage of the named relations.
func fpiRelations(t *testing.T, c *pgtest.Cluster, names ...string) []fpiRel {
	t.Helper()
	var rels []fpiRel
	for _, name := range names {
		rows := c.Query(t, `SELECT c.relfilenode,
       CASE c.reltablespace WHEN 0 THEN d.dattablespace ELSE c.reltablespace END,
       d.oid, pg_relation_filepath(c.oid)
  FROM pg_class c, pg_database d
 WHERE c.relname = $1 AND d.datname = current_database()`, name)
		if len(rows) != 1 || len(rows[0]) != 4 {
			t.Fatalf("looking up %s: %v", name, rows)
		}
		var v [3]uint32
		for i := range v {
			n, err := strconv.ParseUint(rows[0][i], 10, 32)
			if err != nil {
				t.Fatalf("looking up %s: %v", name, err)
			}
			v[i] = uint32(n)
		}
		r := fpiRel{name: name, node: RelFileNode{SpcNode: v[1], DbNode: v[2], RelNode: v[0]}, path: rows[0][3]}
		if want := fmt.Sprintf("base/%d/%d", r.node.DbNode, r.node.RelNode); r.path != want {
			t.Fatalf("%s: pg_relation_filepath %q, want %q", name, r.path, want)
		}
		rels = append(rels, r)
	}
	return rels
}

// fpiImage is the last image of a block found in the WAL.
type fpiImage struct {
	page     []byte
	lsn, end LSN
	blk      DecodedBkpBlock // header fields only; Image is not kept
	kind     string          // record type, for messages
}

type fpiStats struct {
	records, images, withHole int
	byMethod                  map[fpiMethod]int
}

// fpiCollectImages reads [start, end) from dir and restores every image of
// the relations' main forks, keeping the last one per block.
func fpiCollectImages(t *testing.T, dir string, start, end LSN, rels []fpiRel) (map[RelFileNode]map[BlockNumber]*fpiImage, fpiStats) {
	t.Helper()
	ir := fpiRestorer(t)
	images := map[RelFileNode]map[BlockNumber]*fpiImage{}
	for _, r := range rels {
		images[r.node] = map[BlockNumber]*fpiImage{}
	}
	stats := fpiStats{byMethod: map[fpiMethod]int{}}
	rd, err := OpenWALDir(os.DirFS(dir), DirOptions{Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrEndOfWAL) {
				t.Fatalf("WAL ended before %s: %v", end, err)
			}
			t.Fatalf("after %d records: %v", stats.records, err)
		}
		stats.records++
		for i := range rec.Blocks {
			blk := &rec.Blocks[i]
			byBlock, ok := images[blk.Tag.Rel]
			if !ok || !blk.HasImage || blk.Tag.Fork != MainForkNum {
				continue
			}
			stats.images++
			if blk.BimgInfo&BkpImageHasHole != 0 {
				stats.withHole++
			}
			for _, m := range fpiMethods[1:] {
				if blk.BimgInfo&m.bit() != 0 {
					stats.byMethod[m]++
				}
			}
			page := make([]byte, BLCKSZ)
			if err := ir.Restore(page, rec, blk); err != nil {
				t.Fatalf("%s: %v", RecordTypeName(rec.Rmgr(), rec.Info()), err)
			}
			hdr := *blk
			hdr.Image, hdr.Data = nil, nil
			byBlock[blk.Tag.Block] = &fpiImage{page: page, lsn: rec.LSN, end: rec.EndLSN, blk: hdr, kind: RecordTypeName(rec.Rmgr(), rec.Info())}
		}
	}
	return images, stats
}

// fpiCompareRelation compares every block of r's main fork on disk with
// its last restored image and returns the number of blocks compared.
func fpiCompareRelation(t *testing.T, c *pgtest.Cluster, r fpiRel, images map[BlockNumber]*fpiImage, checksums bool) int {
	t.Helper()
	disk, err := os.ReadFile(filepath.Join(c.DataDir(), r.path))
	if err != nil {
		t.Fatal(err)
	}
	if len(disk)%BLCKSZ != 0 {
		t.Fatalf("%s: file of %d bytes is not whole pages", r.name, len(disk))
	}
	nblocks := len(disk) / BLCKSZ
	for blkno := range images {
		if int(blkno) >= nblocks {
			t.Errorf("%s: image of block %d, but the file has %d blocks", r.name, blkno, nblocks)
		}
	}
	kinds := map[string]int{}
	zeroHoles, compared := 0, 0
	le := binary.LittleEndian
	for b := 0; b < nblocks; b++ {
		want := disk[b*BLCKSZ : (b+1)*BLCKSZ]
		img := images[BlockNumber(b)]
		if img == nil {
			t.Errorf("%s: block %d has no image in the WAL", r.name, b)
			continue
		}
		kinds[img.kind]++
		got := img.page
		where := fmt.Sprintf("%s block %d (image at %s, %s, bimg_info %#x, hole %d+%d)",
			r.name, b, img.lsn, img.kind, img.blk.BimgInfo, img.blk.HoleOffset, img.blk.HoleLength)

		// pd_lsn (PageXLogRecPtr: xlogid, then xrecoff): log_newpage stamps
		// the record's end after taking the image.
		if lsn := LSN(le.Uint32(want[0:]))<<32 | LSN(le.Uint32(want[4:])); lsn != img.end {
			t.Errorf("%s: pd_lsn on disk %s, want the record's end %s", where, lsn, img.end)
		}
		// pd_checksum: set when the page is written.
		maskChecksum := checksums
		if !checksums && (le.Uint16(got[8:]) != 0 || le.Uint16(want[8:]) != 0) {
			t.Errorf("%s: pd_checksum %#04x restored, %#04x on disk, want 0 without checksums", where, le.Uint16(got[8:]), le.Uint16(want[8:]))
		}
		// The hole, from the restored page's own header.
		lower, upper := int(le.Uint16(got[12:])), int(le.Uint16(got[14:]))
		holeStart, holeEnd := 0, 0
		if lower >= 24 && upper > lower && upper <= BLCKSZ {
			holeStart, holeEnd = lower, upper
		}
		// A standard page's image leaves out exactly [pd_lower, pd_upper).
		if img.blk.HoleLength > 0 && (int(img.blk.HoleOffset) != holeStart || int(img.blk.HoleOffset)+int(img.blk.HoleLength) != holeEnd) {
			t.Errorf("%s: image hole is not [pd_lower %d, pd_upper %d)", where, lower, upper)
		}
		zero := true
		for i := holeStart; i < holeEnd; i++ {
			if got[i] != 0 {
				t.Fatalf("%s: restored hole byte %d is %#02x", where, i, got[i])
			}
			zero = zero && want[i] == 0
		}
		if zero {
			zeroHoles++
		}

		diffs, first := 0, -1
		for i := 8; i < BLCKSZ; i++ {
			if (maskChecksum && (i == 8 || i == 9)) || (i >= holeStart && i < holeEnd) {
				continue
			}
			if got[i] != want[i] {
				diffs++
				if first < 0 {
					first = i
				}
			}
		}
		if diffs > 0 {
			t.Errorf("%s: %d bytes differ from the data directory, first at %d: restored %#02x, on disk %#02x",
				where, diffs, first, got[first], want[first])
			continue
		}
		compared++
	}
	t.Logf("%s: %d blocks on disk; images from %v; %d with an all-zero hole on disk too", r.name, nblocks, kinds, zeroHoles)
	return compared
}
