package scratchpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DefaultBinDir is where Debian's PostgreSQL 15 packages put their programs.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// BinDirEnv names the environment variable that overrides [DefaultBinDir].
const BinDirEnv = "PAGEMILL_PG_BIN"

// ServerUser is the system user that runs the server-side programs when the
// current process is root.
const ServerUser = "postgres"

// BinDir returns the directory holding the PostgreSQL programs: the value of
// PAGEMILL_PG_BIN when set and non-empty, else [DefaultBinDir].
func BinDir() string {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	return DefaultBinDir
}

// NotInstalledError reports that PostgreSQL 15's programs are not where
// pgtest looks for them. Its message says how to install them.
type NotInstalledError struct {
	BinDir  string
	Missing string // the first program not found
}

func (e *NotInstalledError) Error() string {
	return fmt.Sprintf("PostgreSQL 15 is not installed in %s (no %s): run ./scripts/demo.sh or ./scripts/test.sh, "+
		"which install it when run as root, or install it yourself with "+
		"`sudo apt-get install -y postgresql-15 postgresql-contrib`, or set %s to the bin directory of a PostgreSQL 15",
		e.BinDir, e.Missing, BinDirEnv)
}

// CheckInstalled reports a *NotInstalledError unless binDir holds the
// programs a scratch cluster needs.
func CheckInstalled(binDir string) error {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(binDir, name)); err != nil || fi.IsDir() {
			return &NotInstalledError{BinDir: binDir, Missing: name}
		}
	}
	return nil
}

// runsAsServerUser reports whether program name must run as [ServerUser]
// when the current process is root: these refuse to run as root or must
// create files owned by the server's user.
func runsAsServerUser(name string) bool {
	switch name {
	case "initdb", "pg_ctl", "postgres", "postmaster", "pg_checksums",
		"pg_resetwal", "pg_rewind", "pg_upgrade":
		return true
	}
	return false
}

// serverCredential returns the credential to run server-side programs with:
// nil when the current process is not root, else the postgres user's.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(ServerUser)
	if err != nil {
		return nil, fmt.Errorf("running as root needs the %q system user to run the server: %w", ServerUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: bad uid %q: %w", ServerUser, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: bad gid %q: %w", ServerUser, u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}, nil
}

// Command returns an exec.Cmd that runs program name from the cluster's bin
// directory with the package's environment (see the package doc), in the
// cluster directory, and as the postgres user when that is needed (see the
// package doc). Use it for long-running programs such as pg_receivewal;
// for the rest [Cluster.RunBin] is simpler.
func (c *Cluster) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.baseDir
	asServer := c.cred != nil && runsAsServerUser(name)
	cmd.Env = c.environ(asServer)
	if asServer {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// RunBin runs program name from the cluster's bin directory (for example
// "pg_waldump" or "pg_controldata") like [Cluster.Command] and returns its
// combined standard output and standard error. On failure the error also
// quotes the end of that output; the output is returned either way (pg_waldump,
// for one, exits non-zero when it reaches the end of valid WAL).
func (c *Cluster) RunBin(ctx context.Context, name string, args ...string) ([]byte, error) {
	if name == "" || filepath.Base(name) != name {
		return nil, fmt.Errorf("pgtest: RunBin: %q is not a program name", name)
	}
	out, err := c.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tailString(string(out), 40, 4096))
	}
	return out, nil
}

// environ returns the environment for programs run by the package.
func (c *Cluster) environ(asServer bool) []string {
	env := make([]string, 0, len(os.Environ())+8)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_ALL=") ||
			(asServer && strings.HasPrefix(kv, "HOME=")) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"LC_ALL=C",
		"PGHOST=127.0.0.1",
		"PGUSER=postgres",
		"PGDATABASE=postgres",
		"PGSSLMODE=disable",
		"PGDATA="+c.dataDir,
	)
	if c.port != 0 {
		env = append(env, "PGPORT="+strconv.Itoa(c.port))
	}
	if asServer {
		// The caller's home is usually not readable by the postgres user.
		env = append(env, "HOME="+c.baseDir)
	}
	return env
}

// exitCode returns the exit status carried by err, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// tailString returns at most the last maxLines lines and maxBytes bytes of s.
func tailString(s string, maxLines, maxBytes int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	lines := strings.Split(s, "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}
