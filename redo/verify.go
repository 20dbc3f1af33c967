package redo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pagemill/pagemill/schema"
)

// MaxMismatchDetails is how many mismatches a VerifyReport keeps in detail.
const MaxMismatchDetails = 20

// VerifyStats are the counters of a VerifyReport, overall or per record
// type.
type VerifyStats struct {
	Records     int `json:"records"`     // records read
	Applied     int `json:"applied"`     // records the engine applied exactly
	Compared    int `json:"compared"`    // blocks compared with a consistency image
	Mismatches  int `json:"mismatches"`  // compared blocks that differ after masking
	Unsupported int `json:"unsupported"` // records the engine could not apply
}

// Mismatch is one block whose replayed page differs from the primary's
// consistency image.
type Mismatch struct {
	LSN    schema.LSN       `json:"-"`
	At     string           `json:"lsn"`
	Record string           `json:"record"`
	Tag    schema.BufferTag `json:"-"`
	Block  string           `json:"block"`
	Offset int              `json:"offset"` // first differing byte after masking
	Err    string           `json:"error,omitempty"`
}

// VerifyReport is the result of Verify. Its JSON form is
// {"records","applied","compared","mismatches","unsupported","by_type":{...}}
// plus the first mismatches in detail.
type VerifyReport struct {
	VerifyStats
	ByType          map[string]*VerifyStats `json:"by_type"`
	ByRmgr          map[string]*VerifyStats `json:"by_rmgr"` // the same, summed per resource manager
	FirstMismatches []Mismatch              `json:"first_mismatches,omitempty"`
	// Start and End are the first record's start and the last record's end.
	Start schema.LSN `json:"-"`
	End   schema.LSN `json:"-"`
}

// RecordReader yields decoded records; io.EOF ends the stream.
type RecordReader interface {
	Next() (*schema.DecodedRecord, error)
}

// Verify replays the records of reader into in-memory pages with the
// engine and, like PostgreSQL's verifyBackupPageConsistency after each
// record's redo, compares every block that carries a consistency image
// (ConsistencyCheckBlock: XLR_CHECK_CONSISTENCY set, image not applied)
// with the replayed page, both masked with the record's rm_mask
// (CompareMasked). As in PostgreSQL, a block is skipped when the page does
// not exist (here: never restored from an image, or unavailable since an
// unsupported record touched it) or when its LSN is beyond the record's
// end. A mask error counts as a mismatch. Verify stops at io.EOF (returns
// the report and nil) or at the first other error (returns the report so
// far and the error).
func Verify(ctx context.Context, reader RecordReader) (*VerifyReport, error) {
	eng, err := NewEngine()
	if err != nil {
		return nil, err
	}
	defer eng.Restorer.Close()
	return verifyWith(ctx, reader, eng.Restorer, eng.Apply)
}

// applyFunc is Engine.Apply; tests substitute a redo of their own to
// exercise the comparison.
type applyFunc func(rec *schema.DecodedRecord, pages Pages) (Result, error)

func verifyWith(ctx context.Context, reader RecordReader, ir *schema.ImageRestorer, apply applyFunc) (*VerifyReport, error) {
	rep, err := verifyRecords(ctx, reader, ir, apply)
	rep.sumByRmgr()
	return rep, err
}

func verifyRecords(ctx context.Context, reader RecordReader, ir *schema.ImageRestorer, apply applyFunc) (*VerifyReport, error) {
	pages := NewMemPages()
	rep := &VerifyReport{ByType: map[string]*VerifyStats{}}
	primary := make([]byte, schema.BLCKSZ)
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
		}
		rec, err := reader.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return rep, nil
			}
			return rep, err
		}
		if rep.Records == 0 {
			rep.Start = rec.LSN
		}
		rep.End = rec.EndLSN
		name := schema.RecordTypeName(rec.Rmgr(), rec.Info())
		st := rep.ByType[name]
		if st == nil {
			st = &VerifyStats{}
			rep.ByType[name] = st
		}
		rep.Records++
		st.Records++

		res, err := apply(rec, pages)
		switch _, unsupported := errors.AsType[*Unsupported](err); {
		case err == nil:
			rep.Applied++
			st.Applied++
		case unsupported:
			rep.Unsupported++
			st.Unsupported++
		default:
			return rep, fmt.Errorf("verify: %w", err)
		}
		if res.Truncate != nil {
			pages.Truncate(res.Truncate)
		}

		for i := range rec.Blocks {
			blk := &rec.Blocks[i]
			if !ConsistencyCheckBlock(rec, blk) {
				continue
			}
			replay, ok := pages.Get(blk.Tag)
			if !ok || replay.LSN() > rec.EndLSN {
				continue
			}
			if err := ir.Restore(primary, rec, blk); err != nil {
				return rep, fmt.Errorf("verify: %w", err)
			}
			rep.Compared++
			st.Compared++
			off, equal, merr := CompareMasked(rec.Rmgr(), blk.Tag.Block, primary, replay)
			if equal && merr == nil {
				continue
			}
			rep.Mismatches++
			st.Mismatches++
			if len(rep.FirstMismatches) < MaxMismatchDetails {
				m := Mismatch{LSN: rec.LSN, At: rec.LSN.String(), Record: name, Tag: blk.Tag, Block: blk.Tag.String(), Offset: off}
				if merr != nil {
					m.Err = merr.Error()
				}
				rep.FirstMismatches = append(rep.FirstMismatches, m)
			}
		}
	}
}

// sumByRmgr fills ByRmgr from ByType (a type's name starts with its
// resource manager's, up to the slash).
func (r *VerifyReport) sumByRmgr() {
	r.ByRmgr = map[string]*VerifyStats{}
	for name, st := range r.ByType {
		rm, _, _ := strings.Cut(name, "/")
		sum := r.ByRmgr[rm]
		if sum == nil {
			sum = &VerifyStats{}
			r.ByRmgr[rm] = sum
		}
		sum.Records += st.Records
		sum.Applied += st.Applied
		sum.Compared += st.Compared
		sum.Mismatches += st.Mismatches
		sum.Unsupported += st.Unsupported
	}
}
