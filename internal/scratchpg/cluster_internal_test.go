package scratchpg

import (
	"net"
	"strconv"
	"testing"
)

// TestBindFailureDetected checks that the message of a server that cannot
// bind its port is recognised, so that the first start retries on another.
func TestBindFailureDetected(t *testing.T) {
	t.Parallel()
	c, err := New(t.Context(), Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(c.Port()))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Restart()
	l.Close()
	if err == nil {
		t.Fatal("server started on a port in use")
	}
	if !isBindFailure(err.Error()) {
		t.Errorf("not recognised as a bind failure: %v", err)
	}
	if c.Running() {
		t.Error("Running() after a failed start")
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if rows, err := c.QueryContext(t.Context(), "SHOW port"); err != nil || rows[0][0] != strconv.Itoa(c.Port()) {
		t.Errorf("SHOW port = %v, %v", rows, err)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"postgres": "postgres",
		"my db":    `'my db'`,
		"it's":     `'it\'s'`,
		"":         `''`,
	} {
		if got := quoteConnValue(in); got != want {
			t.Errorf("quoteConnValue(%q) = %s, want %s", in, got, want)
		}
	}
	if got := quoteConf(`a'b\c`); got != `'a''b\\c'` {
		t.Errorf("quoteConf = %s", got)
	}
}
