package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/pagemill/pagemill/ops"
)

// Env is what a scenario runs with.
type Env struct {
	Log *slog.Logger
	// Dir is the parent of the scenario's scratch directories ("": the
	// system's temporary directory).
	Dir string
}

// Scenario is one benchmark: its name, what its flags look like and what
// it measures, and New, which returns its configuration with nothing
// parsed yet.
type Scenario struct {
	Name     string
	Synopsis string // its flags, for the usage line
	Summary  string
	New      func() Config
}

// Config is a scenario's configuration: Flags registers its flags, Run
// runs the benchmark once they are parsed (a UsageError when they do not
// make sense).
type Config interface {
	Flags(fs *flag.FlagSet)
	Run(ctx context.Context, env Env) (*Report, error)
}

// Scenarios returns every benchmark.
func Scenarios() []Scenario {
	return []Scenario{
		{"decode", "[--path DIR --start LSN --end LSN] [--size-mb N] [--runs N] [--keep DIR]",
			"WAL decoding throughput beside pg_waldump and pg_waldump --stats on the same WAL (pgbench WAL unless --path)",
			func() Config { return &decodeConfig{} }},
		{"ingest", "[--size-mb 1000] [--shards 8] [--round-bytes N] [--round-interval D] [--receivewal LIST]",
			"catch-up throughput of ingest (replication -> JetStream, SyncAlways) beside pg_receivewal on the same WAL",
			func() Config { return &ingestConfig{} }},
		{"redo", "[--size-mb 300] [--workload W] [--workers 1,2] [--runs 3] | --path DIR --start LSN [--end LSN]",
			"in-memory redo (serial and page-parallel) beside PostgreSQL's crash recovery of the same WAL; Apply time per resource manager",
			func() Config { return &redoConfig{} }},
		{"materialize", "[--size-mb N] [--scale N] [--shards N] [--live-seconds N]",
			"JetStream -> page store throughput beside PostgreSQL's crash recovery of the same WAL; peak RSS; live lag",
			func() Config { return &materializeConfig{} }},
		{"restore", "[--scale N] [--size-mb N] [--shards N] [--checkpoint-mb N] [--rebuild=false]",
			"restore to a PostgreSQL accepting connections beside cp -r of the data directory and pg_basebackup + archive recovery to the same LSN; rebuild",
			func() Config { return &restoreConfig{} }},
	}
}

// UsageError is a run's complaint about its flags (exit status 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }

func usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// Main runs pagemill-bench with args (without the program name) and
// returns the exit status.
func Main(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, s := range Scenarios() {
		if s.Name == args[0] {
			return s.main(ctx, stdout, stderr, args[1:])
		}
	}
	fmt.Fprintf(stderr, "pagemill-bench: unknown benchmark %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "pagemill-bench: pagemill's benchmarks, beside PostgreSQL's own tools.\n\nUsage:\n")
	for _, s := range Scenarios() {
		fmt.Fprintf(w, "  pagemill-bench %s %s\n      %s\n", s.Name, s.Synopsis, s.Summary)
	}
	fmt.Fprintf(w, "\nEvery benchmark also takes --json, --log-level and --dir; 'pagemill-bench NAME -h' lists its flags.\n")
}

// main parses the flags, runs the scenario and prints its report.
func (s Scenario) main(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet(s.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: pagemill-bench %s %s [--json] [--log-level L] [--dir DIR]\n", s.Name, s.Synopsis)
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print the report as one JSON object instead of tables")
	logLevel := fs.String("log-level", "info", "level of the progress log on stderr: debug, info, warn, error")
	var env Env
	fs.StringVar(&env.Dir, "dir", "", "parent directory of the scratch directories (default: the system temp dir)")
	cfg := s.New()
	cfg.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	log, err := ops.NewLogger(stderr, ops.LogConfig{Level: *logLevel})
	if err != nil {
		fmt.Fprintf(stderr, "pagemill-bench %s: %v\n", s.Name, err)
		return 2
	}
	env.Log = log
	rep, err := cfg.Run(ctx, env)
	var uerr UsageError
	if errors.As(err, &uerr) {
		fmt.Fprintf(stderr, "pagemill-bench %s: %v\n", s.Name, err)
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "pagemill-bench %s: %v\n", s.Name, err)
		return 1
	}
	rep.Scenario, rep.Config = s.Name, cfg
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pagemill-bench %s: writing the report: %v\n", s.Name, err)
		return 1
	}
	return 0
}
