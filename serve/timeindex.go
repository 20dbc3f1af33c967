package serve

import (
	"strings"
	"time"

	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
)

// TimeIndex is what a page source that indexes commit times offers
// (*materialize.Materializer does): the lsn_at and time_at commands use it.
type TimeIndex interface {
	// LSNAt is the end of the last commit at or before t, and its time.
	LSNAt(t time.Time) (schema.LSN, time.Time, error)
	// TimeAt is the time of the last commit at or before lsn, and its LSN.
	TimeAt(lsn schema.LSN) (time.Time, schema.LSN, error)
}

// timeCommand runs lsn_at TIMESTAMP or time_at LSN: (lsn, time) of the
// last commit at or before the argument, from the page source's commit
// time index. Times outside the window are errors naming it.
func (c *conn) timeCommand(cmd string, args []string) *reqError {
	p, e := c.s.source()
	if e != nil {
		return e
	}
	ti, ok := p.(TimeIndex)
	if !ok {
		return &reqError{kind: errUnsupported, code: "0A000", msg: cmd + ": this page source keeps no commit time index"}
	}
	arg := strings.Trim(strings.TrimSpace(strings.Join(args, " ")), "'")
	if arg == "" {
		return &reqError{kind: errBadRequest, code: "42601", msg: cmd + " needs an argument", hint: usageOf(cmd)}
	}
	var (
		lsn schema.LSN
		at  time.Time
		err error
	)
	if cmd == "lsn_at" {
		t, perr := restore.ParseTime(arg)
		if perr != nil {
			return badRequest("lsn_at: %v", perr)
		}
		lsn, at, err = ti.LSNAt(t)
	} else {
		l, perr := schema.ParseLSN(arg)
		if perr != nil {
			return badRequest("time_at: %v", perr)
		}
		at, lsn, err = ti.TimeAt(l)
	}
	if err != nil {
		return &reqError{kind: errBadRequest, code: "22023", msg: cmd + ": " + err.Error()}
	}
	c.sendRows([]column{{"lsn", oidText}, {"time", oidText}}, [][]string{{lsn.Short(), at.UTC().Format("2006-01-02 15:04:05.999999Z07:00")}})
	return nil
}
