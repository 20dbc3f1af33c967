package pgtest

// BRINWorkload reaches every BRIN record type a stock PostgreSQL 15
// writes. TODO(issue 13): statements, types, queries.
func BRINWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "brin",
		Rmgr: "BRIN",
	}
}
