package streams

// The internal tests' helpers, for the external ones (package
// streams_test): those may import internal/natstest, which imports
// streams.
var (
	TestLayout = testLayout
	TestLogger = testLogger
	TestCtx    = testCtx
	MakeBatch  = makeBatch
	BatchID    = batchID
	ReadStream = readAll
)
