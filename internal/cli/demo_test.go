package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestDemo runs the README's first command in process, briefly.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Demo(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"--seconds", "1"}); code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errb.String(), out.String())
	}
	s := out.String()
	for _, want := range []string{"Heap/HOT_UPDATE", "Transaction/COMMIT", "pg_waldump lists the same", "removed"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	// The scratch cluster is gone.
	i := strings.Index(s, "PostgreSQL is running in ")
	dir := strings.Fields(s[i+len("PostgreSQL is running in "):])[0]
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("scratch cluster %s still exists (%v)", dir, err)
	}
}

func TestMainDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"nope"}); code != 2 || !strings.Contains(errb.String(), `unknown command "nope"`) {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
	out.Reset()
	if code := Main(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"help"}); code != 0 || !strings.Contains(out.String(), "waldump") {
		t.Fatalf("help: %d %q", code, out.String())
	}
}
