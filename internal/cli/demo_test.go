package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
)

// TestDemo runs the README's first command in process, briefly: while it
// serves, the psql lines it prints work against its pgwire port, and when
// it stops the scratch cluster is gone.
func TestDemo(t *testing.T) {
	var out, errb pipetest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Demo(context.Background(), Env{Stdout: &out, Stderr: &errb},
			[]string{"--seconds", "2", "--pg-listen", "127.0.0.1:0", "--exit-after", "8s"})
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "Serving for") {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d early: %s\n%s", code, errb.String(), out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start serving:\n%s", out.String())
		}
	}
	s := out.String()
	for _, want := range []string{"applied", "page versions", "is materialized"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	// Run the printed psql get_page line.
	m := regexp.MustCompile(`psql -h (\S+) -p (\d+) -c "(get_page [^"]+)"`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no get_page line:\n%s", s)
	}
	psql := filepath.Join(pgtest.BinDir(), "psql")
	res, err := exec.Command(psql, "-X", "-At", "-h", m[1], "-p", m[2], "-U", "postgres", "-d", "postgres", "-c", m[3]).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", m[3], err, res)
	}
	if !strings.Contains(string(res), `|\x`) || len(res) < 16000 {
		t.Fatalf("psql %q: no page in %d bytes: %.200s", m[3], len(res), res)
	}
	if code := <-done; code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errb.String(), out.String())
	}
	s = out.String()
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
	// The benchmarks are a command of their own: help does not list
	// bench, and pagemill bench says where they went.
	if strings.Contains(out.String(), "bench") {
		t.Errorf("help lists bench: %q", out.String())
	}
	errb.Reset()
	if code := Main(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"bench", "redo"}); code != 2 || !strings.Contains(errb.String(), "go run ./cmd/pagemill-bench") {
		t.Fatalf("bench: %d %q", code, errb.String())
	}
}

// TestDemoWithoutPostgres: with PostgreSQL's programs absent from the
// configured directory the demo says how to install them, not an exec
// error.
func TestDemoWithoutPostgres(t *testing.T) {
	t.Setenv(pgtest.BinDirEnv, t.TempDir())
	var out, errb pipetest.SyncBuffer
	code := Demo(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"--seconds", "1", "--pg-listen", "127.0.0.1:0"})
	if code == 0 {
		t.Fatalf("demo exited 0 without PostgreSQL")
	}
	msg := errb.String()
	for _, want := range []string{"PostgreSQL 15 is not installed", "no initdb", "scripts/demo.sh", "apt-get install -y postgresql-15 postgresql-contrib", pgtest.BinDirEnv} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "fork/exec") {
		t.Errorf("stderr shows an exec error: %s", msg)
	}
}
