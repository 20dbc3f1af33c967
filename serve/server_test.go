package serve

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pagemill/pagemill/ops"
)

func TestStatusOverPgwire(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", func() []Row {
		return []Row{{"system_identifier", "42"}, {"published_lsn", "0/1000028"}}
	}, ops.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	conn, err := pgconn.Connect(cctx, "postgres://x@"+srv.Addr()+"/x?sslmode=prefer")
	if err != nil {
		t.Fatal(err)
	}
	res, err := conn.Exec(cctx, "STATUS;").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Rows) != 2 || string(res[0].Rows[1][1]) != "0/1000028" {
		t.Fatalf("status rows: %+v", res)
	}
	// An unknown command is an error; the connection stays usable.
	if _, err := conn.Exec(cctx, "get_everything").ReadAll(); err == nil {
		t.Fatal("unknown command accepted")
	}
	if _, err := conn.Exec(cctx, "status").ReadAll(); err != nil {
		t.Fatalf("connection unusable after an error: %v", err)
	}
	conn.Close(cctx)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
