package redo

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// FuzzGenericRedo applies arbitrary bytes as the deltas of a two-block
// generic record (split at cut) to pages with arbitrary pd_lower and
// pd_upper. Apply must never panic, and must either refuse the record
// (pages unavailable) or produce exactly what a naive applyPageRedo gives:
// fragments copied in order, the hole zeroed, the LSN set; a page that is
// new (pd_upper 0) is not found and made unavailable.
func FuzzGenericRedo(f *testing.F) {
	f.Add(append(genericFragment(12, 48, 0), genericFragment(7990, 1, 2, 3)...), uint16(40), uint16(8000), uint16(7), byte(0xAB))
	f.Add(genericFragment(14, 0x30, 0x1f), uint16(40), uint16(8000), uint16(0), byte(1))
	f.Add([]byte{0, 0, 0, 0}, uint16(8000), uint16(40), uint16(2), byte(2))
	f.Add(genericFragment(8190, 1, 2), uint16(24), uint16(8192), uint16(100), byte(3))
	f.Add([]byte{}, uint16(8000), uint16(0), uint16(0), byte(2)) // a new page
	e, err := NewEngine()
	if err != nil {
		f.Fatal(err)
	}
	defer e.Restorer.Close()
	f.Fuzz(func(t *testing.T, data []byte, lower, upper, cut uint16, fill byte) {
		split := min(int(cut), len(data))
		deltas := [][]byte{data[:split], data[split:]}

		pages := NewMemPages()
		rec := &schema.DecodedRecord{LSN: 0x4000, EndLSN: 0x5000, Header: schema.XLogRecord{Rmid: uint8(schema.RmgrGeneric)}}
		want := make([]schema.Page, 2)
		refuse := false
		for i, d := range deltas {
			p := make(schema.Page, schema.BLCKSZ)
			for j := range p {
				p[j] = fill + byte(j)
			}
			p.SetLower(lower)
			p.SetUpper(upper)
			p.SetLSN(0x100)
			pages.Put(testTag(schema.BlockNumber(i)), p)
			rec.Blocks = append(rec.Blocks, schema.DecodedBkpBlock{ID: uint8(i), Tag: testTag(schema.BlockNumber(i)), ForkFlags: schema.BkpBlockHasData, Data: d})

			// The naive model.
			w := schema.Page(bytes.Clone(p))
			for pos := 0; pos < len(d); {
				if pos+4 > len(d) {
					refuse = true
					break
				}
				off, n := int(binary.LittleEndian.Uint16(d[pos:])), int(binary.LittleEndian.Uint16(d[pos+2:]))
				if pos+4+n > len(d) || off+n > schema.BLCKSZ {
					refuse = true
					break
				}
				copy(w[off:], d[pos+4:pos+4+n])
				pos += 4 + n
			}
			if upper == 0 {
				continue // PageIsNew: BLK_NOTFOUND, the page made unavailable
			}
			lo, up := int(w.Lower()), int(w.Upper())
			if lo > up || up > schema.BLCKSZ {
				refuse = true
			} else {
				clear(w[lo:up])
			}
			w.SetLSN(rec.EndLSN)
			want[i] = w
		}

		_, err := e.Apply(rec, pages)
		if refuse {
			if err == nil {
				t.Fatal("applied a record the model refuses")
			}
			return
		}
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		for i := range want {
			got, ok := pages.Get(testTag(schema.BlockNumber(i)))
			if want[i] == nil {
				if ok {
					t.Fatalf("new page %d still available", i)
				}
				continue
			}
			if !ok {
				t.Fatalf("block %d unavailable", i)
			}
			if !bytes.Equal(got, want[i]) {
				off, _ := ComparePages(got, want[i])
				t.Fatalf("block %d differs at %d", i, off)
			}
		}
	})
}
