package pgtest

// GistWorkload reaches every Gist record type a stock PostgreSQL 15
// writes. TODO(issue 13): statements, types, queries.
func GistWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "gist",
		Rmgr: "Gist",
	}
}
