package streams

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publishing on one embedded server with SyncAlways (an fsync per write):
//
//	go test -run XXX -bench . ./streams/
//
// Atomic: one PublishAtomic of n messages per iteration. Single: one
// synchronous JetStream PublishMsg per message (wait for each ack). Async:
// PublishMsgAsync with up to 256 acks outstanding (not atomic). Every
// message carries a Nats-Msg-Id, as ingest's do. MB/s counts payload.

func benchMsgs(n, size, iter int) []*nats.Msg {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		subj := testLayout.ShardSubject(i % testLayout.Shards)
		if i == n-1 {
			subj = testLayout.MetaSubject()
		}
		m := nats.NewMsg(subj)
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("b%d.%d", iter, i))
		m.Data = payload
		msgs[i] = m
	}
	return msgs
}

func reportMsgs(b *testing.B, perIter int) {
	b.ReportMetric(float64(b.N*perIter)/b.Elapsed().Seconds(), "msgs/s")
}

type benchCase struct{ n, size int }

func (c benchCase) String() string { return fmt.Sprintf("%dx%dKiB", c.n, c.size>>10) }

// The 16-message cases are the comparison; 256x1KiB shows how a larger
// batch amortizes the atomic batch's fixed cost.
var (
	benchCases       = []benchCase{{16, 64 << 10}, {16, 1 << 10}}
	benchAtomicCases = append(benchCases, benchCase{256, 1 << 10})
)

// benchEach runs bench for each case on a fresh server: bench times its
// iterations with b.Loop; benchEach counts the case's payload and
// messages per iteration.
func benchEach(b *testing.B, cases []benchCase, bench func(b *testing.B, c benchCase, nc *nats.Conn, js jetstream.JetStream)) {
	for _, c := range cases {
		b.Run(c.String(), func(b *testing.B) {
			_, nc, js, _ := ensuredNode(b, 30*time.Second, Config{})
			b.SetBytes(int64(c.n * c.size))
			bench(b, c, nc, js)
			reportMsgs(b, c.n)
		})
	}
}

func BenchmarkPublishAtomic(b *testing.B) {
	benchEach(b, benchAtomicCases, func(b *testing.B, c benchCase, nc *nats.Conn, _ jetstream.JetStream) {
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			if _, err := PublishAtomic(ctx, nc, fmt.Sprintf("bench-%d", i), benchMsgs(c.n, c.size, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPublishSingle(b *testing.B) {
	benchEach(b, benchCases, func(b *testing.B, c benchCase, _ *nats.Conn, js jetstream.JetStream) {
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			for _, m := range benchMsgs(c.n, c.size, i) {
				if _, err := js.PublishMsg(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkPublishAsync(b *testing.B) {
	benchEach(b, benchCases, func(b *testing.B, c benchCase, nc *nats.Conn, _ jetstream.JetStream) {
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			for _, m := range benchMsgs(c.n, c.size, i) {
				if _, err := js.PublishMsgAsync(m); err != nil {
					b.Fatal(err)
				}
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("async acks did not complete")
		}
	})
}
