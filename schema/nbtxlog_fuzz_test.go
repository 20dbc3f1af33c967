package schema

import "testing"

// FuzzDecodeXlBtree decodes arbitrary bytes as every Btree record layout
// (main data and block data) and describes them as each opcode: nothing
// may panic, each fixed struct must accept exactly the inputs at least as
// long as PostgreSQL writes and read its fields at their nbtxlog.h
// offsets, and the variable-length decoders must account for the bytes
// they were given.
func FuzzDecodeXlBtree(f *testing.F) {
	f.Add(uint8(0x30), uint16(0x0102), []byte{1, 0, 0, 0, 184, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0})
	f.Add(uint8(0x70), uint16(0x0102), []byte{3, 0, 5, 0, 4, 0, 6, 0, 2, 0, 0, 0, 1, 0, 1, 0, 3, 0})
	f.Add(uint8(0xE0), uint16(0), []byte{4, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0})
	f.Add(uint8(0x50), uint16(1), []byte{2, 0, 0, 0, 0, 0, 0, 0, 8, 0})
	f.Fuzz(func(t *testing.T, info uint8, n uint16, in []byte) {
		b := xlFuzzBytes(in)
		md, err := DecodeXlBtreeMetadata(in)
		xlFuzzCheck(t, "metadata", len(in), err, SizeOfBtreeMetadata, func() bool {
			return md.Version == b.u32(0) && uint32(md.Root) == b.u32(4) && md.Level == b.u32(8) && uint32(md.Fastroot) == b.u32(12) &&
				md.Fastlevel == b.u32(16) && md.LastCleanupNumDelpages == b.u32(20) && md.Allequalimage == (b[24] != 0)
		})
		ins, err := DecodeXlBtreeInsert(in)
		xlFuzzCheck(t, "insert", len(in), err, SizeOfBtreeInsert, func() bool { return uint16(ins.Offnum) == b.u16(0) })
		sp, err := DecodeXlBtreeSplit(in)
		xlFuzzCheck(t, "split", len(in), err, SizeOfBtreeSplit, func() bool {
			return sp.Level == b.u32(0) && uint16(sp.Firstrightoff) == b.u16(4) && uint16(sp.Newitemoff) == b.u16(6) && sp.Postingoff == b.u16(8)
		})
		dd, err := DecodeXlBtreeDedup(in)
		xlFuzzCheck(t, "dedup", len(in), err, SizeOfBtreeDedup, func() bool { return dd.Nintervals == b.u16(0) })
		ru, err := DecodeXlBtreeReusePage(in)
		xlFuzzCheck(t, "reuse page", len(in), err, SizeOfBtreeReusePage, func() bool {
			return ru.Node == (RelFileNode{b.u32(0), b.u32(4), b.u32(8)}) && uint32(ru.Block) == b.u32(12) && ru.LatestRemovedFullXid == b.u64(16)
		})
		vac, err := DecodeXlBtreeVacuum(in)
		xlFuzzCheck(t, "vacuum", len(in), err, SizeOfBtreeVacuum, func() bool { return vac.Ndeleted == b.u16(0) && vac.Nupdated == b.u16(2) })
		del, err := DecodeXlBtreeDelete(in)
		xlFuzzCheck(t, "delete", len(in), err, SizeOfBtreeDelete, func() bool {
			return del.LatestRemovedXid == b.u32(0) && del.Ndeleted == b.u16(4) && del.Nupdated == b.u16(6)
		})
		hd, err := DecodeXlBtreeMarkPageHalfdead(in)
		xlFuzzCheck(t, "halfdead", len(in), err, SizeOfBtreeMarkPageHalfDead, func() bool {
			return uint16(hd.Poffset) == b.u16(0) && uint32(hd.Leafblk) == b.u32(4) && uint32(hd.Leftblk) == b.u32(8) &&
				uint32(hd.Rightblk) == b.u32(12) && uint32(hd.Topparent) == b.u32(16)
		})
		ul, err := DecodeXlBtreeUnlinkPage(in)
		xlFuzzCheck(t, "unlink", len(in), err, SizeOfBtreeUnlinkPage, func() bool {
			return uint32(ul.Leftsib) == b.u32(0) && uint32(ul.Rightsib) == b.u32(4) && ul.Level == b.u32(8) && ul.Safexid == b.u64(16) &&
				uint32(ul.Leafleftsib) == b.u32(24) && uint32(ul.Leafrightsib) == b.u32(28) && uint32(ul.Leaftopparent) == b.u32(32)
		})
		nr, err := DecodeXlBtreeNewroot(in)
		xlFuzzCheck(t, "newroot", len(in), err, SizeOfBtreeNewroot, func() bool { return uint32(nr.Rootblk) == b.u32(0) && nr.Level == b.u32(4) })

		// Block data.
		if d, err := DecodeBtreeInsertPostData(in); err == nil && (d.Postingoff != b.u16(0) || len(d.Newitem) != len(in)-2 ||
			len(d.Newitem) != btIndexTupleSize(d.Newitem)) {
			t.Fatalf("insert post data: %+v from %d bytes", d, len(in))
		}
		if d, err := DecodeBtreeSplitLeftData(info&1 != 0, in); err == nil {
			if len(d.Newitem)+len(d.LeftHikey) != len(in) || (info&1 != 0) != (d.Newitem != nil) ||
				len(d.LeftHikey) != btMaxAlign(btIndexTupleSize(d.LeftHikey)) {
				t.Fatalf("split left data: %d + %d of %d bytes", len(d.Newitem), len(d.LeftHikey), len(in))
			}
		}
		if items, err := DecodeBtreeTuples(in); err == nil {
			used := 0
			for _, it := range items {
				if len(it) != btMaxAlign(btIndexTupleSize(it)) || len(it) == 0 {
					t.Fatalf("restore item of %d bytes", len(it))
				}
				used += len(it)
			}
			if used != len(in) {
				t.Fatalf("restore items: %d of %d bytes", used, len(in))
			}
		}
		if iv, err := DecodeBTDedupIntervals(XlBtreeDedup{Nintervals: n}, in); (err == nil) != (len(in) >= 4*int(n)) ||
			(err == nil && iv.Len() != int(n)) {
			t.Fatalf("dedup intervals: %d for %d from %d bytes, err %v", iv.Len(), n, len(in), err)
		}
		nd, nu := n&0xFF, n>>8
		if deleted, updates, err := DecodeBtreeDeletion(in, nd, nu); err == nil {
			used := 2 * (len(deleted) + len(updates))
			for _, u := range updates {
				if len(u.Deletetids) != int(u.Ndeletedtids) {
					t.Fatalf("deletion update: %d tids, ndeletedtids %d", len(u.Deletetids), u.Ndeletedtids)
				}
				used += SizeOfBtreeUpdate + 2*len(u.Deletetids)
			}
			if len(deleted) != int(nd) || len(updates) != int(nu) || used > len(in) {
				t.Fatalf("deletion: %d, %d from %d bytes", len(deleted), len(updates), len(in))
			}
		}

		rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(RmgrBtree), Info: info}, MainData: in,
			Blocks: []DecodedBkpBlock{{ID: 0, Data: in}}}
		_ = PagesChanged(nil, rec)
		_ = Describe(rec)
	})
}
