package schema

import (
	"fmt"
	"testing"
)

// rdIdentifyCase is one (rmgr, xl_info) pair PostgreSQL 15 names, written out
// from the *_identify functions in src/backend/access/rmgrdesc.
type rdIdentifyCase struct {
	rmid RmgrID
	info uint8
	want string
}

var rdIdentifyCases = []rdIdentifyCase{
	{RmgrXLOG, 0x00, "CHECKPOINT_SHUTDOWN"},
	{RmgrXLOG, 0x10, "CHECKPOINT_ONLINE"},
	{RmgrXLOG, 0x20, "NOOP"},
	{RmgrXLOG, 0x30, "NEXTOID"},
	{RmgrXLOG, 0x40, "SWITCH"},
	{RmgrXLOG, 0x50, "BACKUP_END"},
	{RmgrXLOG, 0x60, "PARAMETER_CHANGE"},
	{RmgrXLOG, 0x70, "RESTORE_POINT"},
	{RmgrXLOG, 0x80, "FPW_CHANGE"},
	{RmgrXLOG, 0x90, "END_OF_RECOVERY"},
	{RmgrXLOG, 0xA0, "FPI_FOR_HINT"},
	{RmgrXLOG, 0xB0, "FPI"},
	{RmgrXLOG, 0xD0, "OVERWRITE_CONTRECORD"},

	{RmgrTransaction, 0x00, "COMMIT"},
	{RmgrTransaction, 0x10, "PREPARE"},
	{RmgrTransaction, 0x20, "ABORT"},
	{RmgrTransaction, 0x30, "COMMIT_PREPARED"},
	{RmgrTransaction, 0x40, "ABORT_PREPARED"},
	{RmgrTransaction, 0x50, "ASSIGNMENT"},
	{RmgrTransaction, 0x60, "INVALIDATION"},
	// XLOG_XACT_HAS_INFO (0x80) is outside XLOG_XACT_OPMASK.
	{RmgrTransaction, 0x80, "COMMIT"},
	{RmgrTransaction, 0x90, "PREPARE"},
	{RmgrTransaction, 0xA0, "ABORT"},
	{RmgrTransaction, 0xB0, "COMMIT_PREPARED"},
	{RmgrTransaction, 0xC0, "ABORT_PREPARED"},
	{RmgrTransaction, 0xD0, "ASSIGNMENT"},
	{RmgrTransaction, 0xE0, "INVALIDATION"},

	{RmgrStorage, 0x10, "CREATE"},
	{RmgrStorage, 0x20, "TRUNCATE"},

	{RmgrCLOG, 0x00, "ZEROPAGE"},
	{RmgrCLOG, 0x10, "TRUNCATE"},

	{RmgrDatabase, 0x00, "CREATE_FILE_COPY"},
	{RmgrDatabase, 0x10, "CREATE_WAL_LOG"},
	{RmgrDatabase, 0x20, "DROP"},

	{RmgrTablespace, 0x00, "CREATE"},
	{RmgrTablespace, 0x10, "DROP"},

	{RmgrMultiXact, 0x00, "ZERO_OFF_PAGE"},
	{RmgrMultiXact, 0x10, "ZERO_MEM_PAGE"},
	{RmgrMultiXact, 0x20, "CREATE_ID"},
	{RmgrMultiXact, 0x30, "TRUNCATE_ID"},

	{RmgrRelMap, 0x00, "UPDATE"},

	{RmgrStandby, 0x00, "LOCK"},
	{RmgrStandby, 0x10, "RUNNING_XACTS"},
	{RmgrStandby, 0x20, "INVALIDATIONS"},

	{RmgrHeap2, 0x00, "REWRITE"},
	{RmgrHeap2, 0x10, "PRUNE"},
	{RmgrHeap2, 0x20, "VACUUM"},
	{RmgrHeap2, 0x30, "FREEZE_PAGE"},
	{RmgrHeap2, 0x40, "VISIBLE"},
	{RmgrHeap2, 0x50, "MULTI_INSERT"},
	{RmgrHeap2, 0xD0, "MULTI_INSERT+INIT"},
	{RmgrHeap2, 0x60, "LOCK_UPDATED"},
	{RmgrHeap2, 0x70, "NEW_CID"},

	{RmgrHeap, 0x00, "INSERT"},
	{RmgrHeap, 0x80, "INSERT+INIT"},
	{RmgrHeap, 0x10, "DELETE"},
	{RmgrHeap, 0x20, "UPDATE"},
	{RmgrHeap, 0xA0, "UPDATE+INIT"},
	{RmgrHeap, 0x30, "TRUNCATE"},
	{RmgrHeap, 0x40, "HOT_UPDATE"},
	{RmgrHeap, 0xC0, "HOT_UPDATE+INIT"},
	{RmgrHeap, 0x50, "HEAP_CONFIRM"},
	{RmgrHeap, 0x60, "LOCK"},
	{RmgrHeap, 0x70, "INPLACE"},

	{RmgrBtree, 0x00, "INSERT_LEAF"},
	{RmgrBtree, 0x10, "INSERT_UPPER"},
	{RmgrBtree, 0x20, "INSERT_META"},
	{RmgrBtree, 0x30, "SPLIT_L"},
	{RmgrBtree, 0x40, "SPLIT_R"},
	{RmgrBtree, 0x50, "INSERT_POST"},
	{RmgrBtree, 0x60, "DEDUP"},
	{RmgrBtree, 0x70, "DELETE"},
	{RmgrBtree, 0x80, "UNLINK_PAGE"},
	{RmgrBtree, 0x90, "UNLINK_PAGE_META"},
	{RmgrBtree, 0xA0, "NEWROOT"},
	{RmgrBtree, 0xB0, "MARK_PAGE_HALFDEAD"},
	{RmgrBtree, 0xC0, "VACUUM"},
	{RmgrBtree, 0xD0, "REUSE_PAGE"},
	{RmgrBtree, 0xE0, "META_CLEANUP"},

	{RmgrHash, 0x00, "INIT_META_PAGE"},
	{RmgrHash, 0x10, "INIT_BITMAP_PAGE"},
	{RmgrHash, 0x20, "INSERT"},
	{RmgrHash, 0x30, "ADD_OVFL_PAGE"},
	{RmgrHash, 0x40, "SPLIT_ALLOCATE_PAGE"},
	{RmgrHash, 0x50, "SPLIT_PAGE"},
	{RmgrHash, 0x60, "SPLIT_COMPLETE"},
	{RmgrHash, 0x70, "MOVE_PAGE_CONTENTS"},
	{RmgrHash, 0x80, "SQUEEZE_PAGE"},
	{RmgrHash, 0x90, "DELETE"},
	{RmgrHash, 0xA0, "SPLIT_CLEANUP"},
	{RmgrHash, 0xB0, "UPDATE_META_PAGE"},
	{RmgrHash, 0xC0, "VACUUM_ONE_PAGE"},

	{RmgrGin, 0x10, "CREATE_PTREE"},
	{RmgrGin, 0x20, "INSERT"},
	{RmgrGin, 0x30, "SPLIT"},
	{RmgrGin, 0x40, "VACUUM_PAGE"},
	{RmgrGin, 0x50, "DELETE_PAGE"},
	{RmgrGin, 0x60, "UPDATE_META_PAGE"},
	{RmgrGin, 0x70, "INSERT_LISTPAGE"},
	{RmgrGin, 0x80, "DELETE_LISTPAGE"},
	{RmgrGin, 0x90, "VACUUM_DATA_LEAF_PAGE"},

	{RmgrGist, 0x00, "PAGE_UPDATE"},
	{RmgrGist, 0x10, "DELETE"},
	{RmgrGist, 0x20, "PAGE_REUSE"},
	{RmgrGist, 0x30, "PAGE_SPLIT"},
	{RmgrGist, 0x60, "PAGE_DELETE"},
	{RmgrGist, 0x70, "ASSIGN_LSN"},

	{RmgrSequence, 0x00, "LOG"},

	{RmgrSPGist, 0x10, "ADD_LEAF"},
	{RmgrSPGist, 0x20, "MOVE_LEAFS"},
	{RmgrSPGist, 0x30, "ADD_NODE"},
	{RmgrSPGist, 0x40, "SPLIT_TUPLE"},
	{RmgrSPGist, 0x50, "PICKSPLIT"},
	{RmgrSPGist, 0x60, "VACUUM_LEAF"},
	{RmgrSPGist, 0x70, "VACUUM_ROOT"},
	{RmgrSPGist, 0x80, "VACUUM_REDIRECT"},

	{RmgrBRIN, 0x00, "CREATE_INDEX"},
	{RmgrBRIN, 0x10, "INSERT"},
	{RmgrBRIN, 0x90, "INSERT+INIT"},
	{RmgrBRIN, 0x20, "UPDATE"},
	{RmgrBRIN, 0xA0, "UPDATE+INIT"},
	{RmgrBRIN, 0x30, "SAMEPAGE_UPDATE"},
	{RmgrBRIN, 0x40, "REVMAP_EXTEND"},
	{RmgrBRIN, 0x50, "DESUMMARIZE"},

	{RmgrCommitTs, 0x00, "ZEROPAGE"},
	{RmgrCommitTs, 0x10, "TRUNCATE"},

	{RmgrReplicationOrigin, 0x00, "SET"},
	{RmgrReplicationOrigin, 0x10, "DROP"},

	{RmgrLogicalMessage, 0x00, "MESSAGE"},
}

func TestIdentifyNamedPairs(t *testing.T) {
	for _, c := range rdIdentifyCases {
		got, ok := Identify(c.rmid, c.info)
		if !ok || got != c.want {
			t.Errorf("Identify(%s, 0x%02X) = %q, %v; want %q, true", c.rmid, c.info, got, ok, c.want)
		}
		wantKey := c.rmid.String() + "/" + c.want
		if key := RecordTypeName(c.rmid, c.info); key != wantKey {
			t.Errorf("RecordTypeName(%s, 0x%02X) = %q; want %q", c.rmid, c.info, key, wantKey)
		}
	}
}

// rdIdentifyExpected gives the answer for any info value from the named
// pairs above and each identify function's masking.
func rdIdentifyExpected(rmid RmgrID, info uint8) (string, bool) {
	if rmid > RmgrMaxBuiltin {
		return "", false
	}
	switch rmid {
	case RmgrGeneric:
		return "Generic", true
	case RmgrCommitTs, RmgrReplicationOrigin:
		if info&0x0F != 0 { // these switch on the unmasked info
			return "", false
		}
	}
	for _, c := range rdIdentifyCases {
		if c.rmid == rmid && c.info == info&0xF0 {
			return c.want, true
		}
	}
	return "", false
}

// TestIdentifyAllInfoValues checks every rmgr id and every xl_info value:
// no panic, agreement with the named pairs and masking rules, and the
// UNKNOWN form of RecordTypeName.
func TestIdentifyAllInfoValues(t *testing.T) {
	for id := 0; id < 256; id++ {
		rmid := RmgrID(id)
		for i := 0; i < 256; i++ {
			info := uint8(i)
			got, ok := Identify(rmid, info)
			want, wantOK := rdIdentifyExpected(rmid, info)
			if got != want || ok != wantOK {
				t.Errorf("Identify(%d, 0x%02X) = %q, %v; want %q, %v", id, info, got, ok, want, wantOK)
			}
			key := RecordTypeName(rmid, info)
			var wantKey string
			if wantOK {
				wantKey = rmid.String() + "/" + want
			} else {
				wantKey = fmt.Sprintf("%s/UNKNOWN (%x)", rmid, info&0xF0)
			}
			if key != wantKey {
				t.Errorf("RecordTypeName(%d, 0x%02X) = %q; want %q", id, info, key, wantKey)
			}
		}
	}
}

func TestIdentifyQuirks(t *testing.T) {
	cases := []struct {
		rmid RmgrID
		info uint8
		want string // "" for NULL
	}{
		// The low four bits are XLR flags and ignored by most rmgrs.
		{RmgrHeap, 0x01, "INSERT"},
		{RmgrHeap, 0x83, "INSERT+INIT"},
		{RmgrBtree, 0x02, "INSERT_LEAF"},
		// ... but not by CommitTs and ReplicationOrigin.
		{RmgrCommitTs, 0x01, ""},
		{RmgrCommitTs, 0x12, ""},
		{RmgrReplicationOrigin, 0x02, ""},
		// INIT bit on ops that have no +INIT name.
		{RmgrHeap, 0x90, ""},  // DELETE|INIT
		{RmgrHeap, 0xB0, ""},  // TRUNCATE|INIT
		{RmgrHeap2, 0x80, ""}, // REWRITE|INIT
		{RmgrHeap2, 0x90, ""}, // PRUNE|INIT
		{RmgrBRIN, 0x80, ""},  // CREATE_INDEX|INIT
		// Unused opcodes.
		{RmgrXLOG, 0xC0, ""},
		{RmgrXLOG, 0xE0, ""},
		{RmgrTransaction, 0x70, ""},
		{RmgrTransaction, 0xF0, ""},
		{RmgrGin, 0x00, ""},
		{RmgrGist, 0x40, ""},
		{RmgrSPGist, 0x00, ""},
		{RmgrStorage, 0x00, ""},
		// Generic answers anything.
		{RmgrGeneric, 0x00, "Generic"},
		{RmgrGeneric, 0xFF, "Generic"},
		// Not built-in.
		{22, 0x00, ""},
		{RmgrMinCustom, 0x00, ""},
		{255, 0x10, ""},
	}
	for _, c := range cases {
		got, ok := Identify(c.rmid, c.info)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Identify(%d, 0x%02X) = %q, %v; want %q", c.rmid, c.info, got, ok, c.want)
		}
	}
}

func TestIdentifyRecordTypeNameExamples(t *testing.T) {
	cases := []struct {
		rmid RmgrID
		info uint8
		want string
	}{
		{RmgrHeap, 0x80, "Heap/INSERT+INIT"},
		{RmgrHeap, 0xF0, "Heap/UNKNOWN (f0)"},
		{RmgrHeap2, 0xD0, "Heap2/MULTI_INSERT+INIT"},
		{RmgrTransaction, 0x80, "Transaction/COMMIT"},
		{RmgrTransaction, 0xF0, "Transaction/UNKNOWN (f0)"},
		{RmgrXLOG, 0xB0, "XLOG/FPI"},
		{RmgrXLOG, 0x00, "XLOG/CHECKPOINT_SHUTDOWN"},
		{RmgrXLOG, 0xC0, "XLOG/UNKNOWN (c0)"},
		{RmgrCommitTs, 0x01, "CommitTs/UNKNOWN (0)"},
		{RmgrGeneric, 0x00, "Generic/Generic"},
		{RmgrLogicalMessage, 0x00, "LogicalMessage/MESSAGE"},
		{128, 0x10, "custom128/UNKNOWN (10)"},
		{22, 0x00, "custom022/UNKNOWN (0)"},
	}
	for _, c := range cases {
		if got := RecordTypeName(c.rmid, c.info); got != c.want {
			t.Errorf("RecordTypeName(%d, 0x%02X) = %q; want %q", c.rmid, c.info, got, c.want)
		}
	}
}

func TestIdentifyRecordTypeNameNoAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		_ = RecordTypeName(RmgrHeap, 0x80)
		_ = RecordTypeName(RmgrHeap, 0xF0)
		_, _ = Identify(RmgrTransaction, 0x80)
	})
	if n != 0 {
		t.Errorf("RecordTypeName allocates %v times per run", n)
	}
}

func BenchmarkIdentify(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_, _ = Identify(RmgrID(i%22), uint8(i))
	}
}
