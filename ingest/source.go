package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagemill/pagemill/schema"
)

// ErrBadSource is matched by errors about the source that retrying cannot
// fix: wrong credentials, not PostgreSQL 15, wal_level too low, no
// replication permission, a slot used by someone else.
var ErrBadSource = errors.New("unusable source")

// ErrSlotInUse is matched (besides ErrBadSource) when another receiver
// streams from the slot. Run retries it for Config.SlotBusyGrace first: the
// walsender of a crashed earlier pagemill may not have noticed yet.
var ErrSlotInUse = errors.New("replication slot in use")

// SourceError explains why the source cannot be followed.
type SourceError struct {
	Reason   string
	Err      error
	slotBusy bool
}

func (e *SourceError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("source: %s: %v", e.Reason, e.Err)
	}
	return "source: " + e.Reason
}

// Is makes SourceError match ErrBadSource, and ErrSlotInUse when that is
// the reason.
func (e *SourceError) Is(target error) bool {
	return target == ErrBadSource || (e.slotBusy && target == ErrSlotInUse)
}

func (e *SourceError) Unwrap() error { return e.Err }

// SourceInfo is what IDENTIFY_SYSTEM and a few SHOWs tell about the source.
type SourceInfo struct {
	SystemID      uint64
	Timeline      schema.TimeLineID
	XLogPos       schema.LSN
	ServerVersion string
	SegSize       uint32
	WALLevel      string
	DataChecksums bool
}

// permanentSQLState names errors that no retry fixes.
func permanentSQLState(code string) (string, bool) {
	switch code {
	case "28P01":
		return "authentication failed", true
	case "28000":
		return "not authorized (check pg_hba.conf and the REPLICATION attribute)", true
	case "3D000":
		return "database does not exist", true
	case "42501":
		return "permission denied (the role needs the REPLICATION attribute)", true
	case "55000":
		return "object not in prerequisite state", true
	}
	return "", false
}

// classify wraps a connection or command error as a SourceError when it is
// permanent.
func classify(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if reason, ok := permanentSQLState(pgErr.Code); ok {
			return &SourceError{Reason: what + ": " + reason, Err: err}
		}
		if pgErr.Code == "08P01" && strings.Contains(pgErr.Message, "max_wal_senders") {
			return &SourceError{Reason: what + ": replication is disabled (max_wal_senders = 0 or wal_level = minimal)", Err: err}
		}
		// 53300 is permanent only when the source allows no WAL sender at
		// all. Any other (every WAL sender busy, too many clients) passes,
		// e.g. once the walsender of a crashed earlier connection exits.
		if pgErr.Code == "53300" && strings.Contains(pgErr.Message, "max_wal_senders (currently 0)") {
			return &SourceError{Reason: what + ": replication is disabled (max_wal_senders = 0, as wal_level = minimal requires)", Err: err}
		}
		if pgErr.Code == "55006" {
			return &SourceError{Reason: what + ": the replication slot is in use by another receiver", Err: err, slotBusy: true}
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// connectReplication opens a physical replication connection; connString
// is an ordinary libpq URL or key/value string, and the replication
// parameter is added here.
//
// A connection string that asks for a kind of server (libpq's
// target_session_attrs, e.g. read-write with several hosts after a
// failover) is checked with SQL, which a replication connection refuses;
// so the server is found first over ordinary connections, one host at a
// time, and the replication connection opened to the one that passed.
func connectReplication(ctx context.Context, connString string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return nil, &SourceError{Reason: "invalid connection string", Err: err}
	}
	if cfg.ValidateConnect != nil {
		if cfg, err = findServer(ctx, cfg); err != nil {
			return nil, err
		}
	}
	cfg.RuntimeParams["replication"] = "true"
	cfg.RuntimeParams["application_name"] = "pagemill"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classify("connect", err)
	}
	return conn, nil
}

// findServer tries cfg's hosts in order over ordinary connections and
// returns cfg narrowed to the first that passes its ValidateConnect (the
// primary, for target_session_attrs=read-write), without the check.
func findServer(ctx context.Context, cfg *pgconn.Config) (*pgconn.Config, error) {
	hosts := []*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}
	hosts = append(hosts, cfg.Fallbacks...)
	var errs []error
	for _, h := range hosts {
		c := cfg.Copy()
		c.Host, c.Port, c.TLSConfig, c.Fallbacks = h.Host, h.Port, h.TLSConfig, nil
		conn, err := pgconn.ConnectConfig(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", h.Host, h.Port, err))
			continue
		}
		conn.Close(ctx)
		c.ValidateConnect = nil
		return c, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Transient: during a failover no host may be the primary yet.
	return nil, fmt.Errorf("no host of the source is the server asked for (target_session_attrs): %w", errors.Join(errs...))
}

// timelineHistory runs TIMELINE_HISTORY for tli and returns the history
// file's content.
func timelineHistory(ctx context.Context, conn *pgconn.PgConn, tli schema.TimeLineID) ([]byte, error) {
	res, err := pglogrepl.TimelineHistory(ctx, conn, int32(tli))
	if err != nil {
		return nil, classify(fmt.Sprintf("TIMELINE_HISTORY %d", tli), err)
	}
	return res.Content, nil
}

// identify runs IDENTIFY_SYSTEM and checks that pagemill can follow the
// source: PostgreSQL 15, wal_level replica or logical.
func identify(ctx context.Context, conn *pgconn.PgConn) (SourceInfo, error) {
	var info SourceInfo
	info.ServerVersion = conn.ParameterStatus("server_version")
	major, _, _ := strings.Cut(info.ServerVersion, ".")
	if major != "15" {
		return info, &SourceError{Reason: fmt.Sprintf("the source is PostgreSQL %q; pagemill follows PostgreSQL 15 only", info.ServerVersion)}
	}
	rows, err := simpleQuery(ctx, conn, "IDENTIFY_SYSTEM")
	if err != nil {
		return info, classify("IDENTIFY_SYSTEM", err)
	}
	if len(rows) != 1 || len(rows[0]) < 3 {
		return info, fmt.Errorf("IDENTIFY_SYSTEM: unexpected result %v", rows)
	}
	if info.SystemID, err = strconv.ParseUint(rows[0][0], 10, 64); err != nil {
		return info, fmt.Errorf("IDENTIFY_SYSTEM: system id %q: %w", rows[0][0], err)
	}
	tli, err := strconv.ParseUint(rows[0][1], 10, 32)
	if err != nil {
		return info, fmt.Errorf("IDENTIFY_SYSTEM: timeline %q: %w", rows[0][1], err)
	}
	info.Timeline = schema.TimeLineID(tli)
	if info.XLogPos, err = schema.ParseLSN(rows[0][2]); err != nil {
		return info, fmt.Errorf("IDENTIFY_SYSTEM: xlogpos: %w", err)
	}
	if info.WALLevel, err = show(ctx, conn, "wal_level"); err != nil {
		return info, err
	}
	if info.WALLevel != "replica" && info.WALLevel != "logical" {
		return info, &SourceError{Reason: fmt.Sprintf("wal_level is %q; set wal_level = replica (or logical) on the source", info.WALLevel)}
	}
	seg, err := show(ctx, conn, "wal_segment_size")
	if err != nil {
		return info, err
	}
	if info.SegSize, err = parseSize(seg); err != nil || !schema.ValidWALSegSize(info.SegSize) {
		return info, fmt.Errorf("wal_segment_size %q: not a valid segment size (%v)", seg, err)
	}
	cs, err := show(ctx, conn, "data_checksums")
	if err != nil {
		return info, err
	}
	info.DataChecksums = cs == "on"
	return info, nil
}

// parseSize reads SHOW's memory units ("16MB", "1GB").
func parseSize(s string) (uint32, error) {
	mult := uint64(1)
	for suffix, m := range map[string]uint64{"kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, err
	}
	return uint32(n * mult), nil
}

func show(ctx context.Context, conn *pgconn.PgConn, name string) (string, error) {
	rows, err := simpleQuery(ctx, conn, "SHOW "+name)
	if err != nil {
		return "", classify("SHOW "+name, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return "", fmt.Errorf("SHOW %s: unexpected result %v", name, rows)
	}
	return rows[0][0], nil
}

// simpleQuery runs one command and returns its rows as text.
func simpleQuery(ctx context.Context, conn *pgconn.PgConn, sql string) ([][]string, error) {
	results, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, r := range results {
		if r.Err != nil {
			return nil, r.Err
		}
		for _, row := range r.Rows {
			vals := make([]string, len(row))
			for i, v := range row {
				vals[i] = string(v)
			}
			rows = append(rows, vals)
		}
	}
	return rows, nil
}

// slotState is READ_REPLICATION_SLOT's answer.
type slotState struct {
	Exists     bool
	Physical   bool
	RestartLSN schema.LSN
}

func readSlot(ctx context.Context, conn *pgconn.PgConn, name string) (slotState, error) {
	rows, err := simpleQuery(ctx, conn, "READ_REPLICATION_SLOT "+quoteIdent(name))
	if err != nil {
		return slotState{}, classify("READ_REPLICATION_SLOT", err)
	}
	if len(rows) != 1 || len(rows[0]) < 2 || rows[0][0] == "" {
		return slotState{}, nil
	}
	st := slotState{Exists: true, Physical: rows[0][0] == "physical"}
	if rows[0][1] != "" {
		st.RestartLSN, _ = schema.ParseLSN(rows[0][1])
	}
	return st, nil
}

// ensureSlot creates the physical slot, reserving WAL at once, if missing.
func ensureSlot(ctx context.Context, conn *pgconn.PgConn, name string) (created bool, st slotState, err error) {
	st, err = readSlot(ctx, conn, name)
	if err != nil {
		return false, st, err
	}
	if st.Exists {
		if !st.Physical {
			return false, st, &SourceError{Reason: fmt.Sprintf("replication slot %q exists but is not physical", name)}
		}
		return false, st, nil
	}
	if _, err := simpleQuery(ctx, conn, "CREATE_REPLICATION_SLOT "+quoteIdent(name)+" PHYSICAL (RESERVE_WAL true)"); err != nil {
		return false, st, classify("CREATE_REPLICATION_SLOT", err)
	}
	st, err = readSlot(ctx, conn, name)
	return true, st, err
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
