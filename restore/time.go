package restore

import (
	"fmt"
	"strings"
	"time"
)

// ParseTime reads an instant with a zone, as restores by time take it:
// RFC 3339, or PostgreSQL's timestamptz output ("2026-12-06 14:03:00+00",
// "…+05:30", fractions allowed, or a trailing "UTC"). A time without a
// zone is refused: which instant it means would depend on where it is
// read.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutSuffix(s, " UTC"); ok {
		s = rest + "Z"
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07",
		"2006-01-02 15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999Z07", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time with a zone (like '2026-12-06 14:03:00+00' or 2026-12-06T14:03:00Z)", s)
}
