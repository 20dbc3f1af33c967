package schema

// DecodedBkpBlock is one block reference of a record (DecodedBkpBlock in
// access/xlogreader.h). Image and Data alias the record's raw bytes.
//
// The fields are ordered to leave no padding but the tail's: the reader
// carves millions of these.
type DecodedBkpBlock struct {
	Tag       BufferTag
	ID        uint8
	ForkFlags uint8 // fork number and BKPBLOCK_* flags as written

	// Image fields are valid when HasImage.
	HasImage   bool
	BimgInfo   uint8
	BimgLen    uint16
	HoleOffset uint16
	HoleLength uint16
	Image      []byte // bimg_len bytes: hole removed, maybe compressed

	Data []byte // block data, data_length bytes
}

// HasData reports BKPBLOCK_HAS_DATA.
func (b *DecodedBkpBlock) HasData() bool { return b.ForkFlags&BkpBlockHasData != 0 }

// WillInit reports BKPBLOCK_WILL_INIT: redo rebuilds the page from nothing.
func (b *DecodedBkpBlock) WillInit() bool { return b.ForkFlags&BkpBlockWillInit != 0 }

// ApplyImage reports whether redo restores the image (BKPIMAGE_APPLY); when
// false the image exists only for wal_consistency_checking.
func (b *DecodedBkpBlock) ApplyImage() bool {
	return b.HasImage && b.BimgInfo&BkpImageApply != 0
}

// Compressed reports whether the image is compressed (any method).
func (b *DecodedBkpBlock) Compressed() bool {
	return b.BimgInfo&(BkpImageCompressPGLZ|BkpImageCompressLZ4|BkpImageCompressZSTD) != 0
}

// CompressionMethod names the image's compression as pg_waldump does:
// "pglz", "lz4", "zstd", or "" when uncompressed.
func (b *DecodedBkpBlock) CompressionMethod() string {
	switch {
	case b.BimgInfo&BkpImageCompressPGLZ != 0:
		return "pglz"
	case b.BimgInfo&BkpImageCompressLZ4 != 0:
		return "lz4"
	case b.BimgInfo&BkpImageCompressZSTD != 0:
		return "zstd"
	}
	return ""
}

// DecodedRecord is one WAL record, validated and split into its parts
// (DecodedXLogRecord in access/xlogreader.h). Slices alias Raw.
type DecodedRecord struct {
	LSN    LSN // start of the record (ReadRecPtr)
	EndLSN LSN // end of the record (EndRecPtr): what redo writes into pd_lsn

	Header XLogRecord
	Raw    []byte // the whole record, xl_tot_len bytes, header included

	Blocks []DecodedBkpBlock // block references in increasing id order

	HasOrigin   bool
	Origin      uint16 // RepOriginId
	ToplevelXid uint32 // 0 when absent

	MainData []byte

	// xact is the record's transaction end parsed once, when the decoder
	// (RecordSlab) did; nil: parse it when asked. A commit record is
	// looked at by routing, the transaction index, the pg_xact pages and
	// their redo: four or five parses of it were 5% of the materializer's
	// CPU.
	xact *xactEnd
}

// Rmgr returns the record's resource manager.
func (r *DecodedRecord) Rmgr() RmgrID { return RmgrID(r.Header.Rmid) }

// Info returns xl_info.
func (r *DecodedRecord) Info() uint8 { return r.Header.Info }

// Xid returns xl_xid.
func (r *DecodedRecord) Xid() uint32 { return r.Header.Xid }

// Block returns the block reference with the given id, or nil.
func (r *DecodedRecord) Block(id uint8) *DecodedBkpBlock {
	for i := range r.Blocks {
		if r.Blocks[i].ID == id {
			return &r.Blocks[i]
		}
	}
	return nil
}

// FPILen returns the bytes of all block images in the record, as
// pg_waldump's XLogRecGetLen counts them.
func (r *DecodedRecord) FPILen() uint32 {
	var n uint32
	for i := range r.Blocks {
		if r.Blocks[i].HasImage {
			n += uint32(r.Blocks[i].BimgLen)
		}
	}
	return n
}
