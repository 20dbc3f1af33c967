// Package serve is pagemill's PostgreSQL wire-protocol front end: pages as
// of any LSN in the retention window, for a compute speaking Neon's
// pagestream protocol, for Go programs (package serve/client) and for a
// person with psql, all on one port.
//
// The last step of a record's path: a GetPage at LSN L asks
// redo/materialize for the page (PageAt), which parks on the shard's
// applied-LSN notification until every record up to L for that page is in
// the page store, then reconstructs the page from the store (the newest
// image at or below L plus the records after it, replayed by redo); the
// handler holds no lock while it waits.
//
// # Contract
//
//   - Connections: protocol 3.0 (a 3.2 client is told so), SSLRequest
//     answered with TLS when Config.TLS is set and 'N' otherwise,
//     GSSENCRequest answered 'N', CancelRequest honoured with the
//     BackendKeyData key, Terminate. Authentication (Config.Auth): by
//     default loopback clients are trusted and others refused; "trust",
//     "password" (cleartext) and "scram-sha-256" otherwise. Two goroutines
//     per connection: one serves it, one reads its socket, so that a
//     client hanging up is noticed at once, not at its next message, and
//     what it waits for is cancelled then; all belong to Run's context and
//     end with it.
//   - psql commands (simple query protocol, case-insensitive, semicolons
//     and several commands per query accepted; pipelined queries answered
//     in order): get_page REL [FORK] BLK [LSN|latest] → (lsn text, page
//     bytea); nblocks, exists REL [FORK] [LSN] and db_size DB [LSN] →
//     (lsn text, int8/bool); relations [LSN] → the relations of a database
//     as its pg_class had them (lsn, oid, schema, name, kind, am,
//     persistence, path, nblocks, size); page_history REL [FORK] BLK [FROM
//     [TO]] → one row per stored version of the page with FROM < LSN <= TO
//     (default: from the retention horizon to the applied LSN), the
//     records pg_waldump -s FROM -e TO shows for the block: (lsn,
//     record_lsn, xid, full_image, stored, rmgr, type, description — the
//     description pagemill waldump prints), at most 10000 (a notice says
//     where the rest start); page_items REL [FORK] BLK [LSN] → the items of
//     a heap or btree page as pageinspect's heap_page_items (with
//     heap_tuple_infomask_flags' raw_flags and combined_flags) or
//     bt_page_items show them, after an lsn column; status; help. REL is
//     spcnode/dbnode/relnode as pg_waldump prints it, or a relation name
//     (name or schema.name; "Quoted" parts keep their case, others are
//     folded to lower case) in the database db=NAME (default: the
//     connection's database); DB is an oid or a name; FORK defaults to
//     main. Without an LSN the newest applied version is read; with one,
//     exactly that LSN, waiting for it if needed.
//   - Names are read from the catalogs' own pages as of the LSN the
//     command reads at (for a name, one LSN every shard has applied): the
//     shared relation map locates pg_database, the database's relation map
//     its pg_class, pg_class pg_namespace, pg_am and the relation. A
//     catalog row counts when the transaction that wrote it committed at or
//     before that LSN and none that deleted it did, as pg_xact at that LSN
//     says (hint bits are not trusted); so a relation renamed or dropped
//     later is found under the name it had then, and one whose creator was
//     still in progress is not. An unqualified name must be unique among
//     all schemas. page_history reads a name at TO, or at FROM when it no
//     longer exists at TO. A connection caches its catalog reads by
//     (database, LSN): what is at an LSN never changes.
//   - Errors are ErrorResponses with a SQLSTATE and leave the connection
//     usable: 42601 and a hint for bad commands and names, 42P01 for a
//     relation that does not exist at that LSN, 42P09 for an ambiguous
//     name, 3F000 and 3D000 for a schema or database that does not, 42809
//     for a relation without storage, 22023 below the retention horizon
//     (page_history's FROM too: versions below it were garbage-collected),
//     57014 for a wait that timed out or was cancelled. The extended
//     protocol is refused once per exchange (0A000), as PostgreSQL refuses
//     after an error.
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
//     the applied LSN), by a CancelRequest and by the connection: a client
//     that hangs up ends its waits at once.
//   - Tenant and timeline ids are derived from the source's system
//     identifier and timeline (TenantID, TimelineID), shown by status.
//   - Metrics (registry passed in): pagemill_serve_request_seconds{kind},
//     pagemill_serve_lsn_wait_seconds, pagemill_serve_waits_in_progress,
//     pagemill_serve_wait_timeouts_total, pagemill_serve_errors_total{kind},
//     pagemill_serve_connections and pagemill_serve_connections_total.
package serve
