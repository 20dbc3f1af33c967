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
