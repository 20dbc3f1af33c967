package pgtest

// SPGistWorkload reaches every SPGist record type a stock PostgreSQL 15
// writes. TODO(issue 13): statements, types, queries.
func SPGistWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "spgist",
		Rmgr: "SPGist",
	}
}
