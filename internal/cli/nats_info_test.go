package cli_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestNATSInfoScript: `pagemill run --nats-listen` exposes its embedded
// JetStream to operators with a generated password, and the README's
// scripts/nats-info.sh, with the real nats CLI built from its Go module,
// shows the streams, their consumers and the KV buckets.
func TestNATSInfoScript(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	natsAddr, dataDir := natstest.FreeAddr(t), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, _ := startRun(t, ctx, c, dataDir, 2, "pm_nats", "--nats-listen", natsAddr)
	if !strings.Contains(p.logs.String(), "NATS listener for operators") {
		t.Errorf("run does not log the operator listener:\n%s", tail(p.logs.String(), 20))
	}

	script, err := filepath.Abs("../../scripts/nats-info.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, script, dataDir, "nats://"+natsAddr)
	cmd.Env = append(os.Environ(), "PAGEMILL_TOOLS="+filepath.Join(os.TempDir(), "pagemill-test-tools"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nats-info.sh: %v\n%s", err, out)
	}
	s := string(out)
	t.Logf("\n%s", tail(s, 40))
	for _, want := range []string{"== nats stream info ", "Information for Stream", "Messages:", "== nats consumer ls", "== nats kv ls"} {
		if !strings.Contains(s, want) {
			t.Errorf("nats-info.sh output lacks %q", want)
		}
	}
	// Without the password the listener refuses the same CLI.
	bad := exec.CommandContext(ctx, filepath.Join(os.TempDir(), "pagemill-test-tools", "nats"), "--server", "nats://"+natsAddr, "stream", "ls")
	if out, err := bad.CombinedOutput(); err == nil {
		t.Errorf("nats stream ls without credentials succeeded:\n%s", out)
	}
}
