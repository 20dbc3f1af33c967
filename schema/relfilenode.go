package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// Oid is a PostgreSQL object id.
type Oid = uint32

// BlockNumber is a block's number within one fork of a relation.
type BlockNumber uint32

// InvalidBlockNumber is PostgreSQL's InvalidBlockNumber.
const InvalidBlockNumber BlockNumber = 0xFFFFFFFF

// RelFileNode identifies a relation's files: tablespace, database and
// relfilenode (storage/relfilenode.h).
type RelFileNode struct {
	SpcNode Oid
	DbNode  Oid
	RelNode Oid
}

// String formats the node as pg_waldump does: spc/db/rel.
func (r RelFileNode) String() string {
	return fmt.Sprintf("%d/%d/%d", r.SpcNode, r.DbNode, r.RelNode)
}

// ParseRelFileNode parses "spc/db/rel".
func ParseRelFileNode(s string) (RelFileNode, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return RelFileNode{}, fmt.Errorf("invalid relation %q: want spcnode/dbnode/relnode", s)
	}
	var v [3]uint32
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return RelFileNode{}, fmt.Errorf("invalid relation %q: %w", s, err)
		}
		v[i] = uint32(n)
	}
	return RelFileNode{SpcNode: v[0], DbNode: v[1], RelNode: v[2]}, nil
}

// ForkNumber is a relation fork (common/relpath.h).
type ForkNumber int8

// Relation forks.
const (
	InvalidForkNumber ForkNumber = -1
	MainForkNum       ForkNumber = 0
	FSMForkNum        ForkNumber = 1
	VisibilityMapFork ForkNumber = 2
	InitForkNum       ForkNumber = 3
	MaxForkNum                   = InitForkNum
)

var forkNames = [...]string{"main", "fsm", "vm", "init"}

// String returns the fork's name as PostgreSQL spells it (forkNames[]).
func (f ForkNumber) String() string {
	if f >= 0 && int(f) < len(forkNames) {
		return forkNames[f]
	}
	return fmt.Sprintf("fork%d", int8(f))
}

// Valid reports whether f names one of the four forks.
func (f ForkNumber) Valid() bool { return f >= MainForkNum && f <= MaxForkNum }

// ParseForkNumber parses a fork name (main, fsm, vm, init).
func ParseForkNumber(s string) (ForkNumber, error) {
	for i, n := range forkNames {
		if strings.EqualFold(s, n) {
			return ForkNumber(i), nil
		}
	}
	return InvalidForkNumber, fmt.Errorf("invalid fork %q: want one of main, fsm, vm, init", s)
}

// RelFork names one fork of a relation.
type RelFork struct {
	Rel  RelFileNode
	Fork ForkNumber
}

// BufferTag names one page: relation, fork and block (storage/buf_internals.h).
type BufferTag struct {
	Rel   RelFileNode
	Fork  ForkNumber
	Block BlockNumber
}

// String formats the tag like pg_waldump's block references:
// "rel 1663/5/16384 blk 0", with " fork vm" for non-main forks.
func (t BufferTag) String() string {
	if t.Fork == MainForkNum {
		return fmt.Sprintf("rel %s blk %d", t.Rel, t.Block)
	}
	return fmt.Sprintf("rel %s fork %s blk %d", t.Rel, t.Fork, t.Block)
}
