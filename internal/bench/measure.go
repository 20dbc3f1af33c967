package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// quiesce syncs the file systems, so that write-back of what ran before
// does not land in the next timing, and returns the load average then.
func quiesce() string {
	syscall.Sync()
	return loadAverage()
}

// stopwatch times one run: wall clock and the CPU time of this process
// (RUSAGE_SELF) or of its waited-for children (RUSAGE_CHILDREN).
type stopwatch struct {
	who  int
	t0   time.Time
	cpu0 time.Duration
}

func startWatch(who int) stopwatch { return stopwatch{who: who, t0: time.Now(), cpu0: cpuTime(who)} }

// elapsed returns the wall and CPU time since the start.
func (s stopwatch) elapsed() (wall, cpu time.Duration) {
	return time.Since(s.t0), cpuTime(s.who) - s.cpu0
}

// cpuTime returns the user and system CPU time of this process
// (RUSAGE_SELF) or of its waited-for children (RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// settle waits up to d for the 1-minute load average to fall below 1.
func settle(ctx context.Context, d time.Duration, log *slog.Logger) {
	deadline := time.Now().Add(d)
	for {
		load := loadAverage()
		f := strings.Fields(load)
		if len(f) == 0 {
			return
		}
		one, err := strconv.ParseFloat(f[0], 64)
		if err != nil || one < 1 || time.Now().After(deadline) {
			return
		}
		log.Info("waiting for the load average to settle", "load_average", load)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// best runs f runs times and returns the result that took least time.
func best[T any](runs int, f func(i int) (T, time.Duration, error)) (T, error) {
	var b T
	var bestTime time.Duration
	for i := range runs {
		r, d, err := f(i)
		if err != nil {
			return b, err
		}
		if i == 0 || d < bestTime {
			b, bestTime = r, d
		}
	}
	return b, nil
}

// startCPUProfile writes a CPU profile to path until the returned stop is
// called (path "": none).
func startCPUProfile(path string) (stop func(), err error) {
	return startRecording(path, "cpu profile", pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// startTrace writes an execution trace to path until the returned stop is
// called (path "": none).
func startTrace(path string) (stop func(), err error) {
	return startRecording(path, "trace", trace.Start, trace.Stop)
}

// startRecording runs start on a new file at path until the returned
// stop is called (path "": nothing).
func startRecording(path, what string, start func(io.Writer) error, end func()) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return func() {
		end()
		f.Close()
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

func memLimitText(n int64) string {
	if n <= 0 || n == math.MaxInt64 {
		return "none"
	}
	return fmt.Sprintf("%.0f MiB", mib(n))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// memPeaks are the process's peak resident set (VmHWM, since resetHWM)
// and the largest values sampled of its parts: what is anonymous (Go's
// heap and runtime) and what is mapped files (Badger's mmapped value log
// and tables count in RSS once touched).
type memPeaks struct{ hwm, anon, file, heapInuse, goSys int64 }

func (p *memPeaks) sample() {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			p.hwm = max(p.hwm, kb<<10)
		case "RssAnon:":
			p.anon = max(p.anon, kb<<10)
		case "RssFile:":
			p.file = max(p.file, kb<<10)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.heapInuse = max(p.heapInuse, int64(ms.HeapInuse))
	p.goSys = max(p.goSys, int64(ms.Sys))
}

// sampleMem resets VmHWM to the current RSS (Linux clear_refs 5), then
// samples p every interval until the returned stop is called, and once
// more then.
func sampleMem(p *memPeaks, interval time.Duration) (stop func()) {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			p.sample()
			select {
			case <-quit:
				p.sample()
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
