// Package cli implements pagemill's subcommands; cmd/pagemill only
// dispatches to them. Each command takes its arguments, standard streams and
// a context, and returns an exit status, so tests can run commands in
// process.
package cli
