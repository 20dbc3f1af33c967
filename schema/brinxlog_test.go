package schema

import (
	"encoding/binary"
	"strings"
	"testing"
)

// brinBytes lays out little-endian fields: uint16 and uint32 values as
// themselves, ints as that many zero padding bytes.
func brinBytes(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case int:
			b = append(b, make([]byte, v)...)
		}
	}
	return b
}

func TestDecodeXlBrin(t *testing.T) {
	createidx := brinBytes(uint32(128), uint16(1))
	insert := brinBytes(uint32(70000), uint32(4), uint16(9))
	update := brinBytes(uint16(3), 2, uint32(70000), uint32(4), uint16(9))
	samepage := brinBytes(uint16(12))
	extend := brinBytes(uint32(2))
	desum := brinBytes(uint32(4), uint32(70000), uint16(5))

	if got, err := DecodeXlBrinCreateidx(createidx); err != nil || got != (XlBrinCreateidx{PagesPerRange: 128, Version: 1}) {
		t.Errorf("createidx %+v %v", got, err)
	}
	wantIns := XlBrinInsert{HeapBlk: 70000, PagesPerRange: 4, Offnum: 9}
	if got, err := DecodeXlBrinInsert(insert); err != nil || got != wantIns {
		t.Errorf("insert %+v %v", got, err)
	}
	if got, err := DecodeXlBrinUpdate(update); err != nil || got != (XlBrinUpdate{OldOffnum: 3, Insert: wantIns}) {
		t.Errorf("update %+v %v", got, err)
	}
	if got, err := DecodeXlBrinSamepageUpdate(samepage); err != nil || got.Offnum != 12 {
		t.Errorf("samepage %+v %v", got, err)
	}
	if got, err := DecodeXlBrinRevmapExtend(extend); err != nil || got.TargetBlk != 2 {
		t.Errorf("revmap extend %+v %v", got, err)
	}
	if got, err := DecodeXlBrinDesummarize(desum); err != nil || got != (XlBrinDesummarize{PagesPerRange: 4, HeapBlk: 70000, RegOffset: 5}) {
		t.Errorf("desummarize %+v %v", got, err)
	}
	// sizeof(struct) bytes (trailing padding included) decode the same.
	if got, err := DecodeXlBrinInsert(append(insert, 0xEE, 0xEE)); err != nil || got != wantIns {
		t.Errorf("insert with padding %+v %v", got, err)
	}

	// One byte short: an error naming the struct.
	short := []struct {
		name   string
		decode func([]byte) error
		full   []byte
	}{
		{"xl_brin_createidx", func(b []byte) error { _, err := DecodeXlBrinCreateidx(b); return err }, createidx},
		{"xl_brin_insert", func(b []byte) error { _, err := DecodeXlBrinInsert(b); return err }, insert},
		{"xl_brin_update", func(b []byte) error { _, err := DecodeXlBrinUpdate(b); return err }, update},
		{"xl_brin_samepage_update", func(b []byte) error { _, err := DecodeXlBrinSamepageUpdate(b); return err }, samepage},
		{"xl_brin_revmap_extend", func(b []byte) error { _, err := DecodeXlBrinRevmapExtend(b); return err }, extend},
		{"xl_brin_desummarize", func(b []byte) error { _, err := DecodeXlBrinDesummarize(b); return err }, desum},
	}
	for _, s := range short {
		err := s.decode(s.full[:len(s.full)-1])
		if err == nil || !strings.HasPrefix(err.Error(), s.name+": ") {
			t.Errorf("%s one byte short: %v", s.name, err)
		}
		if err := s.decode(nil); err == nil {
			t.Errorf("%s empty: no error", s.name)
		}
	}
}
