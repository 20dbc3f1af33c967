package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/pagemill/pagemill/schema"
)

// TenantID is the 32-hex-digit tenant id pagemill gives a source
// (PostgreSQL cluster): the first 16 bytes of
// SHA-256("pagemill tenant " + decimal system identifier), in lower-case
// hex. A person can derive it with
//
//	printf 'pagemill tenant %s' SYSID | sha256sum | cut -c1-32
//
// It is stable across restarts and the same on every pagemill following
// the same cluster, which is what a compute configured with it needs.
func TenantID(sysid uint64) string {
	return hashID("pagemill tenant " + strconv.FormatUint(sysid, 10))
}

// TimelineID is the 32-hex-digit id of one timeline of a source: the first
// 16 bytes of SHA-256("pagemill timeline " + sysid + " " + timeline), both
// decimal:
//
//	printf 'pagemill timeline %s %s' SYSID TLI | sha256sum | cut -c1-32
//
// Hashing the system identifier in as well keeps the ids of timeline 1 of
// two clusters apart.
func TimelineID(sysid uint64, tli schema.TimeLineID) string {
	return hashID("pagemill timeline " + strconv.FormatUint(sysid, 10) + " " + strconv.FormatUint(uint64(tli), 10))
}

func hashID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
