package pagestore

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// PagesAt reads n consecutive blocks of a relation fork, from block
// first, as of lsn: PageAt for each, in one read transaction with one
// iterator (creating them per page was most of the cost of reading a
// whole relation). pages[i] is block first+i; errs[i] its error (as
// PageAt's: ErrNotFound, *UnavailableError, …). err is set when the
// store could not be read at all.
func (s *Store) PagesAt(rel schema.RelFileNode, fork schema.ForkNumber, first schema.BlockNumber, n int, lsn schema.LSN) (pages []schema.Page, errs []error, err error) {
	pages, errs = make([]schema.Page, n), make([]error, n)
	chains := make([][]version, n)
	err = s.db.View(func(txn *badger.Txn) error {
		h := s.TimeLineHistory()
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, PrefetchValues: false, Prefix: relPrefix(prefixPage, rel, fork)})
		defer it.Close()
		for i := n - 1; i >= 0; i-- {
			tag := schema.BufferTag{Rel: rel, Fork: fork, Block: first + schema.BlockNumber(i)}
			chain, err := s.chainFrom(txn, it, h, tag, lsn, false)
			if err != nil {
				return fmt.Errorf("read page %s at %s: %w", tag, lsn, err)
			}
			chains[i] = chain
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for i, chain := range chains {
		tag := schema.BufferTag{Rel: rel, Fork: fork, Block: first + schema.BlockNumber(i)}
		pages[i], _, errs[i] = s.replay(tag, lsn, chain, nil)
	}
	return pages, errs, nil
}
