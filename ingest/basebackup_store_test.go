package ingest_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/streams"
)

// TestBaseBackupIntoObjectStore: the first start imports a pgbench
// scale-10 database; its relation files are in the object store, page for
// page what PostgreSQL has on disk, and progress is logged.
func TestBaseBackupIntoObjectStore(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{ExtraConf: map[string]string{"autovacuum": "off"}})
	c.Pgbench(t, "-i", "-s", "10", "-q")
	c.Exec(t, "VACUUM FREEZE") // settle hint bits so the files stay quiet
	c.Checkpoint(t)
	nc := startNATS(t)
	r := startIngest(t, ingest.Config{
		Source: c.ConnString("postgres"), Slot: "pm_bb",
		Streams:            streams.Config{Shards: 2, Replicas: 1},
		BaseBackupProgress: 50 * time.Millisecond,
	}, nc)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st := r.ing.Status(); st.BaseBackup != nil && st.BaseBackup.Completed && st.Connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("base backup did not complete: %+v\n%s", r.ing.Status(), r.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop()
	bb := r.ing.Status().BaseBackup
	logs := r.logs.String()
	for _, want := range []string{"taking a base backup", "base backup progress", "base backup stored"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}

	js, _ := jetstream.New(nc)
	ctx := context.Background()
	layout := streams.Layout{SystemID: mustSysID(t, c), Timeline: 1, Shards: 2}
	store, err := js.ObjectStore(ctx, layout.ObjectBucket())
	if err != nil {
		t.Fatal(err)
	}
	objs, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Relation files larger than streams.ObjPartBytes are stored in parts
	// (name, name@OFFSET, …).
	var relBytes int64
	relations, files, parts := 0, 0, 0
	for _, o := range objs {
		if strings.Contains(o.Name, "@") {
			parts++
		} else {
			files++
		}
		if o.Metadata["relation"] != "" {
			if !strings.Contains(o.Name, "@") {
				relations++
			}
			relBytes += int64(o.Size)
		}
	}
	if parts == 0 {
		t.Errorf("no relation file was stored in parts")
	}
	if relations != bb.RelationFiles || relBytes != bb.Pages*8192 || files != bb.Files {
		t.Fatalf("object store: %d objects, %d relation files, %d relation bytes; state says %d files, %d relation files, %d pages",
			len(objs), relations, relBytes, bb.Files, bb.RelationFiles, bb.Pages)
	}
	if bb.Pages < 20000 {
		t.Fatalf("only %d pages for pgbench scale 10", bb.Pages)
	}
	// pgbench_accounts: the object equals the file on disk.
	path := strings.TrimSpace(c.Query(t, "SELECT pg_relation_filepath('pgbench_accounts')")[0][0])
	onDisk, err := os.ReadFile(filepath.Join(c.DataDir(), path))
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	for off := int64(0); off < int64(len(onDisk)); off += streams.ObjPartBytes {
		obj, err := store.Get(ctx, streams.ObjPartName(bb.Prefix+"/"+path, off))
		if err != nil {
			t.Fatal(err)
		}
		part, err := io.ReadAll(obj)
		if err != nil {
			t.Fatal(err)
		}
		if info, err := obj.Info(); err != nil || info.Metadata[streams.ObjMetaOffset] != strconv.FormatInt(off, 10) {
			t.Errorf("part at %d: metadata %v (%v)", off, info, err)
		}
		stored = append(stored, part...)
	}
	if len(stored) != len(onDisk) || !bytes.Equal(stored, onDisk) {
		t.Fatalf("%s: stored %d bytes differ from the %d on disk", path, len(stored), len(onDisk))
	}
	for _, f := range []string{"global/pg_control", "PG_VERSION", "pg_xact/0000", "global/pg_filenode.map"} {
		if _, err := store.GetInfo(ctx, bb.Prefix+"/"+f); err != nil {
			t.Errorf("%s not stored: %v", f, err)
		}
	}
	t.Logf("base backup: %d files, %d relation files, %d pages, %d bytes; pgbench_accounts %d pages identical",
		bb.Files, bb.RelationFiles, bb.Pages, bb.Bytes, len(onDisk)/8192)
}
