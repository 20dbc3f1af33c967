// Package pgtest is package scratchpg for tests: [Start] creates a scratch
// PostgreSQL 15 cluster that fails the test when it cannot start and is
// removed when the test ends (logging the server log's tail if the test
// failed), and every *Context method of scratchpg.Cluster has a form
// taking a testing.TB that fails the test on error. It also holds the
// workloads tests share (the index access methods' in indexam*.go).
package pgtest
