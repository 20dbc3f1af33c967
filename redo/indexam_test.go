package redo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestVerifyIndexAMs replays each index access method's workload
// (pgtest.IndexAMWorkloads), written with wal_consistency_checking=all, in
// three variants: plain, data checksums, and wal_compression=lz4. Every
// record of the access method's resource manager must be applied natively
// with no mismatch, every record type the workload lists must be reached,
// and no other record of the WAL (heap, btree, ...) may mismatch either.
// The workloads of one variant share a cluster, except those that need
// wal_level=minimal.
func TestVerifyIndexAMs(t *testing.T) {
	for _, v := range []struct {
		name string
		opts pgtest.Options
	}{
		{"plain", pgtest.Options{}},
		{"checksums", pgtest.Options{DataChecksums: true}},
		{"wal_compression", pgtest.Options{WALCompression: "lz4"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			opts := v.opts
			opts.WALConsistencyChecking = "all"
			opts.ExtraConf = pgtest.IndexAMConf()
			parent := t
			var once sync.Once
			var shared *pgtest.Cluster
			var sharedErr error
			for _, w := range pgtest.IndexAMWorkloads() {
				t.Run(w.Name, func(t *testing.T) {
					if len(w.Statements) == 0 || len(w.Want) == 0 {
						t.Fatalf("workload %s has no statements or wanted record types", w.Name)
					}
					var c *pgtest.Cluster
					if w.Minimal {
						o := opts
						o.WALLevel = "minimal"
						c = pgtest.Start(t, o)
					} else {
						once.Do(func() {
							o := opts
							o.Logf = parent.Logf
							shared, sharedErr = pgtest.New(context.Background(), o)
							if sharedErr == nil {
								parent.Cleanup(func() { shared.Close() })
							}
						})
						if sharedErr != nil {
							t.Fatal(sharedErr)
						}
						c = shared
					}
					start := c.CurrentWALLSN(t)
					c.RunIndexAMWorkload(t, w)
					c.RunIndexAMChanges(t, w)
					// A workload ending in VACUUM (no xid, no commit)
					// leaves its last records unflushed: the switch
					// flushes them before the WAL is copied.
					c.SwitchWAL(t)
					rep := verifyCluster(t, c, start)
					if rep.Mismatches != 0 {
						t.Errorf("%d mismatches", rep.Mismatches)
					}
					prefix := w.Rmgr + "/"
					compared := 0
					var counts []string
					for name, s := range rep.ByType {
						if !strings.HasPrefix(name, prefix) {
							continue
						}
						compared += s.Compared
						counts = append(counts, fmt.Sprintf("%s %d", name, s.Records))
						if s.Unsupported != 0 || s.Applied != s.Records {
							t.Errorf("%s: %d records, %d applied, %d unsupported", name, s.Records, s.Applied, s.Unsupported)
						}
					}
					sort.Strings(counts)
					t.Logf("%s records per type: %s", w.Rmgr, strings.Join(counts, ", "))
					if compared == 0 {
						t.Errorf("no %s block compared with a consistency image", w.Rmgr)
					}
					for _, want := range w.Want {
						if s := rep.ByType[want]; s == nil || s.Records == 0 {
							t.Errorf("workload did not reach %s", want)
						}
					}
				})
			}
		})
	}
}
