package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
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
		{Name: "bench", Summary: "benchmarks beside PostgreSQL's own tools (bench decode, bench ingest)", Run: Bench},
		{Name: "run", Summary: "follow a PostgreSQL 15 source: ingest into JetStream, serve status", Run: Run},
		{Name: "version", Summary: "print the version", Run: Version},
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
