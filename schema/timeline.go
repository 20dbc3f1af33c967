package schema

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TimeLineHistoryEntry is one timeline of a history (TimeLineHistoryEntry
// in access/timeline.h): WAL of TLI is part of the history for LSNs in
// [Begin, End); End 0 means the timeline has not ended.
type TimeLineHistoryEntry struct {
	TLI   TimeLineID
	Begin LSN
	End   LSN
}

// TimeLineHistory is what a timeline is made of, oldest first: its
// ancestors, each up to the switch point where the next began, then the
// timeline itself (End 0). It is PostgreSQL's model (a history file) and
// also a branch's: a branch at an LSN is a child timeline whose parent
// ends there.
type TimeLineHistory []TimeLineHistoryEntry

// SingleTimeLine is the history of a timeline with no known ancestors.
func SingleTimeLine(tli TimeLineID) TimeLineHistory {
	return TimeLineHistory{{TLI: tli}}
}

// Current is the timeline the history leads to (its last entry).
func (h TimeLineHistory) Current() TimeLineID {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].TLI
}

// TLIOf is the timeline that wrote the WAL at lsn, a record's start
// (tliOfPointInHistory): a switch point belongs to the new timeline.
func (h TimeLineHistory) TLIOf(lsn LSN) TimeLineID {
	for _, e := range h {
		if lsn >= e.Begin && (e.End == 0 || lsn < e.End) {
			return e.TLI
		}
	}
	return h.Current()
}

// SwitchPoint is where tli ends in the history (tliSwitchPoint), 0 when
// it has not ended; ok is false when tli is not part of the history.
func (h TimeLineHistory) SwitchPoint(tli TimeLineID) (LSN, bool) {
	for _, e := range h {
		if e.TLI == tli {
			return e.End, true
		}
	}
	return 0, false
}

// OwnsEnd reports whether something tli wrote that ends at end (a
// record's end LSN, which versions and sizes are keyed by) is part of the
// history: the record ending at a switch point is the old timeline's
// last.
func (h TimeLineHistory) OwnsEnd(tli TimeLineID, end LSN) bool {
	for _, e := range h {
		if e.TLI == tli {
			return e.ownsEnd(end)
		}
	}
	return false
}

// ownsEnd: end lies in (Begin, End], or from the start of WAL for a
// timeline that begins at 0, and without bound for an open one.
func (e TimeLineHistoryEntry) ownsEnd(end LSN) bool {
	return (end > e.Begin || e.Begin == 0) && (e.End == 0 || end <= e.End)
}

// OwnerOfEnd is the timeline that owns what ends at end (see OwnsEnd),
// the current one past the history's last switch point.
func (h TimeLineHistory) OwnerOfEnd(end LSN) TimeLineID {
	for _, e := range h {
		if e.ownsEnd(end) {
			return e.TLI
		}
	}
	return h.Current()
}

// Upto is the history of tli, one of h's timelines: h up to it, with tli
// open (nil if tli is not in h).
func (h TimeLineHistory) Upto(tli TimeLineID) TimeLineHistory {
	for i, e := range h {
		if e.TLI == tli {
			out := append(TimeLineHistory(nil), h[:i+1]...)
			out[i].End = 0
			return out
		}
	}
	return nil
}

// Follows reports whether h continues o: every timeline of o is in h
// with the same beginning, and o's last one ends where h says it does
// (or, the same timeline, goes on).
func (h TimeLineHistory) Follows(o TimeLineHistory) bool {
	if len(o) > len(h) {
		return false
	}
	for i, e := range o {
		if h[i].TLI != e.TLI || h[i].Begin != e.Begin {
			return false
		}
		if i < len(o)-1 && h[i].End != e.End {
			return false
		}
	}
	return true
}

// String is the history in one line: 1@0/0-0/5000A38 2@0/5000A38-.
func (h TimeLineHistory) String() string {
	var b strings.Builder
	for i, e := range h {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d@%s-", e.TLI, e.Begin)
		if e.End != 0 {
			b.WriteString(e.End.String())
		}
	}
	return b.String()
}

// ParseTimeLineHistory reads the history file of timeline tli, as
// TIMELINE_HISTORY returns it and pg_wal/<tli>.history holds it
// (readTimeLineHistory): a line "parentTLI<tab>switchpoint<tab>reason"
// per ancestor, oldest first; comments and blank lines are skipped. The
// result ends with tli itself.
func ParseTimeLineHistory(tli TimeLineID, content []byte) (TimeLineHistory, error) {
	var h TimeLineHistory
	var prevEnd LSN
	sc := bufio.NewScanner(strings.NewReader(string(content)))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		f := strings.Fields(s)
		if len(f) < 2 {
			return nil, fmt.Errorf("history of timeline %d, line %d: %q: want parent TLI and switch point", tli, line, s)
		}
		parent, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil || parent == 0 {
			return nil, fmt.Errorf("history of timeline %d, line %d: bad timeline %q", tli, line, f[0])
		}
		sp, err := ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("history of timeline %d, line %d: %w", tli, line, err)
		}
		if len(h) > 0 && TimeLineID(parent) <= h[len(h)-1].TLI {
			return nil, fmt.Errorf("history of timeline %d, line %d: timeline %d after %d: timeline IDs must increase", tli, line, parent, h[len(h)-1].TLI)
		}
		if sp < prevEnd {
			return nil, fmt.Errorf("history of timeline %d, line %d: switch point %s before %s", tli, line, sp, prevEnd)
		}
		h = append(h, TimeLineHistoryEntry{TLI: TimeLineID(parent), Begin: prevEnd, End: sp})
		prevEnd = sp
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history of timeline %d: %w", tli, err)
	}
	if len(h) > 0 && tli <= h[len(h)-1].TLI {
		return nil, fmt.Errorf("history of timeline %d: its parent %d is not older", tli, h[len(h)-1].TLI)
	}
	return append(h, TimeLineHistoryEntry{TLI: tli, Begin: prevEnd}), nil
}

// HistoryFile is the content of the history file of h's current timeline
// (writeTimeLineHistory's format), for pg_wal/<TLI>.history.
func (h TimeLineHistory) HistoryFile() []byte {
	var b strings.Builder
	for _, e := range h[:max(0, len(h)-1)] {
		fmt.Fprintf(&b, "%d\t%s\tfollowed by pagemill\n", e.TLI, e.End)
	}
	return []byte(b.String())
}

// TLHistoryFileName is the history file's name (TLHistoryFileName):
// 00000002.history.
func TLHistoryFileName(tli TimeLineID) string { return fmt.Sprintf("%08X.history", uint32(tli)) }

// MarshalBinary encodes the history: per entry TLI (4 bytes), Begin and
// End (8 each), big-endian.
func (h TimeLineHistory) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, 20*len(h))
	for _, e := range h {
		out = binary.BigEndian.AppendUint32(out, uint32(e.TLI))
		out = binary.BigEndian.AppendUint64(out, uint64(e.Begin))
		out = binary.BigEndian.AppendUint64(out, uint64(e.End))
	}
	return out, nil
}

// UnmarshalTimeLineHistory decodes what MarshalBinary wrote.
func UnmarshalTimeLineHistory(b []byte) (TimeLineHistory, error) {
	if len(b) == 0 || len(b)%20 != 0 {
		return nil, fmt.Errorf("timeline history of %d bytes: want a positive multiple of 20", len(b))
	}
	h := make(TimeLineHistory, 0, len(b)/20)
	for ; len(b) > 0; b = b[20:] {
		h = append(h, TimeLineHistoryEntry{
			TLI:   TimeLineID(binary.BigEndian.Uint32(b)),
			Begin: LSN(binary.BigEndian.Uint64(b[4:])),
			End:   LSN(binary.BigEndian.Uint64(b[12:])),
		})
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return h, nil
}

// ErrBadHistory is matched by errors about an inconsistent history.
var ErrBadHistory = errors.New("inconsistent timeline history")

// Validate checks that timelines increase, each begins where the one
// before ended, and only the last is open.
func (h TimeLineHistory) Validate() error {
	if len(h) == 0 {
		return fmt.Errorf("%w: empty", ErrBadHistory)
	}
	for i, e := range h {
		if e.TLI == 0 {
			return fmt.Errorf("%w: timeline 0", ErrBadHistory)
		}
		if i == len(h)-1 {
			if e.End != 0 {
				return fmt.Errorf("%w: the current timeline %d ends at %s", ErrBadHistory, e.TLI, e.End)
			}
			break
		}
		n := h[i+1]
		if n.TLI <= e.TLI || n.Begin != e.End || e.End < e.Begin {
			return fmt.Errorf("%w: %s", ErrBadHistory, h)
		}
	}
	return nil
}
