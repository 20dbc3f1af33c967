package serve

import (
	"context"
	"testing"
)

// runServer runs srv until the test ends, then stops it; the test fails
// if Run returns an error.
func runServer(tb testing.TB, srv *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server: %v", err)
		}
	})
}
