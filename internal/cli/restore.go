package cli

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
)

// Restore is `pagemill restore --from ADDR (--lsn LSN | --time TIME) --to
// DIR`: fetch a data directory as of LSN (or as of the last commit at or
// before TIME) from a running pagemill (its basebackup command, and
// lsn_at for a time), write it into DIR and check it, so that
// `pg_ctl -D DIR start` starts PostgreSQL there.
func Restore(ctx context.Context, env Env, args []string) int {
	r, code := parseRestoreFlags(env, args)
	if r == nil {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(env.Stderr, "pagemill restore: %v\n", err)
		return code
	}
	existed := true
	if ents, err := os.ReadDir(r.to); err == nil && len(ents) > 0 {
		return fail(2, fmt.Errorf("%s exists and is not empty", r.to))
	} else if errors.Is(err, os.ErrNotExist) {
		existed = false
	} else if err != nil {
		return fail(1, err)
	}
	// A restore that fails leaves the target as it found it.
	cleanup := func() { removeRestored(r.to, existed) }
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	host, port, err := net.SplitHostPort(r.from)
	if err != nil {
		return fail(2, fmt.Errorf("--from %q: %w", r.from, err))
	}
	began := time.Now()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s sslmode=disable", host, port, r.user))
	if err != nil {
		return fail(2, err)
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return fail(1, fmt.Errorf("connect to %s: %w", r.from, err))
	}
	defer conn.Close(context.Background())
	if !r.at.IsZero() {
		lsn, commit, err := lsnAt(ctx, conn, r.at)
		if err != nil {
			return fail(1, err)
		}
		r.lsn = lsn.Short()
		fmt.Fprintf(env.Stdout, "the database as of %s is at LSN %s (last commit at %s)\n", r.at.UTC().Format(time.RFC3339Nano), r.lsn, commit)
	}
	res, err, copyErr := r.fetch(ctx, env, conn, began)
	if copyErr != nil {
		cleanup()
		return fail(1, fmt.Errorf("basebackup from %s: %w", r.from, copyErr))
	}
	if err != nil {
		cleanup()
		return fail(1, fmt.Errorf("unpack into %s: %w", r.to, err))
	}
	cf, err := restore.CheckDataDir(r.to)
	if err != nil {
		cleanup()
		return fail(1, fmt.Errorf("the restored data directory is not usable: %w", err))
	}
	if r.owner != "" {
		if err := chownTree(r.to, r.owner); err != nil {
			return fail(1, err)
		}
	}
	r.report(env, res, cf, time.Since(began).Seconds())
	return 0
}

// restoreArgs are restore's flags, checked.
type restoreArgs struct {
	from, to, user, owner string
	lsn                   string    // the basebackup command's argument: an LSN or "latest"
	at                    time.Time // --time (zero: none)
	timeout               time.Duration
}

// parseRestoreFlags parses and checks restore's flags; on failure it
// reports to env.Stderr and returns nil and the exit code.
func parseRestoreFlags(env Env, args []string) (*restoreArgs, int) {
	fs := newFlagSet(env, "restore", "--from HOST:PORT (--lsn LSN|latest | --time TIME) --to DIR")
	r := &restoreArgs{lsn: "latest"}
	fs.StringVar(&r.from, "from", "127.0.0.1:6400", "pgwire address of a running pagemill (run or demo)")
	lsnFlag := fs.String("lsn", "", "the LSN to restore at, or latest (the default: the newest applied)")
	timeFlag := fs.String("time", "", "restore to the last commit at or before this time, as recovery_target_time does (e.g. '2026-12-06 14:03:00+00')")
	fs.StringVar(&r.to, "to", "", "the data directory to create (must not exist or be empty)")
	fs.StringVar(&r.user, "user", "pagemill", "user name (a password, if the server asks, comes from PGPASSWORD)")
	fs.StringVar(&r.owner, "owner", "", "give the data directory to this user (needed when restoring as root: PostgreSQL refuses to run as root)")
	fs.DurationVar(&r.timeout, "timeout", 0, "give up after this long (default: no limit)")
	if err := fs.Parse(args); err != nil {
		return nil, 2
	}
	usage := func(err error) (*restoreArgs, int) {
		fmt.Fprintf(env.Stderr, "pagemill restore: %v\n", err)
		return nil, 2
	}
	if r.to == "" || fs.NArg() != 0 {
		fs.Usage()
		return nil, 2
	}
	if *lsnFlag != "" && *timeFlag != "" {
		return usage(errors.New("--lsn and --time exclude each other"))
	}
	if *lsnFlag != "" && !strings.EqualFold(*lsnFlag, "latest") {
		l, err := schema.ParseLSN(*lsnFlag)
		if err != nil || l == 0 {
			return usage(fmt.Errorf("--lsn %q: not an LSN (like 0/1A2B3C4D)", *lsnFlag))
		}
		r.lsn = l.Short()
	}
	if *timeFlag != "" {
		t, err := ParseRestoreTime(*timeFlag)
		if err != nil {
			return usage(fmt.Errorf("--time: %w", err))
		}
		r.at = t
	}
	return r, 0
}

// fetch runs the basebackup command on conn and unpacks its tar into the
// target directory, drawing a progress bar on a terminal.
func (r *restoreArgs) fetch(ctx context.Context, env Env, conn *pgconn.PgConn, began time.Time) (res untarResult, unpackErr, copyErr error) {
	var bar *progressBar
	if isTerminal(env.Stdout) {
		bar = &progressBar{out: env.Stdout}
	}
	var got, total atomic.Int64
	stopBar := make(chan struct{})
	barDone := make(chan struct{})
	go func() {
		defer close(barDone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopBar:
				return
			case <-t.C:
				if bar != nil {
					bar.draw(restoreProgress(got.Load(), total.Load(), time.Since(began)))
				}
			}
		}
	}()
	res, unpackErr, copyErr = untarFrom(r.to, func(w io.Writer) error {
		_, err := conn.CopyTo(ctx, w, "basebackup "+r.lsn)
		return err
	}, &got, &total)
	close(stopBar)
	<-barDone
	if bar != nil {
		bar.draw(restoreProgress(got.Load(), total.Load(), time.Since(began)))
		bar.finish()
	}
	return res, unpackErr, copyErr
}

// report prints what was restored and how PostgreSQL will start on it.
func (r *restoreArgs) report(env Env, res untarResult, cf *schema.ControlFile, secs float64) {
	fmt.Fprintf(env.Stdout, "restored %s at LSN %s: %d files, %.1f MB (%d zero pages left as holes) in %.1fs, %.1f MB/s\n",
		r.to, res.lsn.Short(), res.files, float64(res.bytes)/1e6, res.zeroPages, secs, float64(res.bytes)/1e6/secs)
	if cf.State == schema.DBShutdowned {
		fmt.Fprintf(env.Stdout, "a clean shutdown at %s: PostgreSQL starts without WAL replay\n", cf.CheckPoint.Short())
	} else {
		fmt.Fprintf(env.Stdout, "PostgreSQL starts at checkpoint %s (redo %s) and replays to the end of pg_wal\n", cf.CheckPoint.Short(), cf.CheckPointCopy.Redo.Short())
	}
	fmt.Fprintf(env.Stdout, "start it with: pg_ctl -D %s -o \"-p PORT\" start\n", r.to)
}

// removeRestored removes what a failed restore wrote into dir (and dir,
// unless it existed before).
func removeRestored(dir string, existed bool) {
	if !existed {
		_ = os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// ParseRestoreTime reads --time: restore.ParseTime.
func ParseRestoreTime(s string) (time.Time, error) { return restore.ParseTime(s) }

// lsnAt asks a running pagemill for the LSN of the database as of t: its
// lsn_at command, which answers one row whose first column is the LSN and
// whose second, if any, the commit time of that state.
func lsnAt(ctx context.Context, conn *pgconn.PgConn, t time.Time) (schema.LSN, string, error) {
	q := "lsn_at '" + t.UTC().Format("2006-01-02 15:04:05.999999Z07:00") + "'"
	res, err := conn.Exec(ctx, q).ReadAll()
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", q, err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 || len(res[0].Rows[0]) == 0 {
		return 0, "", fmt.Errorf("%s: no row in the answer", q)
	}
	row := res[0].Rows[0]
	lsn, err := schema.ParseLSN(string(row[0]))
	if err != nil {
		return 0, "", fmt.Errorf("%s: answer %q: %w", q, row[0], err)
	}
	commit := ""
	if len(row) > 1 {
		commit = string(row[1])
	}
	return lsn, commit, nil
}

// restoreProgress is the progress bar's line.
func restoreProgress(done, total int64, elapsed time.Duration) string {
	mb := float64(done) / 1e6
	rate := mb / max(elapsed.Seconds(), 1e-3)
	if total <= 0 {
		return fmt.Sprintf("restore: %.1f MB, %.1f MB/s", mb, rate)
	}
	eta := "?"
	if rate > 0 && total > done {
		eta = (time.Duration(float64(total-done)/1e6/rate*float64(time.Second)) + time.Second/2).Truncate(time.Second).String()
	} else if total <= done {
		eta = "0s"
	}
	return fmt.Sprintf("restore: %.1f / %.1f MB (%.0f%%), %.1f MB/s, ETA %s", mb, float64(total)/1e6, 100*float64(done)/float64(total), rate, eta)
}

// untarResult is what untarFrom wrote.
type untarResult struct {
	lsn       schema.LSN // from the archive's comment (0 if none)
	files     int
	bytes     int64
	zeroPages int64
}

// untarFrom unpacks into dir the tar archive that produce writes, produce
// running on its own goroutine with the writing end of a pipe. The stream
// is read to its end (the archive's trailer too), so produce never blocks
// on bytes nobody reads; when unpacking fails, the pipe is closed with
// that error so produce stops. Files are written without syncing; one
// sync of the file system follows the last. got counts the bytes of the
// files so far, total is set from the archive's comment (see
// restore.ParseTarComment).
func untarFrom(dir string, produce func(io.Writer) error, got, total *atomic.Int64) (res untarResult, unpackErr, produceErr error) {
	pr, pw := io.Pipe()
	produced := make(chan error, 1)
	go func() {
		err := produce(pw)
		pw.CloseWithError(err)
		produced <- err
	}()
	res, unpackErr = untar(pr, dir, got, total)
	if unpackErr == nil {
		_, unpackErr = io.Copy(io.Discard, pr)
	}
	if unpackErr != nil {
		pr.CloseWithError(unpackErr)
	}
	produceErr = <-produced
	if unpackErr == nil && produceErr == nil {
		if err := restore.SyncTree(dir); err != nil {
			unpackErr = fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return res, unpackErr, produceErr
}

// untar writes a tar stream under dir: regular files and directories
// only, no path leaving dir, zero pages of files left as holes.
func untar(r io.Reader, dir string, got, total *atomic.Int64) (res untarResult, err error) {
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<20))
	buf := make([]byte, 1<<20)
	first := true
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		if first {
			first = false
			if lsn, n, ok := restore.ParseTarComment(hdr.PAXRecords["comment"]); ok {
				res.lsn = lsn
				total.Store(n)
			}
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return res, fmt.Errorf("archive entry %q leaves the data directory", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return res, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return res, err
			}
			n, zeros, err := writeSparse(p, tr, hdr.Size, buf, got)
			if err != nil {
				return res, fmt.Errorf("%s: %w", hdr.Name, err)
			}
			if n != hdr.Size {
				return res, fmt.Errorf("%s: %d bytes, the archive said %d", hdr.Name, n, hdr.Size)
			}
			res.files++
			res.bytes += n
			res.zeroPages += zeros
		default:
			return res, fmt.Errorf("archive entry %q of unexpected type %q", hdr.Name, hdr.Typeflag)
		}
	}
	return res, nil
}

// writeSparse writes r (size bytes) into a new file at path (it must not
// exist), leaving whole zero pages as holes; it returns the bytes read and
// the zero pages skipped.
func writeSparse(path string, r io.Reader, size int64, buf []byte, got *atomic.Int64) (int64, int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, 0, err
	}
	var off, zeros int64
	werr := f.Truncate(size)
	for werr == nil {
		n, rerr := io.ReadFull(r, buf)
		data := buf[:n]
		for i := 0; i < len(data) && werr == nil; {
			j := min(i+schema.BLCKSZ, len(data))
			if j-i == schema.BLCKSZ && isZeroBytes(data[i:j]) {
				zeros++
				i = j
				continue
			}
			// A run of non-zero pages in one write.
			for j < len(data) {
				k := min(j+schema.BLCKSZ, len(data))
				if k-j == schema.BLCKSZ && isZeroBytes(data[j:k]) {
					break
				}
				j = k
			}
			_, werr = f.WriteAt(data[i:j], off+int64(i))
			i = j
		}
		off += int64(n)
		got.Add(int64(n))
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil && werr == nil {
			werr = rerr
		}
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return off, zeros, werr
}

var zeroBlock = make([]byte, schema.BLCKSZ)

func isZeroBytes(b []byte) bool { return string(b) == string(zeroBlock[:len(b)]) }

// chownTree gives dir and everything in it to user name.
func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--owner: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("--owner %s: uid %q gid %q", name, u.Uid, u.Gid)
	}
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
