package scratchpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures a scratch cluster. The zero value is a sensible test
// cluster (see the package doc for the defaults).
type Options struct {
	// WALLevel is wal_level: "minimal", "replica" (default) or "logical".
	WALLevel string
	// FullPageWrites is full_page_writes; nil means on.
	FullPageWrites *bool
	// WALCompression is wal_compression: "off", "pglz", "lz4" or "zstd";
	// empty leaves the server default (off).
	WALCompression string
	// WALConsistencyChecking is wal_consistency_checking, e.g. "all";
	// empty leaves it unset.
	WALConsistencyChecking string
	// DataChecksums runs initdb with -k.
	DataChecksums bool
	// WALSegSizeMB is initdb --wal-segsize in megabytes: a power of two
	// from 1 to 1024. Zero means 16.
	WALSegSizeMB int
	// ExtraConf holds further postgresql.conf settings, unquoted. They
	// override the package's defaults and the fields above, except port and
	// unix_socket_directories, which the package always sets itself.
	ExtraConf map[string]string
	// Logf receives the package's progress messages. Nil means t.Logf for
	// [Start] and nothing for [New].
	Logf func(format string, args ...any)
	// BinDir overrides [BinDir] for this cluster.
	BinDir string
	// Fill, when set, fills the (empty, existing) data directory instead
	// of initdb — e.g. with a restored backup. The files are then given to
	// the server's user, pgtest.conf is rewritten with this cluster's port
	// and settings, and the server starts on them.
	Fill func(dataDir string) error
	// Stopped creates (or fills) the cluster and picks its port without
	// starting the server: the first [Cluster.Restart] starts it. A filled
	// data directory of a crashed server then runs its crash recovery
	// there, where the caller can time it.
	Stopped bool
}

// Cluster is a running (or stopped) scratch PostgreSQL cluster. Its methods
// are safe for concurrent use.
type Cluster struct {
	binDir   string
	baseDir  string // the pgtest-* directory holding everything
	dataDir  string
	logFile  string
	segSize  int // bytes
	settings map[string]string
	cred     *syscall.Credential // nil unless root
	logf     func(format string, args ...any)
	port     int // set before the first start, fixed afterwards

	mu      sync.Mutex // guards running, closed and the server's lifecycle
	running bool
	closed  bool
}

// New creates and starts a cluster. ctx bounds only the creation; the
// caller must call [Cluster.Close] to stop the server and remove its files.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return c, nil
}

func newCluster(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{
		binDir: opts.BinDir,
		logf:   opts.Logf,
	}
	if c.binDir == "" {
		c.binDir = BinDir()
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if err := CheckInstalled(c.binDir); err != nil {
		return nil, err
	}
	segMB := opts.WALSegSizeMB
	if segMB == 0 {
		segMB = 16
	}
	if segMB < 1 || segMB > 1024 || segMB&(segMB-1) != 0 {
		return nil, fmt.Errorf("WALSegSizeMB %d is not a power of two from 1 to 1024", opts.WALSegSizeMB)
	}
	c.segSize = segMB << 20
	c.settings = settingsFor(opts)

	var err error
	if c.cred, err = serverCredential(); err != nil {
		return nil, err
	}
	if c.baseDir, err = makeBaseDir(c.cred); err != nil {
		return nil, err
	}
	c.dataDir = filepath.Join(c.baseDir, "data")
	c.logFile = filepath.Join(c.baseDir, "postgres.log")
	c.settings["unix_socket_directories"] = c.baseDir

	if opts.Fill != nil {
		err = c.fill(opts.Fill)
	} else {
		err = c.create(ctx, segMB, opts.DataChecksums)
	}
	if err != nil {
		c.discard()
		return nil, err
	}
	if opts.Stopped {
		if err := c.pickPort(); err != nil {
			c.discard()
			return nil, err
		}
		c.logf("pgtest: PostgreSQL cluster in %s, stopped, port %d", c.dataDir, c.port)
		return c, nil
	}
	if err := c.firstStart(ctx); err != nil {
		c.discard()
		return nil, err
	}
	c.logf("pgtest: PostgreSQL running in %s on 127.0.0.1:%d", c.dataDir, c.port)
	return c, nil
}

// settingsFor returns the postgresql.conf settings for opts, except port and
// unix_socket_directories.
func settingsFor(opts Options) map[string]string {
	s := map[string]string{
		"listen_addresses":      "127.0.0.1",
		"wal_level":             "replica",
		"full_page_writes":      "on",
		"max_wal_senders":       "10",
		"max_replication_slots": "10",
		"wal_keep_size":         "1GB",
		"shared_buffers":        "32MB",
		"fsync":                 "on",
	}
	if opts.WALLevel != "" {
		s["wal_level"] = opts.WALLevel
	}
	if s["wal_level"] == "minimal" {
		// The server refuses to start otherwise.
		s["max_wal_senders"] = "0"
	}
	if opts.FullPageWrites != nil && !*opts.FullPageWrites {
		s["full_page_writes"] = "off"
	}
	if opts.WALCompression != "" {
		s["wal_compression"] = opts.WALCompression
	}
	if opts.WALConsistencyChecking != "" {
		s["wal_consistency_checking"] = opts.WALConsistencyChecking
	}
	for k, v := range opts.ExtraConf {
		s[k] = v
	}
	return s
}

// makeBaseDir makes the cluster directory, mode 0755 and owned by the
// server's user when cred is set, under a temporary directory that user can
// reach.
func makeBaseDir(cred *syscall.Credential) (string, error) {
	parent := os.TempDir()
	if cred != nil && !traversable(parent, cred) {
		if !traversable("/tmp", cred) {
			return "", fmt.Errorf("neither %s nor /tmp is reachable by user %s; set TMPDIR", parent, ServerUser)
		}
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "pgtest-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// traversable reports whether the user in cred can search dir and all its
// parents, judging by their permission bits.
func traversable(dir string, cred *syscall.Credential) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			return false
		}
		perm := fi.Mode().Perm()
		ok := perm&0o001 != 0
		if st, isUnix := fi.Sys().(*syscall.Stat_t); isUnix {
			switch {
			case st.Uid == cred.Uid:
				ok = perm&0o100 != 0
			case st.Gid == cred.Gid:
				ok = perm&0o010 != 0
			}
		}
		if !ok {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// create runs initdb and writes the configuration files.
func (c *Cluster) create(ctx context.Context, segMB int, checksums bool) error {
	args := []string{
		"-D", c.dataDir,
		"--auth=trust", "-U", "postgres",
		"--encoding=UTF8", "--locale=C",
		"--wal-segsize=" + strconv.Itoa(segMB),
		"--no-sync", "--no-instructions",
	}
	if checksums {
		args = append(args, "-k")
	}
	c.logf("pgtest: initdb %s", strings.Join(args, " "))
	if out, err := c.Command(ctx, "initdb", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, tailString(string(out), 40, 4096))
	}
	hba := "# written by pagemill pgtest\n" +
		"local all         all                trust\n" +
		"local replication all                trust\n" +
		"host  all         all  127.0.0.1/32  trust\n" +
		"host  replication all  127.0.0.1/32  trust\n" +
		"host  all         all  ::1/128       trust\n" +
		"host  replication all  ::1/128       trust\n"
	if err := c.writeFile(filepath.Join(c.dataDir, "pg_hba.conf"), hba); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, "\n# added by pagemill pgtest\ninclude 'pgtest.conf'\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fill makes the data directory with fn instead of initdb.
func (c *Cluster) fill(fn func(string) error) error {
	if err := os.Mkdir(c.dataDir, 0o700); err != nil {
		return err
	}
	if err := fn(c.dataDir); err != nil {
		return fmt.Errorf("filling the data directory: %w", err)
	}
	if err := os.Chmod(c.dataDir, 0o700); err != nil {
		return err
	}
	if c.cred == nil {
		return nil
	}
	return filepath.WalkDir(c.dataDir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.cred.Uid), int(c.cred.Gid))
	})
}

// writeConf writes data/pgtest.conf with the current settings and port.
func (c *Cluster) writeConf() error {
	var b strings.Builder
	b.WriteString("# written by pagemill pgtest; included from postgresql.conf\n")
	keys := make([]string, 0, len(c.settings)+1)
	for k := range c.settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, quoteConf(c.settings[k]))
	}
	fmt.Fprintf(&b, "port = %d\n", c.port)
	return c.writeFile(filepath.Join(c.dataDir, "pgtest.conf"), b.String())
}

// quoteConf quotes v as a postgresql.conf value.
func quoteConf(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `''`)
	return "'" + v + "'"
}

// writeFile writes a file in the data directory, owned by the server's user.
func (c *Cluster) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// firstStart picks a port and starts the server, picking another port when
// the server could not bind the one it was given.
func (c *Cluster) firstStart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	const attempts = 5
	for attempt := 1; ; attempt++ {
		if err := c.pickPortLocked(); err != nil {
			return err
		}
		err := c.startLocked(ctx)
		if err == nil {
			return nil
		}
		if attempt == attempts || !isBindFailure(err.Error()) {
			return err
		}
		c.logf("pgtest: port %d was taken, retrying with another", c.port)
	}
}

// pickPort is pickPortLocked for a cluster that is not started yet
// (Options.Stopped): the first Restart starts it on that port.
func (c *Cluster) pickPort() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pickPortLocked()
}

// pickPortLocked picks a free port and writes it into the configuration.
// c.mu must be held.
func (c *Cluster) pickPortLocked() error {
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("finding a free port: %w", err)
	}
	c.port = port
	return c.writeConf()
}

// isBindFailure reports whether a start error says the port was in use.
func isBindFailure(msg string) bool {
	return strings.Contains(msg, "could not bind") ||
		strings.Contains(msg, "Address already in use") ||
		strings.Contains(msg, "could not create any TCP/IP sockets")
}

// EnvServerCgroup names an environment variable: when set, to the
// cgroup.procs file of a cgroup (writable by the server's user), servers
// start in that cgroup.
const EnvServerCgroup = "PAGEMILL_PG_CGROUP_PROCS"

// startLocked runs pg_ctl start. c.mu must be held.
func (c *Cluster) startLocked(ctx context.Context) error {
	var logOffset int64
	if fi, err := os.Stat(c.logFile); err == nil {
		logOffset = fi.Size()
	}
	c.logf("pgtest: pg_ctl start (port %d)", c.port)
	cmd := c.Command(ctx, "pg_ctl", "-w", "-t", "60", "-D", c.dataDir, "-l", c.logFile, "start")
	if procs := os.Getenv(EnvServerCgroup); procs != "" {
		// The server and its children in that cgroup from their start (a
		// benchmark holds pagemill in a memory cgroup, the reference out
		// of it).
		cmd.Args = append([]string{"sh", "-c", `echo $$ > "$0" && exec "$@"`, procs, cmd.Path}, cmd.Args[1:]...)
		cmd.Path = "/bin/sh"
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		// A pg_ctl that timed out or was killed may leave a server behind.
		c.pgctlStop(context.Background(), "immediate")
		tail, terr := c.logTail(logOffset)
		if terr != nil {
			tail = terr.Error()
		}
		return fmt.Errorf("pg_ctl start: %w\n%s\nserver log %s:\n%s",
			err, strings.TrimSpace(string(out)), c.logFile, tail)
	}
	c.running = true
	return nil
}

// pgctlStop runs pg_ctl stop in the given mode.
func (c *Cluster) pgctlStop(ctx context.Context, mode string) error {
	out, err := c.Command(ctx, "pg_ctl", "-w", "-t", "60", "-D", c.dataDir, "-m", mode, "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl -m %s stop: %w\n%s", mode, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stopLocked stops the server in the given mode. c.mu must be held.
func (c *Cluster) stopLocked(mode string) error {
	if !c.running {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c.logf("pgtest: pg_ctl -m %s stop", mode)
	err := c.pgctlStop(ctx, mode)
	if err != nil {
		// Treat a server that is already gone (pg_ctl status exit code 3,
		// e.g. after a crash) as stopped.
		serr := c.Command(ctx, "pg_ctl", "-D", c.dataDir, "status").Run()
		if exitCode(serr) != 3 {
			return err
		}
	}
	c.running = false
	return nil
}

var errClosed = errors.New("pgtest: cluster is closed")

// Stop stops the server with pg_ctl -m fast stop. Stopping a stopped server
// does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	return c.stopLocked("fast")
}

// StopImmediate stops the server with pg_ctl -m immediate stop, which
// behaves like a crash: the next start runs crash recovery.
func (c *Cluster) StopImmediate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	return c.stopLocked("immediate")
}

// Restart stops the server (fast) if it is running and starts it again on
// the same port. It also starts a server stopped by [Cluster.Stop] or
// [Cluster.StopImmediate].
func (c *Cluster) Restart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	if err := c.stopLocked("fast"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return c.startLocked(ctx)
}

// Running reports whether the server was started and not since stopped by
// this package.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// Close stops the server (fast, then immediate if that fails) and removes
// the cluster directory. Further calls do nothing and return nil.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	if err := c.stopLocked("fast"); err != nil {
		if err2 := c.stopLocked("immediate"); err2 != nil {
			errs = append(errs, err, err2)
		}
	}
	if err := os.RemoveAll(c.baseDir); err != nil {
		errs = append(errs, err)
	}
	c.logf("pgtest: removed %s", c.baseDir)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgtest: close: %w", err)
	}
	return nil
}

// discard removes a cluster whose creation failed.
func (c *Cluster) discard() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.running {
		c.stopLocked("immediate")
	}
	os.RemoveAll(c.baseDir)
}

// logTail returns the end of the server log from byte offset on.
func (c *Cluster) logTail(offset int64) (string, error) {
	f, err := os.Open(c.logFile)
	if err != nil {
		return "", err
	}
	defer f.Close()
	const maxBytes = 8192
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Size()-offset > maxBytes {
		offset = fi.Size() - maxBytes
	}
	b, err := io.ReadAll(io.NewSectionReader(f, offset, fi.Size()-offset))
	if err != nil {
		return "", err
	}
	return tailString(string(b), 60, maxBytes), nil
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// LogTail returns the last lines of the server log.
func (c *Cluster) LogTail() (string, error) { return c.logTail(0) }

// DataDir returns the data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// WALDir returns the WAL directory, DataDir()/pg_wal.
func (c *Cluster) WALDir() string { return filepath.Join(c.dataDir, "pg_wal") }

// LogFile returns the server log file written by pg_ctl -l.
func (c *Cluster) LogFile() string { return c.logFile }

// BinDir returns the directory the cluster's programs come from.
func (c *Cluster) BinDir() string { return c.binDir }

// WALSegmentSize returns the WAL segment size in bytes.
func (c *Cluster) WALSegmentSize() int { return c.segSize }
