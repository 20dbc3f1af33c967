// Package ops is the wiring of a pagemill process: structured logging
// (log/slog), a Prometheus registry that is created here and passed to every
// component (never the global one), health checks, and the HTTP server that
// exposes /metrics and /healthz.
//
// Contract: nothing in ops keeps package-level mutable state. A process
// builds one Logger, one Registry and one Health, hands them to the
// components it starts, and runs Server until its context ends; Server
// shuts down gracefully within a bounded time.
package ops
