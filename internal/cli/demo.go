package cli

import (
	"context"
	"fmt"
)

// Demo runs a scratch PostgreSQL 15, puts load on it and shows pagemill
// decoding its WAL. It grows into the whole pipeline with later issues.
func Demo(ctx context.Context, env Env, args []string) int {
	fmt.Fprintln(env.Stderr, "pagemill demo: not yet")
	return 1
}
