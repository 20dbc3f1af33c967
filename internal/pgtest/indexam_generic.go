package pgtest

// GenericWorkload reaches every Generic record type a stock PostgreSQL 15
// writes. TODO(issue 13): statements, types, queries.
func GenericWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "generic",
		Rmgr: "Generic",
		Statements: []string{
			`CREATE TABLE bl (a int, b int); INSERT INTO bl SELECT g, g*2 FROM generate_series(1,2000) g; CREATE INDEX bl_idx ON bl USING bloom (a, b)`,
			`INSERT INTO bl SELECT g, g*3 FROM generate_series(1,2000) g`,
		},
		Want: []string{"Generic/Generic"},
	}
}
