package ingest

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/pagemill/pagemill/schema"
)

// Tablespace OIDs of the two built-in tablespaces (pg_tablespace.dat).
const (
	// DefaultTablespaceOID is pg_default, stored under base/.
	DefaultTablespaceOID schema.Oid = 1663
	// GlobalTablespaceOID is pg_global, stored under global/.
	GlobalTablespaceOID schema.Oid = 1664
)

// RelSegBlocks is RELSEG_SIZE: the number of blocks in one relation segment
// file (1 GiB of 8 KiB pages). Segment n holds blocks n*RelSegBlocks onwards.
const RelSegBlocks = schema.RelSegSize

// tablespaceVersionPrefix starts TABLESPACE_VERSION_DIRECTORY
// ("PG_15_202209061" for PostgreSQL 15) inside a tablespace.
const tablespaceVersionPrefix = "PG_15_"

// RelationFile names the relation data a file of the data directory holds.
type RelationFile struct {
	RelFileNode schema.RelFileNode
	Fork        schema.ForkNumber
	// Segment is the segment number: 0 for the file without a suffix, n for
	// the ".n" file.
	Segment uint32
}

// FirstBlock is the block number of the file's first page.
func (r RelationFile) FirstBlock() schema.BlockNumber {
	return schema.BlockNumber(r.Segment) * RelSegBlocks
}

// String formats the file as "spc/db/rel fork seg", e.g. "1663/5/16384 vm 1".
func (r RelationFile) String() string {
	return fmt.Sprintf("%s %s %d", r.RelFileNode, r.Fork, r.Segment)
}

// ParseRelationPath recognises the relation data files of a data directory
// from their slash-separated path relative to the data directory:
//
//	global/<rel>[_fork][.seg]                          pg_global (1664), database 0
//	base/<db>/<rel>[_fork][.seg]                       pg_default (1663)
//	pg_tblspc/<spc>/PG_15_<catversion>/<db>/<rel>[...] tablespace <spc>
//
// where fork is fsm, vm or init (no suffix is the main fork) and seg is a
// segment number of 1 or more. Every number must be written the way
// PostgreSQL writes it: decimal without leading zeros, OIDs non-zero and
// within 32 bits. Anything else — pg_filenode.map, PG_VERSION,
// pg_internal.init, global/pg_control, temporary relations (t3_16384),
// pgsql_tmp files, "16384_vm.tmp", "16384.0", other major versions'
// tablespace directories — returns nil.
func ParseRelationPath(p string) *RelationFile {
	parts := strings.Split(p, "/")
	var (
		node schema.RelFileNode
		file string
		ok   bool
	)
	switch {
	case len(parts) == 2 && parts[0] == "global":
		node.SpcNode = GlobalTablespaceOID
		file = parts[1]
	case len(parts) == 3 && parts[0] == "base":
		node.SpcNode = DefaultTablespaceOID
		if node.DbNode, ok = parseOID(parts[1]); !ok {
			return nil
		}
		file = parts[2]
	case len(parts) == 5 && parts[0] == "pg_tblspc":
		if node.SpcNode, ok = parseOID(parts[1]); !ok {
			return nil
		}
		if !isTablespaceVersionDir(parts[2]) {
			return nil
		}
		if node.DbNode, ok = parseOID(parts[3]); !ok {
			return nil
		}
		file = parts[4]
	default:
		return nil
	}
	rel := RelationFile{Fork: schema.MainForkNum}
	name, seg, hasSeg := strings.Cut(file, ".")
	if hasSeg {
		n, ok := parseCanonicalUint32(seg)
		if !ok || n == 0 {
			return nil
		}
		rel.Segment = n
	}
	name, fork, hasFork := strings.Cut(name, "_")
	if hasFork {
		switch fork {
		case "fsm":
			rel.Fork = schema.FSMForkNum
		case "vm":
			rel.Fork = schema.VisibilityMapFork
		case "init":
			rel.Fork = schema.InitForkNum
		default:
			return nil
		}
	}
	if node.RelNode, ok = parseOID(name); !ok {
		return nil
	}
	rel.RelFileNode = node
	return &rel
}

// isTablespaceVersionDir reports whether s is "PG_15_" followed by a
// catalog version number.
func isTablespaceVersionDir(s string) bool {
	v, ok := strings.CutPrefix(s, tablespaceVersionPrefix)
	if !ok {
		return false
	}
	_, ok = parseCanonicalUint32(v)
	return ok
}

// parseOID parses a non-zero OID written without leading zeros.
func parseOID(s string) (schema.Oid, bool) {
	n, ok := parseCanonicalUint32(s)
	return n, ok && n != 0
}

// parseCanonicalUint32 parses a decimal uint32 written as PostgreSQL prints
// it: digits only, no sign, no leading zero (except "0" itself).
func parseCanonicalUint32(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// BackupLabel is the content of the backup_label file that PostgreSQL 15
// writes at the top of base.tar (do_pg_backup_start).
type BackupLabel struct {
	// StartLSN is START WAL LOCATION: the redo pointer of the backup's
	// checkpoint, where replay (or streaming) of the backup's WAL begins.
	StartLSN schema.LSN
	// StartWALFile is the segment file named on the START WAL LOCATION line.
	StartWALFile string
	// CheckpointLSN is CHECKPOINT LOCATION: the checkpoint record itself.
	CheckpointLSN schema.LSN
	BackupMethod  string // BACKUP METHOD, "streamed"
	BackupFrom    string // BACKUP FROM, "primary" or "standby"
	StartTime     string // START TIME, as the server formatted it
	Label         string // LABEL
	// StartTimeline is START TIMELINE; zero when the line is absent (it is
	// always present on PostgreSQL 11 and later).
	StartTimeline schema.TimeLineID
}

// ParseBackupLabel parses a backup_label file. START WAL LOCATION and
// CHECKPOINT LOCATION are required; unknown lines are ignored.
func ParseBackupLabel(b []byte) (BackupLabel, error) {
	var (
		l                       BackupLabel
		haveStart, haveCheckpnt bool
	)
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			return l, fmt.Errorf("backup_label line %d %q: want \"KEY: value\"", i+1, line)
		}
		var err error
		switch key {
		case "START WAL LOCATION":
			// "%X/%X (file %24s)"
			lsn, rest, _ := strings.Cut(val, " ")
			if l.StartLSN, err = schema.ParseLSN(lsn); err != nil {
				return l, fmt.Errorf("backup_label line %d: START WAL LOCATION: %w", i+1, err)
			}
			if file, ok := strings.CutPrefix(rest, "(file "); ok {
				l.StartWALFile = strings.TrimSuffix(file, ")")
			}
			haveStart = true
		case "CHECKPOINT LOCATION":
			if l.CheckpointLSN, err = schema.ParseLSN(val); err != nil {
				return l, fmt.Errorf("backup_label line %d: CHECKPOINT LOCATION: %w", i+1, err)
			}
			haveCheckpnt = true
		case "BACKUP METHOD":
			l.BackupMethod = val
		case "BACKUP FROM":
			l.BackupFrom = val
		case "START TIME":
			l.StartTime = val
		case "LABEL":
			l.Label = val
		case "START TIMELINE":
			tli, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return l, fmt.Errorf("backup_label line %d: START TIMELINE: %w", i+1, err)
			}
			l.StartTimeline = schema.TimeLineID(tli)
		}
	}
	switch {
	case !haveStart:
		return l, errors.New("backup_label has no START WAL LOCATION line")
	case !haveCheckpnt:
		return l, errors.New("backup_label has no CHECKPOINT LOCATION line")
	}
	return l, nil
}

// cleanEntryName checks a tar entry name from the server and returns it
// without the trailing slash PostgreSQL puts on directories and tablespace
// symlinks. The name must be a clean relative path: no leading slash, no
// "." or ".." elements, no empty elements, no NUL or backslash.
func cleanEntryName(name string) (string, error) {
	n := strings.TrimSuffix(name, "/")
	switch {
	case n == "":
		return "", errors.New("empty name")
	case strings.ContainsAny(n, "\x00\\"):
		return "", fmt.Errorf("name %q contains NUL or backslash", name)
	case path.IsAbs(n):
		return "", fmt.Errorf("absolute name %q", name)
	case path.Clean(n) != n:
		return "", fmt.Errorf("name %q is not a clean relative path", name)
	case n == ".." || strings.HasPrefix(n, "../"):
		return "", fmt.Errorf("name %q leaves the archive", name)
	}
	return n, nil
}
