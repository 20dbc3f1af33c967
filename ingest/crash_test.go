package ingest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// pagemillProc is one `pagemill run` subprocess.
type pagemillProc struct {
	cmd      *exec.Cmd
	pgListen string
	logPath  string
	started  time.Time
	exited   chan struct{} // closed once Wait returned
	waitErr  error

	mu    sync.Mutex
	phase string // last milestone seen in the log: "starting", "basebackup", "streaming"
}

func (p *pagemillProc) Phase() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phase
}

// startPagemill starts `pagemill run` against source with dataDir and
// fresh listen ports; its log goes to a file in logDir (and is scanned
// for milestones).
func startPagemill(t *testing.T, bin, source, dataDir, logDir string, n int) *pagemillProc {
	t.Helper()
	p := &pagemillProc{
		pgListen: natstest.FreeAddr(t),
		logPath:  filepath.Join(logDir, fmt.Sprintf("pagemill-%02d.log", n)),
		exited:   make(chan struct{}),
		phase:    "starting",
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run",
		"--source", source, "--data-dir", dataDir,
		"--pg-listen", p.pgListen, "--http-listen", natstest.FreeAddr(t),
		"--shards", "4", "--log-level", "debug")
	pr, pw := io.Pipe()
	p.cmd.Stdout = logFile
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.started = time.Now()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			p.mu.Lock()
			switch {
			case strings.Contains(line, `msg="taking a base backup"`):
				p.phase = "basebackup"
			case strings.Contains(line, `msg="base backup stored"`):
				p.phase = "basebackup-stored"
			case strings.Contains(line, `msg="streaming WAL"`):
				p.phase = "streaming"
			}
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.waitErr = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		logFile.Close()
	})
	return p
}

// running reports whether the process has not exited.
func (p *pagemillProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *pagemillProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	s := string(b)
	if len(s) > 6000 {
		s = s[len(s)-6000:]
	}
	return s
}

// TestIngestSurvivesSIGKILL kills `pagemill run` with SIGKILL at random
// moments, during the first base backup and while streaming, restarting it
// on the same data directory each time, with pgbench running. In the end
// the WAL stream holds every record from the base backup's start exactly
// once, and the slot never released WAL that was not durable in JetStream.
func TestIngestSurvivesSIGKILL(t *testing.T) {
	bin := buildPagemill(t)
	c := pgtest.Start(t, pgtest.Options{})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	source := c.ConnString("postgres")
	dataDir := filepath.Join(t.TempDir(), "pm")
	logDir := t.TempDir()

	// Background load until stopLoad.
	stopLoad := pgbenchLoad(c, 300)
	defer stopLoad()

	// Sample the slot against the published position the running
	// pagemill reports.
	var current atomic.Pointer[pagemillProc]
	stopSampling := startSlotSampler(t, c, &current)

	// Ten SIGKILLs. The first lands during the first base backup; the
	// others at a random 0.3–2.5 s after the start.
	phases := map[string]int{}
	for i := 0; i < 10; i++ {
		p := startPagemill(t, bin, source, dataDir, logDir, i)
		current.Store(p)
		killPagemill(t, p, i, phases)
	}
	if phases["basebackup"] == 0 || phases["streaming"] == 0 {
		t.Errorf("kills by phase %v: want some during the base backup and some while streaming", phases)
	}

	// Stop the load; one last start catches up.
	if err := stopLoad(); err != nil {
		t.Fatal(err)
	}
	p := startPagemill(t, bin, source, dataDir, logDir, 10)
	current.Store(p)
	end := mustLSN(t, c.CurrentWALLSN(t))
	st := waitPublished(t, p, end)
	samples := stopSampling()
	if len(samples.bad) > 0 {
		t.Errorf("slot ahead of the published position in %d of %d samples, e.g. %s", len(samples.bad), samples.n, samples.bad[0])
	}
	if samples.n < 20 {
		t.Errorf("only %d slot samples", samples.n)
	}
	stopPagemill(t, p)

	start, n := checkLeftStore(t, c, dataDir, st, end)
	t.Logf("after 10 SIGKILLs (%v): the stream holds the %d records of %s..%s exactly once; %d slot samples", phases, n, start, end, samples.n)
}

// slotSamples is what startSlotSampler saw: how many samples, and those
// where the slot was ahead of the published position.
type slotSamples struct {
	n   int
	bad []string
}

// startSlotSampler samples the slot against the published position the
// pagemill in current reports until stop is called. restart_lsn is read
// first: published only grows, also across restarts (a restart resumes
// from what is durable).
func startSlotSampler(t *testing.T, c *pgtest.Cluster, current *atomic.Pointer[pagemillProc]) (stop func() slotSamples) {
	stopSampling := make(chan struct{})
	var stopSamplingOnce sync.Once
	t.Cleanup(func() { stopSamplingOnce.Do(func() { close(stopSampling) }) })
	samplerDone := make(chan slotSamples, 1)
	go func() {
		var res slotSamples
		defer func() { samplerDone <- res }()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(30 * time.Millisecond):
			}
			p := current.Load()
			if p == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			rows, err := c.QueryContext(ctx, "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pagemill'")
			if err != nil || len(rows) == 0 || rows[0][0] == "" {
				cancel()
				continue
			}
			restart, _ := schema.ParseLSN(rows[0][0])
			st, err := pagemillStatus(ctx, p.pgListen)
			cancel()
			if err != nil {
				continue
			}
			pub, err := schema.ParseLSN(st["published_lsn"])
			if err != nil || pub == 0 {
				continue
			}
			if restart > pub {
				res.bad = append(res.bad, fmt.Sprintf("restart_lsn %s > published %s", restart, pub))
			}
			res.n++
		}
	}()
	return func() slotSamples {
		stopSamplingOnce.Do(func() { close(stopSampling) })
		return <-samplerDone
	}
}

// killPagemill waits, then SIGKILLs start i of pagemill and counts the
// phase it was in. The first start is killed during its base backup, the
// others at a random 0.3–2.5 s after the start (after reaching streaming
// if every kill so far hit a base backup).
func killPagemill(t *testing.T, p *pagemillProc, i int, phases map[string]int) {
	t.Helper()
	if i == 0 {
		deadline := time.Now().Add(20 * time.Second)
		for p.Phase() != "basebackup" {
			if time.Now().After(deadline) || !p.running() {
				t.Fatalf("first start: no base backup began (phase %s)\n%s", p.Phase(), p.logTail())
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(150 * time.Millisecond))))
	} else {
		from := p.started
		if i >= 6 && phases["streaming"] == 0 {
			// Every kill so far hit a base backup (a slow machine):
			// let this start reach streaming, then kill it.
			deadline := time.Now().Add(30 * time.Second)
			for p.Phase() != "streaming" {
				if time.Now().After(deadline) || !p.running() {
					t.Fatalf("start %d: never streamed (phase %s)\n%s", i, p.Phase(), p.logTail())
				}
				time.Sleep(5 * time.Millisecond)
			}
			from = time.Now()
		}
		delay := 300*time.Millisecond + time.Duration(rand.Int64N(int64(2200*time.Millisecond)))
		select {
		case <-p.exited:
			t.Fatalf("start %d: pagemill exited by itself (%v)\n%s", i, p.waitErr, p.logTail())
		case <-time.After(time.Until(from.Add(delay))):
		}
	}
	phase := p.Phase()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("start %d: pagemill ended with %v before the SIGKILL\n%s", i, p.waitErr, p.logTail())
	}
	phases[phase]++
	t.Logf("start %d: SIGKILL after %v, phase %s", i, time.Since(p.started).Round(time.Millisecond), phase)
}

// waitPublished waits until the published position reaches end and
// returns the last status.
func waitPublished(t *testing.T, p *pagemillProc, end schema.LSN) map[string]string {
	t.Helper()
	var st map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := pagemillStatus(ctx, p.pgListen)
		cancel()
		if err == nil {
			st = s
			if pub, err := schema.ParseLSN(s["published_lsn"]); err == nil && pub >= end {
				break
			}
		}
		if !p.running() {
			t.Fatalf("last start: pagemill exited (%v)\n%s", p.waitErr, p.logTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("published did not reach %s (status %v, err %v)\n%s", end, st, err, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return st
}

// stopPagemill sends SIGTERM and wants a clean exit within 30 s.
func stopPagemill(t *testing.T, p *pagemillProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("pagemill did not stop within 30 s of SIGTERM\n%s", p.logTail())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("pagemill exited with %d after SIGTERM (%v)\n%s", code, p.waitErr, p.logTail())
	}
}

// checkLeftStore opens the store pagemill left behind, in process, and
// checks the base backup state and that the stream holds the records up
// to end exactly once. It returns the base backup's start and the number
// of records.
func checkLeftStore(t *testing.T, c *pgtest.Cluster, dataDir string, st map[string]string, end schema.LSN) (schema.LSN, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js := natstest.Connect(t, natstest.Start(t, filepath.Join(dataDir, "nats"), slog.New(slog.DiscardHandler)))
	sysid := mustSysID(t, c)
	kv, err := js.KeyValue(ctx, streams.Layout{SystemID: sysid}.KVBucket())
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, ingest.KeyBaseBackup)
	if err != nil {
		t.Fatal(err)
	}
	var bb ingest.BaseBackupState
	if err := json.Unmarshal(e.Value(), &bb); err != nil {
		t.Fatal(err)
	}
	if !bb.Completed || bb.StartLSN == 0 {
		t.Fatalf("base backup state %s: not completed", e.Value())
	}
	if got := st["basebackup_start_lsn"]; got != bb.StartLSN.Short() {
		t.Errorf("status says the base backup starts at %s, the bucket %s", got, bb.StartLSN.Short())
	}
	n := checkStream(t, nc, c, bb.StartLSN, end)
	return bb.StartLSN, n
}

// buildPagemill builds cmd/pagemill into a temporary directory.
func buildPagemill(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "pagemill")
	t0 := time.Now()
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/pagemill/pagemill/cmd/pagemill").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(t0).Round(time.Millisecond))
	return bin
}
