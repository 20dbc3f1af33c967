package ops

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

func TestLoggerConfig(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, LogConfig{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Fatalf("unexpected log output %q", buf.String())
	}
	if _, err := NewLogger(&buf, LogConfig{Level: "loud"}); err == nil {
		t.Fatal("invalid level accepted")
	}
	if _, err := NewLogger(&buf, LogConfig{Format: "xml"}); err == nil {
		t.Fatal("invalid format accepted")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPServerMetricsAndHealth(t *testing.T) {
	reg := NewRegistry()
	health := NewHealth()
	srv, err := NewHTTPServer("127.0.0.1:0", reg, health, DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	base := "http://" + srv.Addr()
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics: %d %.200q", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/healthz healthy: %d %s", code, body)
	}
	health.Register("replication", func(context.Context) error { return errors.New("not connected") })
	code, body = get(t, base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not connected") {
		t.Fatalf("/healthz unhealthy: %d %s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "512MiB", want: 512 << 20}, {in: "1GiB", want: 1 << 30}, {in: "1.5 GiB", want: 3 << 29},
		{in: "800MB", want: 800e6}, {in: "4096", want: 4096}, {in: "10b", want: 10}, {in: "2kib", want: 2048},
		{in: "0", want: 0}, {in: "off", want: 0},
		{in: "", bad: true}, {in: "-1MiB", bad: true}, {in: "lots", bad: true}, {in: "12XB", bad: true}, {in: "1e30GiB", bad: true},
	} {
		got, err := ParseBytes(c.in)
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), strconv.Quote(c.in)) {
				t.Errorf("ParseBytes(%q) = %d, %v; want an error naming the input", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	log := slog.New(slog.DiscardHandler)
	got, err := ApplyMemoryLimit("300MiB", log)
	if err != nil || got != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatalf("ApplyMemoryLimit(300MiB) = %d, %v; runtime limit %d", got, err, debug.SetMemoryLimit(-1))
	}
	if _, err := ApplyMemoryLimit("lots", log); err == nil || !strings.Contains(err.Error(), "memory limit") {
		t.Fatalf("bad size: %v", err)
	}
	if debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatal("a bad size changed the limit")
	}
}
