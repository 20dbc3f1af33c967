package redo

import (
	"encoding/binary"
	"fmt"

	"github.com/pagemill/pagemill/schema"
)

// Page checksums of storage/checksum_impl.h: 32 parallel FNV-1a-like sums
// over the page seen as 64 rows of 32 little-endian uint32s, with
// pd_checksum counted as zero.

const (
	checksumNSums    = 32       // N_SUMS
	checksumFNVPrime = 16777619 // FNV_PRIME
	checksumRows     = schema.BLCKSZ / (4 * checksumNSums)
)

// checksumBaseOffsets mirrors checksumBaseOffsets.
var checksumBaseOffsets = [checksumNSums]uint32{
	0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A,
	0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
	0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA,
	0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
	0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE,
	0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
	0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E,
	0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
}

// pgChecksumBlock mirrors pg_checksum_block, reading pd_checksum (bytes 8
// and 9) as zero.
func pgChecksumBlock(page *[schema.BLCKSZ]byte) uint32 {
	sums := checksumBaseOffsets
	for i := 0; i < checksumRows; i++ {
		row := (*[4 * checksumNSums]byte)(page[i*4*checksumNSums:])
		for j := 0; j < checksumNSums; j++ {
			v := binary.LittleEndian.Uint32(row[4*j:])
			if i == 0 && j == 2 {
				v &^= 0xFFFF // pd_checksum is the low half of word 2
			}
			tmp := sums[j] ^ v
			sums[j] = tmp*checksumFNVPrime ^ tmp>>17
		}
	}
	for i := 0; i < 2; i++ {
		for j := range sums {
			tmp := sums[j]
			sums[j] = tmp*checksumFNVPrime ^ tmp>>17
		}
	}
	var result uint32
	for _, s := range sums {
		result ^= s
	}
	return result
}

// PGChecksumPage mirrors pg_checksum_page: the checksum of page as block
// blkno of its fork. The page is not modified. PostgreSQL only checksums
// initialized pages (see PageSetChecksumInplace) but the value is defined
// for any page; only a buffer that is not BLCKSZ bytes is an error.
func PGChecksumPage(page schema.Page, blkno schema.BlockNumber) (uint16, error) {
	if err := checkSize("pg_checksum_page", page); err != nil {
		return 0, err
	}
	checksum := pgChecksumBlock((*[schema.BLCKSZ]byte)(page)) ^ uint32(blkno)
	return uint16(checksum%65535 + 1), nil
}

// PageSetChecksumInplace mirrors PageSetChecksumInplace for a cluster with
// data checksums: it stores the checksum of page as block blkno in
// pd_checksum, except on a new (pd_upper 0) page, which is left as is.
// Callers of a cluster without data checksums should not call it.
func PageSetChecksumInplace(page schema.Page, blkno schema.BlockNumber) error {
	if err := checkSize("PageSetChecksumInplace", page); err != nil {
		return err
	}
	if page.IsNew() {
		return nil
	}
	sum, _ := PGChecksumPage(page, blkno)
	page.SetChecksum(sum)
	return nil
}

// PageIsVerifiedExtended mirrors PageIsVerifiedExtended's decision, for a
// cluster with (dataChecksums true) or without data checksums: nil for an
// all-zero page or for a page whose header looks sane and, when checksums
// are on, whose pd_checksum is right; otherwise a *schema.PageError saying
// why. It does not honour ignore_checksum_failure.
func PageIsVerifiedExtended(page schema.Page, blkno schema.BlockNumber, dataChecksums bool) error {
	const op = "PageIsVerifiedExtended"
	if err := checkSize(op, page); err != nil {
		return err
	}
	var problem string
	if !page.IsNew() {
		if dataChecksums {
			if sum, _ := PGChecksumPage(page, blkno); sum != page.Checksum() {
				problem = fmt.Sprintf("page verification failed, calculated checksum %d but expected %d", sum, page.Checksum())
			}
		}
		lower, upper, special := page.Lower(), page.Upper(), page.Special()
		saneHeader := page.Flags()&^schema.PDValidFlagBits == 0 && lower <= upper && upper <= special &&
			special <= schema.BLCKSZ && int(special) == maxAlign(int(special))
		if !saneHeader && problem == "" {
			problem = fmt.Sprintf("invalid page header: flags 0x%04x, lower = %d, upper = %d, special = %d", page.Flags(), lower, upper, special)
		}
		if problem == "" {
			return nil
		}
	}
	for _, b := range page {
		if b != 0 {
			if problem == "" {
				problem = "new page (pd_upper 0) is not all zeroes"
			}
			return pageErr(op, 0, "block %d: %s", blkno, problem)
		}
	}
	return nil
}
