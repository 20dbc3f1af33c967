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
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagemill/pagemill/schema"
)

// Restore is `pagemill restore --from ADDR --lsn LSN --to DIR`: fetch a
// data directory as of LSN from a running pagemill (its basebackup
// command), unpack it into DIR and check it, so that
// `pg_ctl -D DIR start` starts PostgreSQL at that LSN.
func Restore(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "restore", "--from HOST:PORT --lsn LSN|latest --to DIR")
	from := fs.String("from", "127.0.0.1:6400", "pgwire address of a running pagemill (run or demo)")
	lsnFlag := fs.String("lsn", "latest", "the LSN to restore at (default: the newest applied)")
	to := fs.String("to", "", "the data directory to create (must not exist or be empty)")
	user := fs.String("user", "pagemill", "user name (a password, if the server asks, comes from PGPASSWORD)")
	owner := fs.String("owner", "", "give the data directory to this user (needed when restoring as root: PostgreSQL refuses to run as root)")
	timeout := fs.Duration("timeout", 0, "give up after this long (default: no limit)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(env.Stderr, "pagemill restore: %v\n", err)
		return code
	}
	if *to == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	lsnArg := "latest"
	if !strings.EqualFold(*lsnFlag, "latest") {
		l, err := schema.ParseLSN(*lsnFlag)
		if err != nil {
			return fail(2, err)
		}
		lsnArg = l.String()
	}
	if ents, err := os.ReadDir(*to); err == nil && len(ents) > 0 {
		return fail(2, fmt.Errorf("%s exists and is not empty", *to))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(1, err)
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	host, port, err := net.SplitHostPort(*from)
	if err != nil {
		return fail(2, fmt.Errorf("--from %q: %w", *from, err))
	}
	began := time.Now()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s sslmode=disable", host, port, *user))
	if err != nil {
		return fail(2, err)
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return fail(1, fmt.Errorf("connect to %s: %w", *from, err))
	}
	defer conn.Close(context.Background())
	if err := os.MkdirAll(*to, 0o700); err != nil {
		return fail(1, err)
	}
	files, bytes, err, copyErr := untarFrom(*to, func(w io.Writer) error {
		_, err := conn.CopyTo(ctx, w, "basebackup "+lsnArg)
		return err
	})
	if err != nil {
		return fail(1, fmt.Errorf("unpack into %s: %w", *to, err))
	}
	if copyErr != nil {
		return fail(1, fmt.Errorf("basebackup from %s: %w", *from, copyErr))
	}
	cf, err := checkDataDir(*to)
	if err != nil {
		return fail(1, fmt.Errorf("the restored data directory is not usable: %w", err))
	}
	if *owner != "" {
		if err := chownTree(*to, *owner); err != nil {
			return fail(1, err)
		}
	}
	fmt.Fprintf(env.Stdout, "restored %s: %d files, %.1f MB in %.1fs; PostgreSQL starts at checkpoint %s (redo %s) and replays to the end of pg_wal\n",
		*to, files, float64(bytes)/1e6, time.Since(began).Seconds(), cf.CheckPoint, cf.CheckPointCopy.Redo)
	fmt.Fprintf(env.Stdout, "start it with: pg_ctl -D %s -o \"-p PORT\" start\n", *to)
	return 0
}

// untarFrom unpacks into dir the tar archive that produce writes, produce
// running on its own goroutine with the writing end of a pipe. The stream
// is read to its end (the archive's trailer too), so produce never blocks
// on bytes nobody reads; when unpacking fails, the pipe is closed with
// that error so produce stops. unpackErr is unpacking's failure,
// produceErr produce's.
func untarFrom(dir string, produce func(io.Writer) error) (files int, bytes int64, unpackErr, produceErr error) {
	pr, pw := io.Pipe()
	produced := make(chan error, 1)
	go func() {
		err := produce(pw)
		pw.CloseWithError(err)
		produced <- err
	}()
	files, bytes, unpackErr = untar(pr, dir)
	if unpackErr == nil {
		_, unpackErr = io.Copy(io.Discard, pr)
	}
	if unpackErr != nil {
		pr.CloseWithError(unpackErr)
	}
	return files, bytes, unpackErr, <-produced
}

// untar writes a tar stream under dir: regular files and directories
// only, no path leaving dir; each file is synced.
func untar(r io.Reader, dir string) (files int, bytes int64, err error) {
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<20))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return files, bytes, err
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return files, bytes, fmt.Errorf("archive entry %q leaves the data directory", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return files, bytes, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return files, bytes, err
			}
			n, err := writeFileSync(p, tr, 0o600)
			if err != nil {
				return files, bytes, fmt.Errorf("%s: %w", hdr.Name, err)
			}
			if n != hdr.Size {
				return files, bytes, fmt.Errorf("%s: %d bytes, the archive said %d", hdr.Name, n, hdr.Size)
			}
			files++
			bytes += n
		default:
			return files, bytes, fmt.Errorf("archive entry %q of unexpected type %q", hdr.Name, hdr.Typeflag)
		}
	}
	return files, bytes, nil
}

// writeFileSync writes r into a new file at path (it must not exist) and
// fsyncs it: a restored data directory is durable before PostgreSQL
// starts on it.
func writeFileSync(path string, r io.Reader, mode os.FileMode) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// checkDataDir checks what PostgreSQL needs to start: PG_VERSION, a valid
// pg_control, and the WAL segments holding its checkpoint's redo point
// and checkpoint record.
func checkDataDir(dir string) (*schema.ControlFile, error) {
	if v, err := os.ReadFile(filepath.Join(dir, "PG_VERSION")); err != nil {
		return nil, err
	} else if strings.TrimSpace(string(v)) != "15" {
		return nil, fmt.Errorf("PG_VERSION says %q, want 15", strings.TrimSpace(string(v)))
	}
	cf, err := schema.ReadControlFile(filepath.Join(dir, "global", "pg_control"))
	if err != nil {
		return nil, err
	}
	tli := cf.CheckPointCopy.ThisTimeLineID
	for _, lsn := range []schema.LSN{cf.CheckPointCopy.Redo, cf.CheckPoint} {
		seg := schema.XLogSegNo(uint64(lsn) / uint64(cf.XLogSegSize))
		name := schema.XLogFileName(tli, seg, cf.XLogSegSize)
		st, err := os.Stat(filepath.Join(dir, "pg_wal", name))
		if err != nil {
			return nil, fmt.Errorf("WAL segment for %s: %w", lsn, err)
		}
		if st.Size() != int64(cf.XLogSegSize) {
			return nil, fmt.Errorf("WAL segment %s: %d bytes, want %d", name, st.Size(), cf.XLogSegSize)
		}
	}
	for _, d := range []string{"global", "base", "pg_xact", "pg_multixact/offsets", "pg_wal"} {
		if st, err := os.Stat(filepath.Join(dir, d)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("directory %s missing", d)
		}
	}
	return cf, nil
}

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
