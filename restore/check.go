package restore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pagemill/pagemill/schema"
)

// CheckDataDir checks what PostgreSQL needs to start: PG_VERSION, a valid
// pg_control, and the WAL segments holding its checkpoint's redo point
// and checkpoint record.
func CheckDataDir(dir string) (*schema.ControlFile, error) {
	if v, err := os.ReadFile(filepath.Join(dir, "PG_VERSION")); err != nil {
		return nil, err
	} else if strings.TrimSpace(string(v)) != "15" {
		return nil, fmt.Errorf("PG_VERSION says %q, want 15", strings.TrimSpace(string(v)))
	}
	cf, err := schema.ReadControlFile(os.DirFS(dir))
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
	if cf.State == schema.DBShutdowned && cf.CheckPointCopy.Redo != cf.CheckPoint {
		return nil, fmt.Errorf("pg_control says shut down, but its checkpoint at %s has its redo point at %s", cf.CheckPoint, cf.CheckPointCopy.Redo)
	}
	for _, d := range []string{"global", "base", "pg_xact", "pg_multixact/offsets", "pg_wal"} {
		if st, err := os.Stat(filepath.Join(dir, d)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("directory %s missing", d)
		}
	}
	return cf, nil
}
