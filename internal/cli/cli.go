package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Env is what a command gets from the process.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
}

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, env Env, args []string) int
}

// Commands returns the subcommands, sorted by name.
func Commands() []Command {
	cmds := []Command{
		{Name: "waldump", Summary: "print WAL records in pg_waldump's format", Run: Waldump},
		{Name: "verify", Summary: "replay WAL and compare pages with wal_consistency_checking images", Run: Verify},
		{Name: "demo", Summary: "run a scratch PostgreSQL 15 and show pagemill decoding its WAL", Run: Demo},
		{Name: "run", Summary: "follow a PostgreSQL 15 source: ingest into JetStream, serve status", Run: Run},
		{Name: "version", Summary: "print the version", Run: Version},
		{Name: "rebuild", Summary: "recreate the page store from the streams (base backup + records), with progress", Run: Rebuild},
		{Name: "restore", Summary: "write a PostgreSQL data directory as of an LSN, from a running pagemill", Run: Restore},
		{Name: "getpage", Summary: "fetch one page from a pagemill server (pagestream v3)", Run: GetPage},
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return cmds
}

// Main dispatches args (without the program name) and returns the exit code.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range Commands() {
		if c.Name == args[0] {
			return c.Run(ctx, env, args[1:])
		}
	}
	if args[0] == "bench" {
		fmt.Fprintln(env.Stderr, "pagemill bench: the benchmarks are their own command now: go run ./cmd/pagemill-bench (decode, ingest, redo, materialize, restore)")
		return 2
	}
	fmt.Fprintf(env.Stderr, "pagemill: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "pagemill: PostgreSQL WAL in, pages out.\n\nUsage: pagemill <command> [flags]\n\nCommands:\n")
	for _, c := range Commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun 'pagemill <command> -h' for a command's flags.\n")
}

// newFlagSet returns a flag set that reports errors to env.Stderr.
func newFlagSet(env Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: pagemill %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Version is set at link time with -ldflags "-X ...cli.version=...".
var version = "dev"

// Version prints the version.
func Version(_ context.Context, env Env, _ []string) int {
	fmt.Fprintf(env.Stdout, "pagemill %s\n", version)
	return 0
}

// walRange is the --path/--start/--end/--timeline flags shared by the
// commands that read WAL files.
type walRange struct {
	path, start, end *string
	tli              *uint
}

func addWALRangeFlags(fs *flag.FlagSet) walRange {
	return walRange{
		path:  fs.String("path", "", "directory holding WAL segment files (required)"),
		start: fs.String("start", "", "LSN to start at, X/X (required)"),
		end:   fs.String("end", "", "LSN to stop at, X/X (default: the end of WAL)"),
		tli:   fs.Uint("timeline", 0, "timeline of the segment files (default: the highest one holding --start)"),
	}
}

// open checks the parsed flags and opens the WAL. On failure it reports to
// env.Stderr and returns the exit code (2 for usage, 1 otherwise).
func (w walRange) open(env Env, fs *flag.FlagSet, cmd string) (d *schema.DirReader, start, end schema.LSN, code int) {
	if *w.path == "" || *w.start == "" || fs.NArg() > 0 {
		fs.Usage()
		return nil, 0, 0, 2
	}
	start, err := schema.ParseLSN(*w.start)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill %s: --start: %v\n", cmd, err)
		return nil, 0, 0, 2
	}
	if *w.end != "" {
		if end, err = schema.ParseLSN(*w.end); err != nil {
			fmt.Fprintf(env.Stderr, "pagemill %s: --end: %v\n", cmd, err)
			return nil, 0, 0, 2
		}
	}
	d, err = schema.OpenWALDir(os.DirFS(*w.path), schema.DirOptions{Start: start, End: end, Timeline: schema.TimeLineID(*w.tli)})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill %s: %v\n", cmd, err)
		return nil, 0, 0, 1
	}
	return d, start, end, 0
}

// natsFlags are the flags naming an external NATS cluster, shared by the
// commands that talk to JetStream.
type natsFlags struct {
	url, creds, ca, cert, key *string
}

// memoryFlags are --memory-limit, the Go heap's soft limit (see
// ops.ApplyMemoryLimit), and --memory-budget, the process's memory budget
// the caches are sized from (see ops.MemoryBudget).
type memoryFlags struct {
	limit, budget *string
}

func addMemoryFlags(fs *flag.FlagSet) memoryFlags {
	return memoryFlags{
		limit: fs.String("memory-limit", "",
			"soft limit of the Go heap (e.g. 512MiB, 1GiB; 0: none; default: the --memory-budget's share, without a budget "+ops.DefaultMemoryLimit+"); GOMEMLIMIT in the environment wins"),
		budget: fs.String("memory-budget", "auto",
			"memory the process may use, page cache included, the caches and the Go heap limit are sized from (e.g. 512MiB; auto: the memory cgroup's limit when there is one; none: the default sizes)"),
	}
}

// apply reads the memory budget, applies the Go heap's limit and logs
// the budget's split once. An unreadable cgroup limit is logged and
// taken as no budget.
func (f memoryFlags) apply(log *slog.Logger) (ops.MemoryBudget, error) {
	b, err := ops.ParseMemoryBudget(*f.budget, ops.HostCgroupFS())
	if err != nil {
		if !strings.EqualFold(strings.TrimSpace(*f.budget), "auto") {
			return ops.MemoryBudget{}, err
		}
		log.Warn("memory budget: the cgroup's limit is unknown; default sizes", "err", err)
		b = ops.MemoryBudget{}
	}
	if _, err := ops.ApplyMemoryLimit(b.HeapLimitSize(*f.limit), log); err != nil {
		return ops.MemoryBudget{}, err
	}
	b.Log(log)
	return b, nil
}

// logFlags are the flags of a command that runs a node: its log's level
// and format and its memory.
type logFlags struct {
	level, format *string
	memory        memoryFlags
}

// addLogFlags registers --log-level, --log-format, --memory-limit and
// --memory-budget.
func addLogFlags(fs *flag.FlagSet) logFlags {
	return logFlags{
		level:  fs.String("log-level", "info", "debug, info, warn, error"),
		format: fs.String("log-format", "text", "text or json"),
		memory: addMemoryFlags(fs),
	}
}

// logger builds the command's logger on w, applies the Go heap's limit
// and returns the memory budget.
func (f logFlags) logger(w io.Writer) (*slog.Logger, ops.MemoryBudget, error) {
	log, err := ops.NewLogger(w, ops.LogConfig{Level: *f.level, Format: *f.format})
	if err != nil {
		return nil, ops.MemoryBudget{}, err
	}
	b, err := f.memory.apply(log)
	if err != nil {
		return nil, ops.MemoryBudget{}, err
	}
	return log, b, nil
}

// addNATSFlags registers --nats-url and its credential/TLS flags; urlHelp
// says what an empty URL means for the command.
func addNATSFlags(fs *flag.FlagSet, urlHelp string) natsFlags {
	return natsFlags{
		url:   fs.String("nats-url", "", "external NATS cluster URL(s); "+urlHelp),
		creds: fs.String("nats-creds", "", "NATS credentials file (external cluster)"),
		ca:    fs.String("nats-ca", "", "CA certificate for NATS TLS (external cluster)"),
		cert:  fs.String("nats-cert", "", "client certificate for NATS TLS (external cluster)"),
		key:   fs.String("nats-key", "", "client key for NATS TLS (external cluster)"),
	}
}

// connConfig is the connection to the external cluster, named name (no
// URL: none).
func (n natsFlags) connConfig(name string) streams.ConnConfig {
	return streams.ConnConfig{URL: *n.url, CredsFile: *n.creds, TLSCA: *n.ca, TLSCert: *n.cert, TLSKey: *n.key, Name: name}
}

// progressBar redraws one line on a terminal.
type progressBar struct {
	out  io.Writer
	last int
}

func (b *progressBar) draw(line string) {
	pad := ""
	if n := b.last - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(b.out, "\r"+line+pad)
	b.last = len(line)
}

// finish ends the bar's line (nil: no bar).
func (b *progressBar) finish() {
	if b != nil && b.last > 0 {
		fmt.Fprintln(b.out)
		b.last = 0
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
