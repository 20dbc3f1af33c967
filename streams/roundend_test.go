package streams

import (
	"testing"

	"github.com/nats-io/nats.go"
)

func TestRoundEnd(t *testing.T) {
	h := nats.Header{}
	if _, err := RoundEnd(h); err == nil {
		t.Fatal("no header accepted")
	}
	h.Set(HdrRoundEnd, "nonsense")
	if _, err := RoundEnd(h); err == nil {
		t.Fatal("a bad LSN accepted")
	}
	h.Set(HdrRoundEnd, "1/2000")
	if lsn, err := RoundEnd(h); err != nil || lsn != 0x100002000 {
		t.Fatalf("RoundEnd = %s, %v", lsn, err)
	}
}

func TestTimelineOfKey(t *testing.T) {
	if tli, ok := TimelineOfKey(KeyTimelineHistory(7)); !ok || tli != 7 {
		t.Fatalf("TimelineOfKey(%q) = %d, %v", KeyTimelineHistory(7), tli, ok)
	}
	for _, k := range []string{"basebackup", "timeline.", "timeline.0", "timeline.x", "xtimeline.3"} {
		if _, ok := TimelineOfKey(k); ok {
			t.Errorf("TimelineOfKey(%q) accepted", k)
		}
	}
}
