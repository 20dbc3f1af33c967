package bench

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/schema"
)

// redoLog is what a server log says about the redo at its start.
type redoLog struct {
	ok         bool          // the log has "redo starts at" and "redo done at … elapsed"
	start      schema.LSN    // "redo starts at"
	done       schema.LSN    // "redo done at": the last record replayed
	elapsed    time.Duration // "elapsed" of "redo done at"
	cpu        time.Duration // its user + system CPU
	recovery   bool          // the log says recovery ran ("automatic recovery", "redo starts")
	cleanStart bool          // the log says "database system was shut down at"
}

// parseRedoLog reads the redo at a server's start from its log.
func parseRedoLog(text string) redoLog {
	r := redoLog{
		recovery: strings.Contains(text, "redo starts at") || strings.Contains(text, "automatic recovery in progress") ||
			strings.Contains(text, "starting archive recovery"),
		cleanStart: strings.Contains(text, "database system was shut down at"),
	}
	m := regexp.MustCompile(`redo starts at ([0-9A-F]+/[0-9A-F]+)`).FindStringSubmatch(text)
	d := regexp.MustCompile(`redo done at ([0-9A-F]+/[0-9A-F]+) system usage: CPU: user: ([0-9.]+) s, system: ([0-9.]+) s, elapsed: ([0-9.]+) s`).FindStringSubmatch(text)
	if m == nil || d == nil {
		return r
	}
	var err1, err2 error
	r.start, err1 = schema.ParseLSN(m[1])
	r.done, err2 = schema.ParseLSN(d[1])
	secs := func(s string) time.Duration {
		f, _ := strconv.ParseFloat(s, 64)
		return time.Duration(f * float64(time.Second))
	}
	r.elapsed, r.cpu = secs(d[4]), secs(d[2])+secs(d[3])
	r.ok = err1 == nil && err2 == nil
	return r
}

// mb is the WAL the redo covered, in 1e6 bytes (0 without one).
func (r redoLog) mb() float64 {
	if !r.ok {
		return 0
	}
	return float64(r.done-r.start) / 1e6
}

func (r redoLog) String() string {
	switch {
	case r.ok:
		return fmt.Sprintf("redo %s .. %s, %.1f MB in %.2f s by the log", r.start, r.done, r.mb(), r.elapsed.Seconds())
	case r.recovery:
		return "log: recovery ran"
	case r.cleanStart:
		return "log: no redo (started from a clean shutdown)"
	}
	return "no redo in the log"
}

// crashRecovery is one timed start of a crashed server: the redo its log
// reports, and the wall time of the start (pg_ctl start -w).
type crashRecovery struct {
	redo redoLog
	wall time.Duration
	load string
}

// timeCrashRecovery starts c, stopped as by a crash (pg_ctl stop -m
// immediate), and reads crash recovery's figures from what its log
// gained meanwhile.
func timeCrashRecovery(c *scratchpg.Cluster) (crashRecovery, error) {
	off := fileSize(c.LogFile())
	r := crashRecovery{load: quiesce()}
	t0 := time.Now()
	if err := c.Restart(); err != nil {
		return r, fmt.Errorf("restart after the crash: %w", err)
	}
	r.wall = time.Since(t0)
	text, err := readFrom(c.LogFile(), off)
	if err != nil {
		return r, fmt.Errorf("server log: %w", err)
	}
	if r.redo = parseRedoLog(text); !r.redo.ok {
		return r, fmt.Errorf("no \"redo starts at\" and \"redo done at … elapsed\" lines in the server log:\n%s", text)
	}
	return r, nil
}
