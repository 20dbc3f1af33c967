package pgtest

// GinWorkload reaches every Gin record type a stock PostgreSQL 15
// writes. TODO(issue 13): statements, types, queries.
func GinWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "gin",
		Rmgr: "Gin",
	}
}
