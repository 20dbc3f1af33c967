package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
)

// BaseBackupFunc writes a tar of a data directory as of lsn (0: the
// latest applied) to w and returns the LSN the data directory ends at.
type BaseBackupFunc func(ctx context.Context, lsn schema.LSN, w io.Writer) (schema.LSN, error)

// copyChunk is the largest CopyData message the basebackup command sends.
const copyChunk = 256 << 10

// copyWriter sends what is written as CopyData messages and flushes each,
// so a large archive streams instead of piling up in the send buffer.
type copyWriter struct {
	c       *conn
	started bool
	n       int64
}

// start sends CopyOutResponse once, before the first data or the end.
func (w *copyWriter) start() {
	if !w.started {
		w.started = true
		w.c.be.Send(&pgproto3.CopyOutResponse{OverallFormat: 1})
	}
}

func (w *copyWriter) Write(p []byte) (int, error) {
	w.start()
	written := 0
	for len(p) > 0 {
		n := min(len(p), copyChunk)
		w.c.be.Send(&pgproto3.CopyData{Data: p[:n]})
		if err := w.c.be.Flush(); err != nil {
			return written, err
		}
		written += n
		w.n += int64(n)
		p = p[n:]
	}
	return written, nil
}

// basebackup answers `basebackup [LSN|latest]`: CopyOutResponse, the tar
// stream as CopyData, CopyDone, CommandComplete. psql writes the archive
// to its output (psql -Xqc "basebackup latest" > dd.tar). The wait for
// an LSN not yet applied is bounded by Config.WaitTimeout; writing the
// archive is not.
func (c *conn) basebackup(args []string) bool {
	fn := c.s.cfg.BaseBackup
	if fn == nil {
		c.sendError(&reqError{kind: errUnsupported, code: "0A000", msg: "basebackup is not available on this server"})
		return false
	}
	if len(args) > 1 {
		c.sendError(&reqError{kind: errBadRequest, code: "42601", msg: "usage: basebackup [LSN|latest]"})
		return false
	}
	var lsn schema.LSN
	if len(args) == 1 && !strings.EqualFold(args[0], "latest") {
		l, err := schema.ParseLSN(args[0])
		if err != nil || l == 0 {
			c.sendError(&reqError{kind: errBadRequest, code: "22023", msg: fmt.Sprintf("invalid LSN %q", args[0]), hint: "usage: basebackup [LSN|latest]"})
			return false
		}
		lsn = l
	}
	began := time.Now()
	ctx := c.op()
	w := &copyWriter{c: c}
	end, err := fn(ctx, lsn, w)
	if err != nil {
		var re *reqError
		if errors.Is(err, restore.ErrNotRestorable) {
			re = &reqError{kind: errBadRequest, code: "22023", msg: err.Error()}
		} else {
			re = c.s.classify(err, lsn)
		}
		re.msg = "basebackup: " + re.msg
		// An ErrorResponse also ends copy-out mode for the client.
		c.sendError(re)
		return false
	}
	w.start()
	c.be.Send(&pgproto3.CopyDone{})
	c.be.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000",
		Message: fmt.Sprintf("data directory as of LSN %s: %d bytes", end, w.n)})
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("BASEBACKUP")})
	c.s.m.request[kindQuery].Observe(time.Since(began).Seconds())
	return true
}
