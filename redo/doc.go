// Package redo re-implements PostgreSQL 15's redo in Go: pure functions that
// apply one decoded record to the pages it touches (no I/O, no locks,
// deterministic), and the materializer that applies the log into the page
// store on its own workers.
//
// Contract: a page version produced by a record is known by the record's
// end LSN; a record that cannot be applied exactly makes the page
// unavailable until a full-page image repairs it.
package redo
