package schema

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ImageRestorer rebuilds 8 KiB pages from block images
// (RestoreBlockImage in access/transam/xlogreader.c). It holds a zstd
// decoder, so create one per goroutine or share it: DecodeAll is safe for
// concurrent use.
type ImageRestorer struct {
	zstd *zstd.Decoder
}

// NewImageRestorer returns a restorer ready for pglz, lz4 and zstd images.
func NewImageRestorer() (*ImageRestorer, error) {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<20))
	if err != nil {
		return nil, fmt.Errorf("create zstd decoder: %w", err)
	}
	return &ImageRestorer{zstd: d}, nil
}

// Close releases the decoder.
func (ir *ImageRestorer) Close() { ir.zstd.Close() }

// Restore writes the page of blk's image into page (len BLCKSZ). rec is
// only used to name the record in errors.
func (ir *ImageRestorer) Restore(page []byte, rec *DecodedRecord, blk *DecodedBkpBlock) error {
	fail := func(cause error, format string, args ...any) error {
		at := LSN(0)
		if rec != nil {
			at = rec.LSN
		}
		reason := fmt.Sprintf("restore image of block %d (%s): ", blk.ID, blk.Tag) + fmt.Sprintf(format, args...)
		return &DecodeError{LSN: at, Reason: reason, Err: cause}
	}
	if len(page) != BLCKSZ {
		return fail(nil, "page buffer is %d bytes, want %d", len(page), BLCKSZ)
	}
	if !blk.HasImage {
		return fail(nil, "no image")
	}
	rawLen := BLCKSZ - int(blk.HoleLength)
	if int(blk.HoleOffset) > rawLen {
		return fail(nil, "hole offset %d beyond image of %d bytes", blk.HoleOffset, rawLen)
	}
	src := blk.Image
	if blk.BimgInfo&(BkpImageCompressPGLZ|BkpImageCompressLZ4|BkpImageCompressZSTD) == 0 {
		// Uncompressed: the two parts go straight to their places.
		if len(src) != rawLen {
			return fail(nil, "image of %d bytes, want %d", len(src), rawLen)
		}
		hole := int(blk.HoleOffset)
		copy(page[:hole], src[:hole])
		clear(page[hole : hole+int(blk.HoleLength)])
		copy(page[hole+int(blk.HoleLength):], src[hole:])
		return nil
	}
	// Decompress straight into the page's tail so the hole fix-up below is
	// the only extra copy.
	tmp := page[BLCKSZ-rawLen:]
	switch {
	case blk.BimgInfo&BkpImageCompressPGLZ != 0:
		if _, err := PglzDecompress(tmp, src); err != nil {
			return fail(err, "could not decompress pglz image")
		}
	case blk.BimgInfo&BkpImageCompressLZ4 != 0:
		n, err := lz4.UncompressBlock(src, tmp)
		if err != nil {
			return fail(err, "could not decompress lz4 image")
		}
		if n != rawLen {
			return fail(nil, "lz4 image decompressed to %d bytes, want %d", n, rawLen)
		}
	case blk.BimgInfo&BkpImageCompressZSTD != 0:
		out, err := ir.zstd.DecodeAll(src, tmp[:0:rawLen])
		if err != nil {
			return fail(err, "could not decompress zstd image")
		}
		if len(out) != rawLen || rawLen == 0 {
			return fail(nil, "zstd image decompressed to %d bytes, want %d", len(out), rawLen)
		}
		if &out[0] != &tmp[0] {
			copy(tmp, out)
		}
	default:
		if len(src) != rawLen {
			return fail(nil, "image of %d bytes, want %d", len(src), rawLen)
		}
		copy(tmp, src)
	}
	if blk.HoleLength > 0 {
		// Move the part before the hole to the front, then zero the hole.
		copy(page[:blk.HoleOffset], tmp[:blk.HoleOffset])
		clear(page[blk.HoleOffset : int(blk.HoleOffset)+int(blk.HoleLength)])
	}
	return nil
}
