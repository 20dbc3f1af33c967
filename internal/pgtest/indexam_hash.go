package pgtest

// HashWorkload reaches every Hash record type a stock PostgreSQL 15
// writes. TODO(issue 13): statements, types, queries.
func HashWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "hash",
		Rmgr: "Hash",
	}
}
