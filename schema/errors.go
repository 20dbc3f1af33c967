package schema

import (
	"errors"
	"fmt"
)

// Sentinels that WALError matches with errors.Is, so callers can decide
// without parsing messages.
var (
	// ErrEndOfWAL: the stream ends here cleanly (zeroed space, a recycled
	// segment, or no more files); nothing after it is a record.
	ErrEndOfWAL = errors.New("end of WAL")
	// ErrCorrupt: bytes that should be valid WAL are not (bad CRC, bad page
	// header, inconsistent record). Nothing at or after the position is
	// yielded.
	ErrCorrupt = errors.New("corrupt WAL")
)

// WALError says what was wrong with the WAL and where.
type WALError struct {
	Kind    error  // ErrEndOfWAL or ErrCorrupt
	LSN     LSN    // position of the record or page concerned
	Segment string // segment file name holding LSN ("" if unknown)
	Offset  uint32 // LSN's offset inside that segment
	Reason  string
}

func (e *WALError) Error() string {
	where := fmt.Sprintf("at %s", e.LSN)
	if e.Segment != "" {
		where = fmt.Sprintf("at %s (segment %s, offset %d)", e.LSN, e.Segment, e.Offset)
	}
	return fmt.Sprintf("%v %s: %s", e.Kind, where, e.Reason)
}

// Is lets errors.Is(err, ErrCorrupt) and errors.Is(err, ErrEndOfWAL) work.
func (e *WALError) Is(target error) bool { return target == e.Kind }

// DecodeError is returned by DecodeRecord for a record whose bytes passed
// the CRC but whose structure is invalid; it matches ErrCorrupt.
type DecodeError struct {
	LSN    LSN
	Reason string
	Err    error // underlying cause, if any
}

func (e *DecodeError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("decode record at %s: %s: %v", e.LSN, e.Reason, e.Err)
	}
	return fmt.Sprintf("decode record at %s: %s", e.LSN, e.Reason)
}

// Unwrap returns the underlying cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes DecodeError match ErrCorrupt.
func (e *DecodeError) Is(target error) bool { return target == ErrCorrupt }
