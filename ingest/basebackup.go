package ingest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/schema"
)

// This file takes a base backup over a physical replication connection with
// the PostgreSQL 15 BASE_BACKUP protocol (src/backend/backup/basebackup_copy.c):
//
//  1. a result set with the start position (recptr text, tli int8);
//  2. a result set listing the tablespaces (spcoid oid, spclocation text,
//     size int8 in kB), with a row whose spcoid is NULL for the data
//     directory itself, always last;
//  3. one CopyOutResponse for everything, then CopyData messages whose
//     payload starts with a type byte: 'n' new archive (name\0 location\0),
//     'd' data of the current archive (or of the manifest after 'm'),
//     'p' progress (int64 bytes done), 'm' the manifest follows;
//  4. CopyDone, a result set with the end position, CommandComplete
//     "BASE_BACKUP" and ReadyForQuery.
//
// The archives are plain ustar (no WAL is requested: pagemill streams WAL
// from the start position itself). They are parsed as they arrive: each
// regular file is handed to the sink with a reader that pulls the next
// CopyData messages off the connection, so nothing is buffered beyond one
// message (and the backup_label file, which is small).
//
// pglogrepl's StartBaseBackup/NextTableSpace/FinishBaseBackup are not used:
// they follow the pre-15 protocol (one COPY per tablespace, no type byte),
// drop the NULL-spcoid row, store the size column in an int8, and turn an
// ErrorResponse in the first result set into a plain string error.

// BaseBackupSink receives the files of a base backup, in archive order:
// each tablespace's archive (<oid>.tar), then the data directory's
// (base.tar), which starts with backup_label and ends with
// global/pg_control.
type BaseBackupSink interface {
	// File is called for every regular file; r yields exactly f.Size bytes
	// (then io.EOF) and is valid only until File returns. The sink need not
	// read all of it. An error returned by File aborts the backup.
	File(ctx context.Context, f BackupFile, r io.Reader) error
}

// BackupFile describes one regular file of a base backup.
type BackupFile struct {
	// Path is relative to the data directory and slash-separated, e.g.
	// "base/5/16384", "global/pg_control", "pg_xact/0000"; a tablespace's
	// files are "pg_tblspc/<oid>/<path inside its archive>", e.g.
	// "pg_tblspc/16400/PG_15_202209061/5/16401". It is always a clean
	// relative path (no "..", no leading slash).
	Path    string
	Size    int64
	Mode    int64 // permission bits (mode & 07777)
	ModTime time.Time
	// Relation is non-nil for relation data files (see ParseRelationPath).
	Relation *RelationFile
}

// BaseBackupOptions configures TakeBaseBackup. The zero value is usable.
type BaseBackupOptions struct {
	// Label is the backup label (LABEL); default "pagemill base backup".
	// It may not contain a newline: it becomes a line of backup_label.
	Label string
	// SpreadCheckpoint asks for a spread checkpoint at the start of the
	// backup. The default (false) is CHECKPOINT 'fast'.
	SpreadCheckpoint bool
	// MaxRate limits the server's send rate in kB/s (MAX_RATE): 0 means
	// unlimited, otherwise 32 to 1048576.
	MaxRate int
	// ProgressInterval is how often progress is logged at Info; zero means
	// every 5 s, negative disables progress logging.
	ProgressInterval time.Duration
	// Manifest requests a backup manifest with CRC32C checksums (MANIFEST
	// 'yes'), keeps it in BaseBackupResult.Manifest, and checks every file
	// handed to the sink against it (size and checksum). A mismatch fails
	// the backup with ErrManifestMismatch. The manifest is held in memory
	// (about 150 bytes per file).
	Manifest bool
	// NoVerifyChecksums turns off the server's verification of data page
	// checksums (VERIFY_CHECKSUMS false). By default a cluster with data
	// checksums fails the backup, after sending it, if a page fails.
	NoVerifyChecksums bool
}

// Bounds of MAX_RATE (src/include/backup/basebackup.h).
const (
	MinBaseBackupMaxRate = 32
	MaxBaseBackupMaxRate = 1048576
)

const (
	defaultBackupLabel      = "pagemill base backup"
	defaultProgressInterval = 5 * time.Second
	maxBackupLabelFileSize  = 1 << 20
	maxManifestSize         = 1 << 30
	tarBlockSize            = 512
)

// BackupTablespace is a tablespace of the source, from the server's
// tablespace list and the archive it sent for it.
type BackupTablespace struct {
	OID      schema.Oid
	Location string // the symlink target of pg_tblspc/<oid> on the server
	// EstimatedBytes is the server's size estimate of the archive, or -1.
	EstimatedBytes int64
	Files          int   // regular files received
	Bytes          int64 // sum of their sizes
}

// BaseBackupMessageCounts counts the CopyData messages of the backup by
// type byte.
type BaseBackupMessageCounts struct {
	NewArchive   int // 'n'
	Data         int // 'd' carrying archive bytes
	Progress     int // 'p'
	Manifest     int // 'm'
	ManifestData int // 'd' carrying manifest bytes
}

// BaseBackupResult summarises a completed base backup.
type BaseBackupResult struct {
	// StartLSN is the backup's start position (the redo pointer of its
	// checkpoint, equal to backup_label's START WAL LOCATION): WAL from
	// here on makes the files consistent.
	StartLSN schema.LSN
	// EndLSN is the position the WAL must be replayed to before the backup
	// is consistent.
	EndLSN schema.LSN
	// Timeline is the start timeline; EndTimeline the end's.
	Timeline    schema.TimeLineID
	EndTimeline schema.TimeLineID
	// CheckpointLSN is backup_label's CHECKPOINT LOCATION.
	CheckpointLSN schema.LSN

	Files         int   // regular files handed to the sink
	Bytes         int64 // sum of their sizes
	RelationFiles int   // those with a non-nil Relation
	Pages         int64 // sum of relation file sizes / 8192

	// Label is backup_label's LABEL line; BackupLabel the whole file.
	Label       string
	BackupLabel []byte

	// Tablespaces lists the tablespaces other than pg_default and
	// pg_global, in archive order.
	Tablespaces []BackupTablespace
	// EstimatedBytes is the server's estimate of all archive bytes (the sum
	// of the tablespace sizes); ArchiveBytes what was received.
	EstimatedBytes int64
	ArchiveBytes   int64
	// Manifest is the backup manifest (JSON) when Options.Manifest was set.
	Manifest []byte
	Messages BaseBackupMessageCounts
	Duration time.Duration
}

// ErrMalformedBackup is matched (errors.Is) by a *BackupStreamError: the
// server's reply did not follow the protocol, an archive was not valid tar,
// or backup_label contradicted the reported start position.
var ErrMalformedBackup = errors.New("malformed base backup stream")

// ErrManifestMismatch: with Options.Manifest, a file received did not match
// the manifest (missing, extra, size or checksum differs).
var ErrManifestMismatch = errors.New("files do not match the backup manifest")

// BackupStreamError says what was wrong with a base backup stream and where.
type BackupStreamError struct {
	Archive string // the archive concerned ("base.tar", "16400.tar"), or ""
	Offset  int64  // byte offset inside the archive, or -1
	Reason  string // e.g. "tar header at byte 1536"
	Err     error  // underlying cause, if any
}

func (e *BackupStreamError) Error() string {
	var b strings.Builder
	b.WriteString("base backup: ")
	if e.Archive != "" {
		b.WriteString("archive ")
		b.WriteString(e.Archive)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *BackupStreamError) Unwrap() error { return e.Err }

// Is makes BackupStreamError match ErrMalformedBackup.
func (e *BackupStreamError) Is(target error) bool { return target == ErrMalformedBackup }

// SinkError wraps an error returned by BaseBackupSink.File.
type SinkError struct {
	File BackupFile
	Err  error
}

func (e *SinkError) Error() string {
	return fmt.Sprintf("base backup: sink: file %s: %v", e.File.Path, e.Err)
}

// Unwrap returns the sink's error.
func (e *SinkError) Unwrap() error { return e.Err }

// TakeBaseBackup runs BASE_BACKUP on conn, a physical replication
// connection (replication=true) to a PostgreSQL 15 or later server, and
// hands every regular file of the backup to sink. WAL is not included: the
// caller streams it from StartLSN (a replication slot created before the
// backup keeps it on the server) and must replay to at least EndLSN. The
// server is not asked to wait for WAL archiving (WAIT false).
//
// Errors: a server ErrorResponse is returned wrapped (errors.As finds the
// *pgconn.PgError); a sink error as a *SinkError; a malformed stream as a
// *BackupStreamError (ErrMalformedBackup); a file that differs from the
// manifest (Options.Manifest) as ErrManifestMismatch; cancellation of ctx
// as an error wrapping ctx.Err(). With an error, the result holds what was
// known so far (positions, counts). Whatever the sink received is not a
// usable backup unless TakeBaseBackup returns nil: in particular
// PostgreSQL reports data checksum failures (SQLSTATE XX001) only after
// the last file and the end position have been sent.
//
// Connection state afterwards: whenever the command ran to its
// ReadyForQuery — on success, after ErrManifestMismatch, and after a server
// error once ReadyForQuery has been read — conn is idle and reusable.
// After any other error (sink, malformed stream, cancellation, network) the
// server is still streaming the backup and the only way to stop it is to
// end the session, so conn is closed (the server then aborts the backup);
// the caller must not use it again (conn.IsClosed reports true).
func TakeBaseBackup(ctx context.Context, conn *pgconn.PgConn, opts BaseBackupOptions, sink BaseBackupSink, log *slog.Logger) (BaseBackupResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if conn == nil || sink == nil {
		return BaseBackupResult{}, errors.New("base backup: nil connection or sink")
	}
	opts = opts.withDefaults()
	cmd, err := opts.command()
	if err != nil {
		return BaseBackupResult{}, err
	}
	if conn.IsClosed() {
		return BaseBackupResult{}, errors.New("base backup: connection is closed")
	}
	if conn.IsBusy() {
		return BaseBackupResult{}, errors.New("base backup: connection is busy")
	}
	if v := conn.ParameterStatus("server_version"); v != "" {
		if major, ok := serverMajor(v); ok && major < 15 {
			return BaseBackupResult{}, fmt.Errorf("base backup: server version %s: PostgreSQL 15 or later is required", v)
		}
	}
	if err := ctx.Err(); err != nil {
		return BaseBackupResult{}, fmt.Errorf("base backup: %w", err)
	}

	src := &connSource{conn: conn, log: log}
	b := &backupStream{
		ctx:  ctx,
		src:  src,
		sink: sink,
		log:  log,
		opts: opts,
	}
	started := time.Now()
	log.Info("base backup starting", "label", opts.Label, "fast_checkpoint", !opts.SpreadCheckpoint,
		"max_rate_kb", opts.MaxRate, "manifest", opts.Manifest)
	err = b.run(src, cmd)
	b.res.Duration = time.Since(started)
	if err != nil {
		src.abort(ctx)
		log.Debug("base backup failed", "error", err, "files", b.res.Files, "bytes", b.res.Bytes,
			"connection_closed", conn.IsClosed())
		return b.res, err
	}
	secs := b.res.Duration.Seconds()
	log.Info("base backup complete",
		"start_lsn", b.res.StartLSN.Short(), "end_lsn", b.res.EndLSN.Short(), "timeline", b.res.Timeline,
		"files", b.res.Files, "bytes", b.res.Bytes, "relation_files", b.res.RelationFiles, "pages", b.res.Pages,
		"archive_bytes", b.res.ArchiveBytes, "seconds", roundTo(secs, 3), "mb_per_s", mbPerSec(b.res.ArchiveBytes, secs))
	return b.res, nil
}

func (o BaseBackupOptions) withDefaults() BaseBackupOptions {
	if o.Label == "" {
		o.Label = defaultBackupLabel
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = defaultProgressInterval
	}
	return o
}

// command builds the BASE_BACKUP command in the PostgreSQL 15 option-list
// syntax. o must have its defaults applied.
func (o BaseBackupOptions) command() (string, error) {
	if strings.ContainsAny(o.Label, "\n\r\x00") {
		return "", fmt.Errorf("base backup: label %q contains a newline or NUL", o.Label)
	}
	if o.MaxRate != 0 && (o.MaxRate < MinBaseBackupMaxRate || o.MaxRate > MaxBaseBackupMaxRate) {
		return "", fmt.Errorf("base backup: MaxRate %d kB/s is outside %d..%d", o.MaxRate, MinBaseBackupMaxRate, MaxBaseBackupMaxRate)
	}
	opts := []string{
		"LABEL " + quoteReplString(o.Label),
		"PROGRESS",
	}
	if o.SpreadCheckpoint {
		opts = append(opts, "CHECKPOINT 'spread'")
	} else {
		opts = append(opts, "CHECKPOINT 'fast'")
	}
	opts = append(opts, "WAIT false")
	if o.MaxRate != 0 {
		opts = append(opts, "MAX_RATE "+strconv.Itoa(o.MaxRate))
	}
	if o.Manifest {
		opts = append(opts, "MANIFEST 'yes'", "MANIFEST_CHECKSUMS 'CRC32C'")
	} else {
		opts = append(opts, "MANIFEST 'no'")
	}
	if o.NoVerifyChecksums {
		opts = append(opts, "VERIFY_CHECKSUMS false")
	}
	return "BASE_BACKUP ( " + strings.Join(opts, ", ") + " )", nil
}

// quoteReplString quotes s for the replication command scanner
// (repl_scanner.l), whose only escape is a doubled quote.
func quoteReplString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// serverMajor parses the major version from server_version ("15.18",
// "15.18 (Debian 15.18-1.pgdg120+1)", "16beta1").
func serverMajor(v string) (int, bool) {
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(v[:end])
	return n, err == nil
}

// copySource yields the CopyData payloads of the backup's COPY stream.
type copySource interface {
	// next returns the next CopyData payload (valid until the following
	// call), or done at CopyDone.
	next(ctx context.Context) (payload []byte, done bool, err error)
}

// connSource reads the backup from a pgconn at the protocol level.
type connSource struct {
	conn *pgconn.PgConn
	log  *slog.Logger
	// serverErr is set when an ErrorResponse arrived: the server then ends
	// the command and sends ReadyForQuery.
	serverErr bool
	// ready is set when ReadyForQuery has been read.
	ready bool
}

// receive returns the next message other than notices and parameter
// status. An ErrorResponse becomes an error wrapping a *pgconn.PgError.
func (c *connSource) receive(ctx context.Context) (pgproto3.BackendMessage, error) {
	for {
		msg, err := c.conn.ReceiveMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("base backup: receiving from server: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.NoticeResponse:
			level := slog.LevelInfo
			if m.Severity == "WARNING" {
				level = slog.LevelWarn
			}
			c.log.Log(ctx, level, "base backup: server notice", "severity", m.Severity, "code", m.Code,
				"message", m.Message, "detail", m.Detail)
		case *pgproto3.ParameterStatus, *pgproto3.NotificationResponse:
		case *pgproto3.ErrorResponse:
			c.serverErr = true
			pgErr := pgconn.ErrorResponseToPgError(m)
			if pgErr.Code == "42601" {
				return nil, fmt.Errorf("base backup: server error (is this a replication=true connection?): %w", pgErr)
			}
			return nil, fmt.Errorf("base backup: server error: %w", pgErr)
		case *pgproto3.ReadyForQuery:
			c.ready = true
			return msg, nil
		default:
			return msg, nil
		}
	}
}

func (c *connSource) next(ctx context.Context) ([]byte, bool, error) {
	msg, err := c.receive(ctx)
	if err != nil {
		return nil, false, err
	}
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		return m.Data, false, nil
	case *pgproto3.CopyDone:
		return nil, true, nil
	default:
		return nil, false, &BackupStreamError{Offset: -1, Reason: fmt.Sprintf("unexpected %s during COPY", messageName(msg))}
	}
}

// abort leaves the connection usable when the server has ended the command
// with an error (by reading up to ReadyForQuery), and closes it otherwise.
func (c *connSource) abort(ctx context.Context) {
	if c.conn.IsClosed() || c.ready {
		return
	}
	if c.serverErr && ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			msg, err := c.conn.ReceiveMessage(dctx)
			if err != nil {
				break
			}
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				return
			}
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = c.conn.Close(cctx) // the connection is being discarded; its close error changes nothing
}

// messageName names a backend message for error messages.
func messageName(msg pgproto3.BackendMessage) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", msg), "*pgproto3.")
}

// backupStream runs one backup: the command, the result sets, the COPY
// stream demultiplexed into archives, and the closing messages.
type backupStream struct {
	ctx  context.Context
	src  copySource
	sink BaseBackupSink
	log  *slog.Logger
	opts BaseBackupOptions
	res  BaseBackupResult

	// archiveOf maps "<oid>.tar" to an index in res.Tablespaces.
	archiveOf map[string]int
	seen      map[string]bool // archives received

	// COPY stream state.
	cur         []byte // unread archive bytes of the current 'd' message
	pending     []byte // a message that ended an archive, to be handled next
	pendingDone bool   // CopyDone ended an archive
	archiveEnd  bool   // the current archive's data has ended
	archive     string // current archive name
	archiveOff  int64  // bytes of the current archive consumed
	srcErr      error  // first error of the source; sticky
	inManifest  bool
	manifest    bytes.Buffer

	// Checks.
	haveLabel   bool
	haveControl bool
	checks      map[string]fileCheck // with Options.Manifest

	// Progress.
	started    time.Time
	lastLog    time.Time
	serverDone int64
}

type fileCheck struct {
	size int64
	crc  uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *backupStream) malformed(offset int64, reason string, err error) *BackupStreamError {
	return &BackupStreamError{Archive: s.archive, Offset: offset, Reason: reason, Err: err}
}

// run sends cmd and reads the whole reply up to ReadyForQuery.
func (s *backupStream) run(c *connSource, cmd string) error {
	s.log.Debug("base backup command", "sql", cmd)
	c.conn.Frontend().SendQuery(&pgproto3.Query{String: cmd})
	if err := c.conn.Frontend().Flush(); err != nil {
		return fmt.Errorf("base backup: sending BASE_BACKUP: %w", err)
	}

	// 1. Start position.
	rows, err := s.resultSet(c, "start position", []string{"recptr", "tli"})
	if err != nil {
		return err
	}
	if len(rows) != 1 {
		return s.malformed(-1, fmt.Sprintf("start position: %d rows, want 1", len(rows)), nil)
	}
	if s.res.StartLSN, s.res.Timeline, err = parsePosition(rows[0]); err != nil {
		return s.malformed(-1, "start position", err)
	}
	s.log.Info("base backup started", "start_lsn", s.res.StartLSN.Short(), "timeline", s.res.Timeline)

	// 2. Tablespaces.
	rows, err = s.resultSet(c, "tablespace list", []string{"spcoid", "spclocation", "size"})
	if err != nil {
		return err
	}
	if err := s.setTablespaces(rows); err != nil {
		return err
	}

	// 3. The COPY stream.
	msg, err := c.receive(s.ctx)
	if err != nil {
		return err
	}
	if _, ok := msg.(*pgproto3.CopyOutResponse); !ok {
		return s.malformed(-1, fmt.Sprintf("got %s, want CopyOutResponse", messageName(msg)), nil)
	}
	if err := s.demux(); err != nil {
		return err
	}

	// 4. End position, CommandComplete, ReadyForQuery.
	rows, err = s.resultSet(c, "end position", []string{"recptr", "tli"})
	if err != nil {
		return err
	}
	if len(rows) != 1 {
		return s.malformed(-1, fmt.Sprintf("end position: %d rows, want 1", len(rows)), nil)
	}
	if s.res.EndLSN, s.res.EndTimeline, err = parsePosition(rows[0]); err != nil {
		return s.malformed(-1, "end position", err)
	}
	if s.res.EndLSN < s.res.StartLSN {
		return s.malformed(-1, fmt.Sprintf("end position %s precedes start position %s", s.res.EndLSN.Short(), s.res.StartLSN.Short()), nil)
	}
	for _, want := range []string{"CommandComplete", "ReadyForQuery"} {
		msg, err := c.receive(s.ctx)
		if err != nil {
			return err
		}
		if got := messageName(msg); got != want {
			return s.malformed(-1, fmt.Sprintf("after the end position: got %s, want %s", got, want), nil)
		}
	}
	return s.verifyManifest()
}

// resultSet reads one result set (RowDescription, DataRows,
// CommandComplete) whose columns must be cols. NULL values are nil.
func (s *backupStream) resultSet(c *connSource, what string, cols []string) ([][][]byte, error) {
	var rows [][][]byte
	described := false
	for {
		msg, err := c.receive(s.ctx)
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.RowDescription:
			if described {
				return nil, s.malformed(-1, what+": second RowDescription", nil)
			}
			names := make([]string, len(m.Fields))
			for i, f := range m.Fields {
				names[i] = string(f.Name)
			}
			if strings.Join(names, ",") != strings.Join(cols, ",") {
				return nil, s.malformed(-1, fmt.Sprintf("%s: columns %v, want %v", what, names, cols), nil)
			}
			described = true
		case *pgproto3.DataRow:
			if !described || len(m.Values) != len(cols) {
				return nil, s.malformed(-1, fmt.Sprintf("%s: data row with %d values, want %d after a RowDescription", what, len(m.Values), len(cols)), nil)
			}
			row := make([][]byte, len(m.Values))
			for i, v := range m.Values {
				if v != nil {
					row[i] = bytes.Clone(v) // m.Values alias the receive buffer
					if row[i] == nil {
						row[i] = []byte{}
					}
				}
			}
			rows = append(rows, row)
		case *pgproto3.CommandComplete:
			if !described {
				return nil, s.malformed(-1, what+": CommandComplete without RowDescription", nil)
			}
			return rows, nil
		default:
			return nil, s.malformed(-1, fmt.Sprintf("%s: unexpected %s", what, messageName(msg)), nil)
		}
	}
}

// parsePosition parses a (recptr text, tli int8) row.
func parsePosition(row [][]byte) (schema.LSN, schema.TimeLineID, error) {
	if row[0] == nil || row[1] == nil {
		return 0, 0, errors.New("NULL value")
	}
	lsn, err := schema.ParseLSN(string(row[0]))
	if err != nil {
		return 0, 0, err
	}
	tli, err := strconv.ParseUint(string(row[1]), 10, 32)
	if err != nil || tli == 0 {
		return 0, 0, fmt.Errorf("invalid timeline %q", row[1])
	}
	return lsn, schema.TimeLineID(tli), nil
}

// setTablespaces records the tablespace list. The size column is in kB and
// NULL without PROGRESS.
func (s *backupStream) setTablespaces(rows [][][]byte) error {
	s.archiveOf = make(map[string]int)
	s.seen = make(map[string]bool)
	s.res.EstimatedBytes = -1
	baseRows := 0
	for i, row := range rows {
		est := int64(-1)
		if row[2] != nil {
			kb, err := strconv.ParseInt(string(row[2]), 10, 64)
			if err != nil || kb < 0 {
				return s.malformed(-1, fmt.Sprintf("tablespace list row %d: invalid size %q", i+1, row[2]), nil)
			}
			est = kb * 1024
			if s.res.EstimatedBytes < 0 {
				s.res.EstimatedBytes = 0
			}
			s.res.EstimatedBytes += est
		}
		if row[0] == nil {
			baseRows++
			continue
		}
		oid, ok := parseOID(string(row[0]))
		if !ok || row[1] == nil {
			return s.malformed(-1, fmt.Sprintf("tablespace list row %d: invalid spcoid %q or NULL location", i+1, row[0]), nil)
		}
		name := strconv.FormatUint(uint64(oid), 10) + ".tar"
		if _, dup := s.archiveOf[name]; dup {
			return s.malformed(-1, fmt.Sprintf("tablespace list: tablespace %d listed twice", oid), nil)
		}
		s.archiveOf[name] = len(s.res.Tablespaces)
		s.res.Tablespaces = append(s.res.Tablespaces, BackupTablespace{OID: oid, Location: string(row[1]), EstimatedBytes: est})
	}
	if baseRows != 1 {
		return s.malformed(-1, fmt.Sprintf("tablespace list: %d rows for the data directory (NULL spcoid), want 1", baseRows), nil)
	}
	s.log.Info("base backup tablespaces", "tablespaces", len(s.res.Tablespaces), "estimated_bytes", s.res.EstimatedBytes)
	return nil
}

// fetch returns the next CopyData payload (pending first), or done.
func (s *backupStream) fetch() ([]byte, bool, error) {
	if s.srcErr != nil {
		return nil, false, s.srcErr
	}
	if s.pending != nil {
		p := s.pending
		s.pending = nil
		return p, false, nil
	}
	if s.pendingDone {
		return nil, true, nil
	}
	p, done, err := s.src.next(s.ctx)
	if err == nil && !done && len(p) == 0 {
		err = s.malformed(s.archiveOff, "empty CopyData message", nil)
	}
	if err != nil {
		s.srcErr = err
		return nil, false, err
	}
	s.maybeLogProgress()
	return p, done, nil
}

// demux reads the COPY stream up to CopyDone.
func (s *backupStream) demux() error {
	s.started = time.Now()
	s.lastLog = s.started
	for {
		msg, done, err := s.fetch()
		if err != nil {
			return err
		}
		if done {
			break
		}
		switch msg[0] {
		case 'n':
			s.res.Messages.NewArchive++
			if s.inManifest {
				return s.malformed(-1, "new archive after the manifest", nil)
			}
			name, location, err := parseNewArchive(msg[1:])
			if err != nil {
				return s.malformed(-1, "new-archive message", err)
			}
			if err := s.readArchive(name, location); err != nil {
				return err
			}
		case 'd':
			if !s.inManifest {
				return s.malformed(-1, "archive data before the first archive", nil)
			}
			s.res.Messages.ManifestData++
			if s.manifest.Len()+len(msg)-1 > maxManifestSize {
				return s.malformed(-1, fmt.Sprintf("manifest larger than %d bytes", maxManifestSize), nil)
			}
			s.manifest.Write(msg[1:])
		case 'p':
			if err := s.progress(msg); err != nil {
				return err
			}
		case 'm':
			s.res.Messages.Manifest++
			if len(msg) != 1 || s.inManifest {
				return s.malformed(-1, "unexpected manifest message", nil)
			}
			s.inManifest = true
		default:
			return s.malformed(-1, fmt.Sprintf("CopyData message of unknown type 0x%02x", msg[0]), nil)
		}
	}
	if s.opts.Manifest && !s.inManifest {
		return s.malformed(-1, "no manifest was sent", nil)
	}
	if s.inManifest {
		s.res.Manifest = bytes.Clone(s.manifest.Bytes())
	}
	for name, i := range s.archiveOf {
		if !s.seen[name] {
			return s.malformed(-1, fmt.Sprintf("no archive for tablespace %d", s.res.Tablespaces[i].OID), nil)
		}
	}
	switch {
	case !s.seen["base.tar"]:
		return s.malformed(-1, "no base.tar archive", nil)
	case !s.haveLabel:
		return s.malformed(-1, "base.tar has no backup_label", nil)
	case !s.haveControl:
		return s.malformed(-1, "base.tar has no global/pg_control", nil)
	}
	return nil
}

// parseNewArchive parses the body of an 'n' message: name\0 location\0.
func parseNewArchive(b []byte) (name, location string, err error) {
	name, rest, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return "", "", errors.New("archive name is not NUL-terminated")
	}
	location, rest, ok = strings.Cut(rest, "\x00")
	if !ok {
		return "", "", errors.New("tablespace location is not NUL-terminated")
	}
	if rest != "" {
		return "", "", fmt.Errorf("%d bytes after the tablespace location", len(rest))
	}
	if name == "" || name[0] == '.' || strings.ContainsAny(name, "/\\") {
		return "", "", fmt.Errorf("invalid archive name %q", name)
	}
	return name, location, nil
}

// progress handles a 'p' message: int64 bytes done.
func (s *backupStream) progress(msg []byte) error {
	s.res.Messages.Progress++
	if len(msg) != 9 {
		err := s.malformed(-1, fmt.Sprintf("progress message of %d bytes, want 9", len(msg)), nil)
		s.srcErr = err
		return err
	}
	s.serverDone = int64(binary.BigEndian.Uint64(msg[1:]))
	return nil
}

// maybeLogProgress logs progress once per interval.
func (s *backupStream) maybeLogProgress() {
	if s.opts.ProgressInterval < 0 || s.started.IsZero() {
		return
	}
	now := time.Now()
	if now.Sub(s.lastLog) < s.opts.ProgressInterval {
		return
	}
	s.lastLog = now
	secs := now.Sub(s.started).Seconds()
	attrs := []any{
		"archive", s.archive,
		"bytes", s.res.ArchiveBytes,
		"server_bytes", s.serverDone,
		"estimated_bytes", s.res.EstimatedBytes,
		"files", s.res.Files,
		"mb_per_s", mbPerSec(s.res.ArchiveBytes, secs),
	}
	if s.res.EstimatedBytes > 0 {
		attrs = append(attrs, "percent", roundTo(100*float64(s.res.ArchiveBytes)/float64(s.res.EstimatedBytes), 1))
	}
	s.log.Info("base backup progress", attrs...)
}

func mbPerSec(n int64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return roundTo(float64(n)/1e6/secs, 1)
}

func roundTo(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// archiveReader reads the current archive's bytes from the COPY stream. It
// returns io.EOF when a message other than 'd' or 'p' (or CopyDone) ends
// the archive; that message is kept for demux.
type archiveReader struct{ s *backupStream }

func (a archiveReader) Read(p []byte) (int, error) {
	s := a.s
	for len(s.cur) == 0 {
		if s.archiveEnd {
			return 0, io.EOF
		}
		msg, done, err := s.fetch()
		if err != nil {
			return 0, err
		}
		if done {
			s.pendingDone = true
			s.archiveEnd = true
			return 0, io.EOF
		}
		switch msg[0] {
		case 'd':
			s.res.Messages.Data++
			s.res.ArchiveBytes += int64(len(msg) - 1)
			s.cur = msg[1:]
		case 'p':
			if err := s.progress(msg); err != nil {
				return 0, err
			}
		default:
			s.pending = bytes.Clone(msg)
			s.archiveEnd = true
			return 0, io.EOF
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	s.archiveOff += int64(n)
	return n, nil
}

// readArchive parses one archive as it arrives.
func (s *backupStream) readArchive(name, location string) error {
	s.archive, s.archiveOff, s.archiveEnd, s.cur = name, 0, false, nil
	if s.seen[name] {
		return s.malformed(-1, "archive sent twice", nil)
	}
	s.seen[name] = true
	var (
		prefix string
		spc    *BackupTablespace
	)
	switch i, ok := s.archiveOf[name]; {
	case name == "base.tar":
		if location != "" {
			return s.malformed(-1, fmt.Sprintf("base archive with tablespace location %q", location), nil)
		}
	case ok:
		spc = &s.res.Tablespaces[i]
		if location != spc.Location {
			return s.malformed(-1, fmt.Sprintf("location %q differs from the tablespace list's %q", location, spc.Location), nil)
		}
		prefix = fmt.Sprintf("pg_tblspc/%d/", spc.OID)
	default:
		return s.malformed(-1, "not base.tar or a listed tablespace's archive (server-side compression is not supported)", nil)
	}
	s.log.Info("base backup archive", "archive", name, "location", location)

	tr := tar.NewReader(archiveReader{s})
	var next int64 // offset of the next header
	for {
		hdrOff := next
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if s.srcErr != nil {
				return s.srcErr
			}
			return s.malformed(hdrOff, fmt.Sprintf("tar header at byte %d", hdrOff), err)
		}
		next = s.archiveOff
		switch hdr.Typeflag {
		case tar.TypeReg:
			next += (hdr.Size + tarBlockSize - 1) / tarBlockSize * tarBlockSize
			entry, err := cleanEntryName(hdr.Name)
			if err != nil {
				return s.malformed(hdrOff, fmt.Sprintf("tar header at byte %d", hdrOff), err)
			}
			if err := s.file(tr, hdr, prefix+entry, prefix == "", spc); err != nil {
				return err
			}
		case tar.TypeSymlink:
			entry, err := cleanEntryName(hdr.Name)
			if err != nil {
				return s.malformed(hdrOff, fmt.Sprintf("tar header at byte %d", hdrOff), err)
			}
			s.symlink(prefix+entry, hdr.Linkname)
		case tar.TypeDir:
		default:
			s.log.Warn("base backup: skipping tar entry of unexpected type", "archive", name,
				"name", hdr.Name, "type", string(hdr.Typeflag))
		}
	}
	if s.archiveEnd {
		return s.malformed(s.archiveOff, fmt.Sprintf("archive ended at byte %d without the tar end-of-archive marker", s.archiveOff), nil)
	}
	// Nothing but zero padding may follow the end-of-archive marker.
	end := s.archiveOff
	var buf [4096]byte
	for {
		n, err := archiveReader{s}.Read(buf[:])
		if !schema.AllZero(buf[:n]) {
			return s.malformed(end, fmt.Sprintf("data after the end-of-archive marker at byte %d", end), nil)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	s.archive = ""
	return nil
}

// symlink notes a symlink entry: PostgreSQL sends only pg_tblspc/<oid>.
func (s *backupStream) symlink(p, target string) {
	oid, ok := strings.CutPrefix(p, "pg_tblspc/")
	if i, listed := s.archiveOf[oid+".tar"]; ok && listed {
		if loc := s.res.Tablespaces[i].Location; loc != target {
			s.log.Warn("base backup: tablespace symlink target differs from the tablespace list",
				"path", p, "target", target, "location", loc)
		}
		return
	}
	s.log.Warn("base backup: skipping symlink", "path", p, "target", target)
}

// entryReader is the reader handed to the sink: the tar entry's bytes, with
// stream errors reported as what they are.
type entryReader struct {
	s    *backupStream
	r    io.Reader
	path string
	n    int64
	err  error // malformed entry
}

func (e *entryReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err == nil || err == io.EOF {
		return n, err
	}
	if e.s.srcErr != nil {
		return n, e.s.srcErr
	}
	if e.err == nil {
		e.err = e.s.malformed(e.s.archiveOff, fmt.Sprintf("file %s at byte %d of its data", e.path, e.n), err)
	}
	return n, e.err
}

// file hands one regular file to the sink.
func (s *backupStream) file(tr *tar.Reader, hdr *tar.Header, p string, inBase bool, spc *BackupTablespace) error {
	f := BackupFile{
		Path:     p,
		Size:     hdr.Size,
		Mode:     hdr.Mode,
		ModTime:  hdr.ModTime,
		Relation: ParseRelationPath(p),
	}
	er := &entryReader{s: s, r: tr, path: p}
	var r io.Reader = er
	if inBase && p == "backup_label" {
		if hdr.Size > maxBackupLabelFileSize {
			return s.malformed(s.archiveOff, fmt.Sprintf("backup_label of %d bytes", hdr.Size), nil)
		}
		data, err := io.ReadAll(er)
		if err != nil {
			return err
		}
		if err := s.setLabel(data); err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	var crc hash.Hash32
	if s.opts.Manifest {
		crc = crc32.New(castagnoli)
		r = io.TeeReader(r, crc)
	}
	err := s.sink.File(s.ctx, f, r)
	switch {
	case s.srcErr != nil:
		return s.srcErr
	case er.err != nil:
		return er.err
	case err != nil:
		return &SinkError{File: f, Err: err}
	}
	if crc != nil {
		// Checksum what the sink left unread too.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		if s.checks == nil {
			s.checks = make(map[string]fileCheck)
		}
		s.checks[p] = fileCheck{size: hdr.Size, crc: crc.Sum32()}
	}
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("base backup: %w", err)
	}
	if inBase && p == "global/pg_control" {
		s.haveControl = true
	}
	s.res.Files++
	s.res.Bytes += hdr.Size
	if spc != nil {
		spc.Files++
		spc.Bytes += hdr.Size
	}
	if f.Relation != nil {
		s.res.RelationFiles++
		s.res.Pages += hdr.Size / schema.BLCKSZ
		if hdr.Size%schema.BLCKSZ != 0 {
			s.log.Warn("base backup: relation file size is not a multiple of the page size", "path", p, "size", hdr.Size)
		}
	}
	return nil
}

// setLabel parses backup_label and checks it against the start position.
func (s *backupStream) setLabel(data []byte) error {
	l, err := ParseBackupLabel(data)
	if err != nil {
		return s.malformed(-1, "backup_label", err)
	}
	switch {
	case l.StartLSN != s.res.StartLSN:
		return s.malformed(-1, fmt.Sprintf("backup_label START WAL LOCATION %s differs from the start position %s",
			l.StartLSN.Short(), s.res.StartLSN.Short()), nil)
	case l.StartTimeline != 0 && l.StartTimeline != s.res.Timeline:
		return s.malformed(-1, fmt.Sprintf("backup_label START TIMELINE %d differs from the start timeline %d",
			l.StartTimeline, s.res.Timeline), nil)
	case l.CheckpointLSN < l.StartLSN:
		return s.malformed(-1, fmt.Sprintf("backup_label CHECKPOINT LOCATION %s precedes START WAL LOCATION %s",
			l.CheckpointLSN.Short(), l.StartLSN.Short()), nil)
	}
	s.haveLabel = true
	s.res.BackupLabel = bytes.Clone(data)
	s.res.Label = l.Label
	s.res.CheckpointLSN = l.CheckpointLSN
	return nil
}

// verifyManifest checks the files received against the manifest.
func (s *backupStream) verifyManifest() error {
	if !s.opts.Manifest {
		return nil
	}
	var m struct {
		Files []struct {
			Path        string `json:"Path"`
			EncodedPath string `json:"Encoded-Path"`
			Size        int64  `json:"Size"`
			Algorithm   string `json:"Checksum-Algorithm"`
			Checksum    string `json:"Checksum"`
		} `json:"Files"`
		WALRanges []struct {
			Timeline uint32 `json:"Timeline"`
			StartLSN string `json:"Start-LSN"`
			EndLSN   string `json:"End-LSN"`
		} `json:"WAL-Ranges"`
	}
	if err := json.Unmarshal(s.res.Manifest, &m); err != nil {
		return s.malformed(-1, "manifest", err)
	}
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	listed := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		p := f.Path
		if f.EncodedPath != "" {
			raw, err := hex.DecodeString(f.EncodedPath)
			if err != nil {
				return s.malformed(-1, "manifest", fmt.Errorf("Encoded-Path %q: %w", f.EncodedPath, err))
			}
			p = string(raw)
		}
		listed[p] = true
		got, ok := s.checks[p]
		switch {
		case !ok:
			report("%s: in the manifest but not received", p)
		case got.size != f.Size:
			report("%s: received %d bytes, manifest says %d", p, got.size, f.Size)
		case f.Algorithm == "CRC32C":
			var le [4]byte
			binary.LittleEndian.PutUint32(le[:], got.crc) // pg_checksum_final copies the native (little-endian) uint32
			if hex.EncodeToString(le[:]) != strings.ToLower(f.Checksum) {
				report("%s: CRC32C %x, manifest says %s", p, le, f.Checksum)
			}
		}
	}
	for p := range s.checks {
		if !listed[p] {
			report("%s: received but not in the manifest", p)
		}
	}
	if len(m.WALRanges) > 0 {
		first, last := m.WALRanges[0], m.WALRanges[len(m.WALRanges)-1]
		if lsn, err := schema.ParseLSN(first.StartLSN); err != nil || lsn != s.res.StartLSN {
			report("WAL-Ranges start %s, start position %s", first.StartLSN, s.res.StartLSN.Short())
		}
		if lsn, err := schema.ParseLSN(last.EndLSN); err != nil || lsn != s.res.EndLSN {
			report("WAL-Ranges end %s, end position %s", last.EndLSN, s.res.EndLSN.Short())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("base backup: %w: %s", ErrManifestMismatch, strings.Join(problems, "; "))
	}
	s.log.Info("base backup manifest verified", "files", len(m.Files), "manifest_bytes", len(s.res.Manifest))
	return nil
}
