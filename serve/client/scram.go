package client

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// scramClient is the client side of SCRAM-SHA-256 without channel
// binding (RFC 5802, RFC 7677).
type scramClient struct {
	password    string
	clientNonce string
	firstBare   string
	serverSig   []byte
}

func newSCRAMClient(password string) *scramClient {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return &scramClient{password: password, clientNonce: base64.StdEncoding.EncodeToString(b)}
}

// first is the client-first-message. The user name is empty, as libpq
// sends it: the server takes the startup packet's.
func (s *scramClient) first() []byte {
	s.firstBare = "n=,r=" + s.clientNonce
	return []byte("n,," + s.firstBare)
}

func hmacSum(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// final answers the server-first-message with the client-final-message.
func (s *scramClient) final(serverFirst []byte) ([]byte, error) {
	var nonce, salt64, iter string
	for _, attr := range strings.Split(string(serverFirst), ",") {
		switch {
		case strings.HasPrefix(attr, "r="):
			nonce = attr[2:]
		case strings.HasPrefix(attr, "s="):
			salt64 = attr[2:]
		case strings.HasPrefix(attr, "i="):
			iter = attr[2:]
		}
	}
	if !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce) {
		return nil, errors.New("SCRAM: the server's nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return nil, fmt.Errorf("SCRAM salt: %w", err)
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("SCRAM iteration count %q", iter)
	}
	salted, err := pbkdf2.Key(sha256.New, s.password, salt, n, sha256.Size)
	if err != nil {
		return nil, err
	}
	withoutProof := "c=biws,r=" + nonce // biws: base64 of "n,,"
	authMessage := []byte(s.firstBare + "," + string(serverFirst) + "," + withoutProof)
	clientKey := hmacSum(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	sig := hmacSum(stored[:], authMessage)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	s.serverSig = hmacSum(hmacSum(salted, []byte("Server Key")), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message.
func (s *scramClient) verify(serverFinal []byte) bool {
	v, ok := strings.CutPrefix(string(serverFinal), "v=")
	if !ok {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(v)
	return err == nil && hmac.Equal(sig, s.serverSig)
}
