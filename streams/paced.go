package streams

import (
	"context"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxChunksInFlight bounds the object chunks published and not yet
// acknowledged by an AckPacedReader (128 KiB each by default).
const MaxChunksInFlight = 16

// AckPacedReader wraps r for ObjectStore.Put. The object store publishes
// one chunk per Read, asynchronously, thousands at once if the reader is
// fast, which overruns a server that fsyncs every message (the client
// stalls, or the server drops messages and the Put fails). The reader
// fills every chunk and hands out the next only while fewer than
// MaxChunksInFlight are unacknowledged on js, the context the store
// publishes with: a file streams at the speed the server stores it.
func AckPacedReader(ctx context.Context, js jetstream.JetStream, r io.Reader) io.Reader {
	return &ackPacedReader{ctx: ctx, r: r, js: js}
}

type ackPacedReader struct {
	ctx context.Context
	r   io.Reader
	js  jetstream.JetStream
}

func (a *ackPacedReader) Read(p []byte) (int, error) {
	for a.js != nil && a.js.PublishAsyncPending() >= MaxChunksInFlight {
		select {
		case <-a.js.PublishAsyncComplete():
		case <-time.After(5 * time.Millisecond):
		case <-a.ctx.Done():
			return 0, a.ctx.Err()
		}
	}
	n, err := io.ReadFull(a.r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}
