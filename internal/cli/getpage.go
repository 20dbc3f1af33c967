package cli

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve"
	"github.com/pagemill/pagemill/serve/client"
	"github.com/pagemill/pagemill/serve/pagestream"
)

// GetPage is `pagemill getpage`: fetch one page from a pagemill server
// over the pagestream protocol (v3), as a compute would, and write it to
// stdout raw or as a hex dump.
func GetPage(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "getpage", "--addr HOST:PORT REL FORK BLK [--lsn LSN] [--hex]")
	addr := fs.String("addr", "127.0.0.1:6400", "pagemill's pgwire address")
	lsnFlag := fs.String("lsn", "", "read the page as of this LSN, waiting for it if needed (default: the newest applied)")
	hexDump := fs.Bool("hex", false, "write a hex dump (hexdump -C style) instead of the raw 8192 bytes")
	user := fs.String("user", "pagemill", "user name (a password, if the server asks, comes from PGPASSWORD)")
	useTLS := fs.Bool("tls", false, "require TLS (the server's certificate is not verified)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	// Flags may come before, between or after REL FORK BLK.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 3 {
		fs.Usage()
		return 2
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(env.Stderr, "pagemill getpage: %v\n", err)
		return code
	}
	tag, err := client.ParseTag(pos[0], pos[1], pos[2])
	if err != nil {
		return fail(2, err)
	}
	lsn, nms := serve.LatestLSN, schema.LSN(0)
	if *lsnFlag != "" && !strings.EqualFold(*lsnFlag, "latest") {
		l, err := schema.ParseLSN(*lsnFlag)
		if err != nil {
			return fail(2, err)
		}
		lsn, nms = l, l
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cfg := client.Config{Addr: *addr, User: *user, Password: os.Getenv("PGPASSWORD"), ApplicationName: "pagemill getpage"}
	if *useTLS {
		cfg.TLS = &tls.Config{InsecureSkipVerify: true} // a debugging tool; the flag's help says so
	}
	page, err := fetchPage(ctx, cfg, tag, lsn, nms)
	if err != nil {
		return fail(1, err)
	}
	if *hexDump {
		d := hex.Dumper(env.Stdout)
		_, err = d.Write(page)
		if err == nil {
			err = d.Close()
		}
	} else {
		_, err = env.Stdout.Write(page)
	}
	if err != nil {
		return fail(1, err)
	}
	return 0
}

func fetchPage(ctx context.Context, cfg client.Config, tag schema.BufferTag, lsn, nms schema.LSN) ([]byte, error) {
	c, err := client.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tenant, timeline, err := c.IDs(ctx)
	if err != nil {
		return nil, err
	}
	st, err := c.Pagestream(ctx, pagestream.V3, tenant, timeline)
	if err != nil {
		return nil, err
	}
	page, err := st.GetPage(ctx, tag, lsn, nms)
	var pe *client.PageError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%s: %s", tag, pe.Message)
	}
	return page, err
}
