// Command pagemill-bench runs pagemill's benchmarks, each beside
// PostgreSQL's own tool for the same work (package internal/bench). It is
// a separate binary so that pagemill itself links no benchmark or test
// code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pagemill/pagemill/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Main(ctx, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	os.Exit(code)
}
