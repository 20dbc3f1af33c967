package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Errors callers decide on.
var (
	// ErrNotRestorable: nothing pagemill keeps can give a data directory
	// at that LSN (below the horizon or the base backup's consistency
	// point, past what is applied, no checkpoint before it, a time outside
	// the window, a page that cannot be reconstructed).
	ErrNotRestorable = errors.New("not restorable")
)

// Backup writes data directories as of an LSN.
type Backup struct {
	mat   *materialize.Materializer
	h     *streams.Handles
	log   *slog.Logger
	m     *metrics
	nowFn func() time.Time
}

// New returns a Backup reading from the materializer and the streams.
func New(mat *materialize.Materializer, h *streams.Handles, reg prometheus.Registerer, log *slog.Logger) *Backup {
	return &Backup{mat: mat, h: h, log: log, m: newMetrics(reg), nowFn: time.Now}
}

// Mode is how PostgreSQL gets from the files to a running cluster.
type Mode int

const (
	// NoReplay: a clean shutdown at the target; PostgreSQL starts
	// without recovery.
	NoReplay Mode = iota
	// Replay: the WAL from a checkpoint's redo point to the target;
	// PostgreSQL runs crash recovery (the fallback, see the package doc).
	Replay
)

func (m Mode) String() string {
	if m == Replay {
		return "replay"
	}
	return "no replay"
}

// Plan is what a restore at an LSN consists of.
type Plan struct {
	// Target is the LSN asked for: the directory holds every record
	// ending at or before it.
	Target schema.LSN
	// Mode is how PostgreSQL starts on it; ReplayReason says why Replay
	// when it is (Write may switch to Replay: see Stats.Mode).
	Mode         Mode
	ReplayReason string
	// Relations are the relation forks written with their sizes in
	// blocks (free space maps and auxiliary pages excluded; the main fork
	// of an unlogged relation is its init fork).
	Relations map[pagestore.RelFork]schema.BlockNumber
	Databases []uint32
	Timeline  schema.TimeLineID
	// Prepared are the transactions prepared at Target (NoReplay), whose
	// state files are written.
	Prepared []*schema.PreparedXact
	// SourceCheckpoint is the newest checkpoint record ending at or
	// before Target and SourceRedo its redo point (where Replay starts).
	SourceCheckpoint, SourceRedo schema.LSN
	// Bytes estimates the data directory's size, for progress.
	Bytes int64

	control    *materialize.Control // NoReplay's control data at Target
	checkpoint schema.CheckPoint    // the source checkpoint's contents
	prefix     string
	streamFrom uint64
	baseCtl    []byte // the base backup's pg_control
	baseFiles  []*jetstream.ObjectInfo
	baseStart  schema.LSN
	// spcDir is a tablespace's version directory (PG_15_<catalog
	// version>); relMaps the relation maps existing at Target; tsDBs the
	// database directories in tablespaces other than pg_default/pg_global.
	spcDir  string
	relMaps []schema.RelFileNode
	tsDBs   []schema.RelFileNode
	// from maps a relation fork written to the fork its pages are read
	// from: an unlogged relation's main fork from its init fork.
	from map[pagestore.RelFork]pagestore.RelFork
}

// Stats says what Write wrote.
type Stats struct {
	Mode Mode
	// End is where the restored cluster's WAL ends; Checkpoint the
	// checkpoint record PostgreSQL starts from (NoReplay: the shutdown
	// checkpoint written at Target).
	End, Checkpoint schema.LSN
	Files           int
	Bytes           int64
	Pages           int64
	ZeroPages       int64 // written as holes (directory) or zeros (tar)
	Prepared        int
	WALSegments     int
	WALRecords      int
	Seconds         float64
}

// LSNAt is the LSN of the database as it was at t (see
// materialize.Materializer.LSNAt) and the commit time of that state.
func (b *Backup) LSNAt(t time.Time) (schema.LSN, time.Time, error) {
	lsn, at, err := b.mat.LSNAt(t)
	if errors.Is(err, materialize.ErrTimeOutsideWindow) {
		return 0, time.Time{}, fmt.Errorf("%w: %w", ErrNotRestorable, err)
	}
	return lsn, at, err
}

// Plan decides what a restore at lsn writes, after waiting (bounded by
// ctx) until every shard has applied lsn.
func (b *Backup) Plan(ctx context.Context, lsn schema.LSN) (*Plan, error) {
	if lsn == 0 {
		lsn = b.mat.Applied()
	}
	baseStart, baseEnd, err := b.mat.Base()
	if err != nil {
		return nil, err
	}
	if baseEnd == 0 {
		return nil, materialize.ErrNotReady
	}
	if lsn < baseEnd {
		return nil, fmt.Errorf("%w: LSN %s is before the base backup's consistency point %s", ErrNotRestorable, lsn.Short(), baseEnd.Short())
	}
	if h := b.mat.Horizon(); lsn < h {
		return nil, fmt.Errorf("%w: LSN %s is below the retention horizon %s", ErrNotRestorable, lsn.Short(), h.Short())
	}
	if err := b.mat.WaitAll(ctx, lsn); err != nil {
		var we *materialize.WaitError
		if errors.As(err, &we) && ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: LSN %s is past the applied LSN %s (the source's WAL pagemill has is published up to %s)",
				ErrNotRestorable, lsn.Short(), we.Applied.Short(), b.mat.Published().Short())
		}
		return nil, err
	}
	store := b.mat.Store()
	ck, err := store.CheckpointAt(lsn)
	if errors.Is(err, pagestore.ErrNotFound) {
		return nil, fmt.Errorf("%w: no checkpoint record ends at or before %s", ErrNotRestorable, lsn.Short())
	} else if err != nil {
		return nil, err
	}
	cp, err := schema.ParseCheckPoint(ck.Data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint record at %s: %w", ck.LSN, err)
	}
	prefix, err := b.mat.BasePrefix()
	if err != nil {
		return nil, err
	}
	rels, err := b.mat.Relations(ctx, 0, lsn)
	if err != nil {
		return nil, err
	}
	control, err := b.h.Objects.GetBytes(ctx, prefix+"/"+schema.ControlFilePath)
	if err != nil {
		return nil, fmt.Errorf("%w: the base backup's global/pg_control: %v", ErrNotRestorable, err)
	}
	cf, err := schema.ParseControlFile(control)
	if err != nil {
		return nil, fmt.Errorf("base backup's pg_control: %w", err)
	}
	p := &Plan{Target: lsn, SourceCheckpoint: ck.LSN, SourceRedo: cp.Redo, Timeline: b.mat.Store().TimeLineHistory().OwnerOfEnd(lsn),
		Relations: map[pagestore.RelFork]schema.BlockNumber{}, checkpoint: cp, prefix: prefix, baseCtl: control, baseStart: baseStart,
		spcDir: fmt.Sprintf("PG_15_%d", cf.CatalogVersionNo), from: map[pagestore.RelFork]pagestore.RelFork{}}

	p.control, err = b.mat.ControlAt(lsn)
	if errors.Is(err, materialize.ErrNotIndexed) {
		p.Mode, p.ReplayReason = Replay, err.Error()
	} else if err != nil {
		return nil, fmt.Errorf("control data at %s: %w", lsn, err)
	}
	if p.Mode == Replay && !cp.FullPageWrites {
		return nil, fmt.Errorf("%w: %s, and the checkpoint at %s was taken with full_page_writes off, so its WAL cannot be replayed on pages at %s",
			ErrNotRestorable, p.ReplayReason, ck.LSN, lsn)
	}
	p.planRelations(rels)
	if err := b.planFiles(ctx, p); err != nil {
		return nil, err
	}
	if p.Mode == NoReplay {
		if err := b.planPrepared(ctx, p); err != nil {
			return nil, err
		}
	}
	// From the WAL page holding the redo point: the record continuing
	// onto that page is needed for its header (Replay).
	p.streamFrom, _, err = store.StreamStart(p.SourceRedo - p.SourceRedo%schema.XLogBlcksz)
	if err != nil {
		return nil, err
	}
	for _, n := range p.Relations {
		p.Bytes += int64(n) * schema.BLCKSZ
	}
	for _, o := range p.baseFiles {
		p.Bytes += int64(o.Size)
	}
	p.Bytes += int64(cf.XLogSegSize)
	return p, nil
}

// planRelations picks the relation forks to write from those existing at
// the target: no free space maps, relation maps apart, and unlogged
// relations (those with an init fork) as PostgreSQL's recovery leaves them
// (ResetUnloggedRelations): the init fork, and a main fork that is a copy
// of it, nothing else.
func (p *Plan) planRelations(rels map[pagestore.RelFork]schema.BlockNumber) {
	unlogged := map[schema.RelFileNode]bool{}
	for rf := range rels {
		if rf.Fork == schema.InitForkNum && !schema.IsAuxRel(rf.Rel) {
			unlogged[rf.Rel] = true
		}
	}
	dbs := map[uint32]bool{}
	tsDBs := map[schema.RelFileNode]bool{}
	for rf, n := range rels {
		if schema.IsRelMap(rf.Rel) && rf.Fork == schema.MainForkNum {
			p.relMaps = append(p.relMaps, rf.Rel)
			continue
		}
		if schema.IsAuxRel(rf.Rel) || rf.Fork == schema.FSMForkNum {
			continue
		}
		if unlogged[rf.Rel] && rf.Fork != schema.InitForkNum {
			continue
		}
		switch rf.Rel.SpcNode {
		case schema.DefaultTablespaceOID:
			dbs[rf.Rel.DbNode] = true
		case schema.GlobalTablespaceOID:
		default:
			// Other tablespaces are restored in place, as directories
			// under pg_tblspc (PostgreSQL 15 reads those like links).
			tsDBs[schema.RelFileNode{SpcNode: rf.Rel.SpcNode, DbNode: rf.Rel.DbNode}] = true
		}
		p.Relations[rf] = n
		if rf.Fork == schema.InitForkNum {
			main := pagestore.RelFork{Rel: rf.Rel, Fork: schema.MainForkNum}
			p.Relations[main] = n
			p.from[main] = rf
		}
	}
	for db := range dbs {
		p.Databases = append(p.Databases, db)
	}
	slices.Sort(p.Databases)
	for d := range tsDBs {
		p.tsDBs = append(p.tsDBs, d)
	}
	slices.SortFunc(p.tsDBs, func(a, b schema.RelFileNode) int { return strings.Compare(a.String(), b.String()) })
	slices.SortFunc(p.relMaps, func(a, b schema.RelFileNode) int { return strings.Compare(a.String(), b.String()) })
}

// planFiles lists the base backup files copied as they are.
func (b *Backup) planFiles(ctx context.Context, p *Plan) error {
	objs, err := b.h.Objects.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return fmt.Errorf("list base backup objects: %w", err)
	}
	for _, o := range objs {
		name, ok := strings.CutPrefix(o.Name, p.prefix+"/")
		if ok && o.Metadata[streams.ObjMetaRelation] == "" && !excluded(name) {
			p.baseFiles = append(p.baseFiles, o)
		}
	}
	slices.SortFunc(p.baseFiles, func(a, b *jetstream.ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

// planPrepared finds the transactions prepared at the target: PREPARE
// records in the transaction index, and the base backup's state files,
// both less those a COMMIT/ROLLBACK PREPARED at or before the target
// ended.
func (b *Backup) planPrepared(ctx context.Context, p *Plan) error {
	indexed, from, err := b.mat.PreparedAt(p.Target)
	if err != nil {
		return fmt.Errorf("prepared transactions at %s: %w", p.Target, err)
	}
	byXid := map[uint32]*schema.PreparedXact{}
	objs, err := b.h.Objects.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return fmt.Errorf("list base backup objects: %w", err)
	}
	store := b.mat.Store()
	for _, o := range objs {
		name, ok := strings.CutPrefix(o.Name, p.prefix+"/"+schema.TwoPhaseDir+"/")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		data, err := b.h.Objects.GetBytes(ctx, o.Name)
		if err != nil {
			return fmt.Errorf("read base backup file %s: %w", o.Name, err)
		}
		x, err := schema.ParseTwoPhaseState(data, true)
		if err != nil {
			return fmt.Errorf("base backup file %s: %w", o.Name, err)
		}
		ended, err := store.PrepareEnded(x.Xid, p.baseStart, p.Target)
		if err != nil {
			return err
		}
		if !ended {
			byXid[x.Xid] = x
		}
	}
	for _, ip := range indexed {
		x, err := schema.ParseTwoPhaseState(ip.State, false)
		if err != nil {
			return fmt.Errorf("PREPARE at %s: %w", ip.Start, err)
		}
		byXid[x.Xid] = x
	}
	for _, x := range byXid {
		p.Prepared = append(p.Prepared, x)
	}
	slices.SortFunc(p.Prepared, func(a, b *schema.PreparedXact) int { return int(int32(a.Xid - b.Xid)) })
	if from > p.baseStart && len(p.Prepared) == 0 {
		b.log.Warn("restore: the transaction index starts after the base backup; transactions prepared in between and still prepared are not known",
			"index_from", from, "base_start", p.baseStart)
	}
	return nil
}

// excluded reports whether a base backup file is not copied as is: it is
// rebuilt (relation files, SLRU segments, relation maps, pg_control, the
// WAL, database directories, two-phase state), belongs to the backup
// (backup_label, tablespace_map, backup_manifest), is runtime state
// PostgreSQL recreates, or is not restored (commit timestamps).
func excluded(p string) bool {
	if _, ok := schema.AuxFile(p); ok {
		return true
	}
	switch p {
	case schema.ControlFilePath, "backup_label", "tablespace_map", "backup_manifest", "postmaster.pid", "postmaster.opts":
		return true
	}
	for _, pre := range []string{"pg_wal/", "base/", "pg_tblspc/", "pg_replslot/", "pg_stat_tmp/", "pg_dynshmem/", "pg_notify/",
		"pg_serial/", "pg_snapshots/", "pg_subtrans/", "pg_twophase/", "pg_commit_ts/"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return path.Base(p) == "pg_internal.init"
}

// Directories every data directory has (initdb's subdirs), created even
// when empty.
var dataDirs = []string{
	"global", "base", "pg_wal", "pg_wal/archive_status", "pg_commit_ts", "pg_dynshmem", "pg_notify",
	"pg_serial", "pg_snapshots", "pg_subtrans", "pg_twophase", "pg_multixact", "pg_multixact/members",
	"pg_multixact/offsets", "pg_replslot", "pg_tblspc", "pg_stat", "pg_stat_tmp", "pg_xact",
	"pg_logical", "pg_logical/snapshots", "pg_logical/mappings",
}

// relPath is a relation fork segment's path in the data directory.
func (p *Plan) relPath(rf pagestore.RelFork, seg int) string {
	// relpath.c: relnode, "_" + fork name but for main, ".seg" past 0.
	name := strconv.FormatUint(uint64(rf.Rel.RelNode), 10)
	if rf.Fork != schema.MainForkNum {
		name += "_" + rf.Fork.String()
	}
	if seg > 0 {
		name += "." + strconv.Itoa(seg)
	}
	return p.dbDir(rf.Rel.SpcNode, rf.Rel.DbNode) + "/" + name
}

// dbDir is the directory of database db's files in tablespace spc.
func (p *Plan) dbDir(spc, db uint32) string {
	switch spc {
	case schema.GlobalTablespaceOID:
		return "global"
	case schema.DefaultTablespaceOID:
		return fmt.Sprintf("base/%d", db)
	}
	return fmt.Sprintf("pg_tblspc/%d/%s/%d", spc, p.spcDir, db)
}

// TarAt plans a restore at lsn (0: the latest applied), waiting at most
// waitTimeout for it to be applied, and writes its tar stream to w. It
// returns the LSN the data directory is as of: the target (no replay), or
// the end of the last record at or before it, where the WAL replayed
// ends.
func (b *Backup) TarAt(ctx context.Context, lsn schema.LSN, w io.Writer, waitTimeout time.Duration) (schema.LSN, error) {
	p, unpin, err := b.planPinned(ctx, lsn, waitTimeout)
	if err != nil {
		return 0, err
	}
	defer unpin()
	st, err := b.Write(ctx, p, w)
	if err != nil {
		return 0, err
	}
	if st.Mode == NoReplay {
		return p.Target, nil
	}
	return st.End, nil
}

// DirAt plans a restore at lsn (0: the latest applied), waiting at most
// waitTimeout for it to be applied, and writes the data directory into
// dir, which must be empty or not exist (see WriteDir). progress, if not
// nil, is called now and then with the bytes written so far and the
// plan's estimate of the total.
func (b *Backup) DirAt(ctx context.Context, lsn schema.LSN, dir string, waitTimeout time.Duration, progress func(done, total int64)) (*Plan, *Stats, error) {
	if err := checkEmptyDir(dir); err != nil {
		return nil, nil, err
	}
	_, statErr := os.Stat(dir)
	existed := statErr == nil
	p, unpin, err := b.planPinned(ctx, lsn, waitTimeout)
	if err != nil {
		return nil, nil, err
	}
	defer unpin()
	st, err := b.WriteDir(ctx, p, dir, progress)
	if err != nil {
		// A restore that fails leaves the target as it found it.
		if !existed {
			_ = os.RemoveAll(dir)
		} else if ents, rerr := os.ReadDir(dir); rerr == nil {
			for _, e := range ents {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
		return nil, nil, err
	}
	return p, st, nil
}

// planPinned pins lsn (so retention keeps its page versions while the
// directory is written) and plans a restore at it.
func (b *Backup) planPinned(ctx context.Context, lsn schema.LSN, waitTimeout time.Duration) (*Plan, func(), error) {
	if lsn == 0 {
		lsn = b.mat.Applied()
	}
	unpin, err := b.mat.Pin(lsn)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotRestorable, err)
	}
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	p, err := b.Plan(wctx, lsn)
	cancel()
	if err != nil {
		unpin()
		return nil, nil, err
	}
	return p, unpin, nil
}
