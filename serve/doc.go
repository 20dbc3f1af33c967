// Package serve is pagemill's PostgreSQL wire-protocol front end: pages as
// of any LSN in the retention window, for a compute speaking Neon's
// pagestream protocol, for Go programs (package serve/client) and for a
// person with psql, all on one port.
//
// # Contract
//
//   - Connections: protocol 3.0 (a 3.2 client is told so), SSLRequest
//     answered with TLS when Config.TLS is set and 'N' otherwise,
//     GSSENCRequest answered 'N', CancelRequest honoured with the
//     BackendKeyData key, Terminate. Authentication (Config.Auth): by
//     default loopback clients are trusted and others refused; "trust",
//     "password" (cleartext) and "scram-sha-256" otherwise. One goroutine
//     per connection; all belong to Run's context and end with it.
//   - psql commands (simple query protocol, case-insensitive, semicolons
//     and several commands per query accepted): get_page REL FORK BLK
//     [LSN|latest] → (lsn text, page bytea); nblocks, exists, db_size →
//     (lsn text, int8/bool); status; help. REL is spcnode/dbnode/relnode as
//     pg_waldump prints it. Without an LSN the newest applied version is
//     read; with one, exactly that LSN, waiting for it if needed. Errors
//     are ErrorResponses with a SQLSTATE (42601 and a hint for bad
//     commands) and leave the connection usable. The extended protocol is
//     refused once per exchange (0A000), as PostgreSQL refuses after an
//     error.
//   - Pagestream: `pagestream_v2|pagestream_v3 TENANT TIMELINE` switches to
//     CopyBoth; byte layouts in package serve/pagestream. Requests are
//     pipelined: a reader queues them in arrival order, each is answered by
//     a goroutine of its own (at most Config.MaxInFlight per connection;
//     the queue holds the client back beyond that), and a writer sends the
//     answers in arrival order, batching writes. A malformed request (short,
//     trailing bytes, unknown tag, bad fork) gets an Error response in its
//     place and the stream goes on; broken framing (huge or negative
//     lengths, non-copy messages) is a protocol error that closes only that
//     connection. CopyDone answers what is in flight, then returns to simple
//     queries.
//   - Effective LSN: request_lsn 0 or below not_modified_since is "Bad
//     request"; below the retention horizon is refused; otherwise the read
//     is at min(applied, request_lsn), raised to not_modified_since (and to
//     the horizon), waiting when that is beyond what redo applied. GetPage
//     looks at the page's shard, the others at every shard. A page without
//     a version at that LSN reads as zeros. GetSlruSegment (kind 0 clog,
//     1 multixact members, 2 multixact offsets) answers the segment's pages
//     up to its last existing one, from the same auxiliary pages a restore
//     writes.
//   - Waiting never blocks anything else: a request that waits holds no
//     lock of serve's or of redo's. Waits are coalesced: one goroutine per
//     shard waits in the page source for the smallest LSN anyone needs and
//     wakes exactly the requests an advance satisfies, so thousands of
//     waiting requests cost redo and other clients nothing. Every wait is
//     bounded by Config.WaitTimeout (its error names the LSN waited for and
//     the applied LSN), by a CancelRequest and by the connection.
//   - Tenant and timeline ids are derived from the source's system
//     identifier and timeline (TenantID, TimelineID), shown by status.
//   - Metrics (registry passed in): pagemill_serve_request_seconds{kind},
//     pagemill_serve_lsn_wait_seconds, pagemill_serve_waits_in_progress,
//     pagemill_serve_wait_timeouts_total, pagemill_serve_errors_total{kind},
//     pagemill_serve_connections and pagemill_serve_connections_total.
package serve
