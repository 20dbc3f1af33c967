package node

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/pagemill/pagemill/streams"
)

// connectNATS dials the external cluster, or starts the embedded server
// (with the operators' listener) and connects in process. close closes
// the connection, then shuts the embedded server down.
func (n *Node) connectNATS(ctx context.Context, name string) (nc *nats.Conn, close func(), err error) {
	c := n.cfg.NATS
	if c.External.URL != "" {
		cc := c.External
		if cc.Name == "" {
			cc.Name = name
		}
		if nc, err = streams.Connect(ctx, cc, n.log); err != nil {
			return nil, nil, err
		}
		n.setConn(nc, "")
		return nc, nc.Close, nil
	}
	ecfg := streams.EmbeddedConfig{Dir: filepath.Join(n.cfg.DataDir, "nats"), Listen: c.Listen, DropCacheEvery: n.cfg.Memory.DropStreamCache}
	pwFile := filepath.Join(n.cfg.DataDir, "nats-operator.password")
	operators := c.Listen != "" && !c.Anonymous
	if operators {
		if ecfg.Password, err = streams.OperatorPassword(pwFile); err != nil {
			return nil, nil, err
		}
		ecfg.User = c.User
	}
	emb, err := streams.StartEmbedded(ctx, ecfg, n.log)
	if err != nil {
		return nil, nil, err
	}
	if operators {
		n.log.Info("NATS listener for operators", "url", emb.ClientURL(), "user", ecfg.User, "password_file", pwFile,
			"try", fmt.Sprintf("nats --server %s --user %s --password \"$(cat %s)\" stream ls", emb.ClientURL(), ecfg.User, pwFile))
	}
	if nc, err = emb.Connect(); err != nil {
		emb.Shutdown()
		return nil, nil, err
	}
	n.setConn(nc, emb.ClientURL())
	return nc, func() { nc.Close(); emb.Shutdown() }, nil
}

func (n *Node) setConn(nc *nats.Conn, url string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nc, n.natsURL = nc, url
}
