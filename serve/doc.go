// Package serve is the PostgreSQL wire-protocol front end: GetPage@LSN,
// Exists, Nblocks and DbSize over the pagestream protocol, and psql-friendly
// commands.
//
// Contract: a request that waits for redo parks on a notification with a
// timeout and holds nothing the redo path needs.
package serve
