package schema

import "fmt"

// RmgrID is a resource manager id (xl_rmid), as listed in PostgreSQL 15's
// access/rmgrlist.h.
type RmgrID uint8

// Built-in resource managers of PostgreSQL 15.
const (
	RmgrXLOG              RmgrID = 0
	RmgrTransaction       RmgrID = 1
	RmgrStorage           RmgrID = 2
	RmgrCLOG              RmgrID = 3
	RmgrDatabase          RmgrID = 4
	RmgrTablespace        RmgrID = 5
	RmgrMultiXact         RmgrID = 6
	RmgrRelMap            RmgrID = 7
	RmgrStandby           RmgrID = 8
	RmgrHeap2             RmgrID = 9
	RmgrHeap              RmgrID = 10
	RmgrBtree             RmgrID = 11
	RmgrHash              RmgrID = 12
	RmgrGin               RmgrID = 13
	RmgrGist              RmgrID = 14
	RmgrSequence          RmgrID = 15
	RmgrSPGist            RmgrID = 16
	RmgrBRIN              RmgrID = 17
	RmgrCommitTs          RmgrID = 18
	RmgrReplicationOrigin RmgrID = 19
	RmgrGeneric           RmgrID = 20
	RmgrLogicalMessage    RmgrID = 21

	// RmgrMaxBuiltin is the highest built-in id (RM_MAX_BUILTIN_ID).
	RmgrMaxBuiltin RmgrID = RmgrLogicalMessage
	// RmgrMinCustom is the first id reserved for extensions (RM_MIN_CUSTOM_ID).
	RmgrMinCustom RmgrID = 128
)

// rmgrNames are the names pg_waldump prints, indexed by RmgrID.
var rmgrNames = [...]string{
	"XLOG", "Transaction", "Storage", "CLOG", "Database", "Tablespace",
	"MultiXact", "RelMap", "Standby", "Heap2", "Heap", "Btree", "Hash",
	"Gin", "Gist", "Sequence", "SPGist", "BRIN", "CommitTs",
	"ReplicationOrigin", "Generic", "LogicalMessage",
}

// String returns the resource manager's name as pg_waldump prints it.
// Custom resource managers are named custom###, as PostgreSQL does when the
// extension is not loaded.
func (id RmgrID) String() string {
	if int(id) < len(rmgrNames) {
		return rmgrNames[id]
	}
	return fmt.Sprintf("custom%03d", uint8(id))
}

// Valid reports whether id is a built-in or custom resource manager id.
func (id RmgrID) Valid() bool {
	return id <= RmgrMaxBuiltin || id >= RmgrMinCustom
}
