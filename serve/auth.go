package serve

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// AuthMethod is how clients prove who they are.
type AuthMethod string

// Authentication methods.
const (
	// AuthDefault trusts loopback clients and refuses all others: safe
	// for the default listen address, and no secret to configure.
	AuthDefault AuthMethod = ""
	// AuthTrust lets every client in.
	AuthTrust AuthMethod = "trust"
	// AuthPassword asks for the password in clear text (use with TLS).
	AuthPassword AuthMethod = "password"
	// AuthSCRAM runs SCRAM-SHA-256, as PostgreSQL's scram-sha-256.
	AuthSCRAM AuthMethod = "scram-sha-256"
)

// Auth is the authentication policy.
type Auth struct {
	Method AuthMethod
	// Users maps user names to passwords (AuthPassword, AuthSCRAM).
	// Passwords are used as given, without SASLprep normalization.
	Users map[string]string
	// TrustLoopback lets loopback clients in without a password even when
	// Method asks for one.
	TrustLoopback bool
}

func (a Auth) validate() error {
	switch a.Method {
	case AuthDefault, AuthTrust:
		return nil
	case AuthPassword, AuthSCRAM:
		if len(a.Users) == 0 {
			return fmt.Errorf("pgwire auth %s: no users configured", a.Method)
		}
		return nil
	}
	return fmt.Errorf("pgwire auth: unknown method %q (want trust, password or scram-sha-256)", a.Method)
}

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramSecret is what a SCRAM server keeps of a password.
type scramSecret struct {
	salt                 []byte
	storedKey, serverKey []byte
}

func newSCRAMSecret(password string) (*scramSecret, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return nil, err
	}
	clientKey := hmacSHA256(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	return &scramSecret{salt: salt, storedKey: stored[:], serverKey: hmacSHA256(salted, []byte("Server Key"))}, nil
}

func (a Auth) scramSecrets() (map[string]*scramSecret, error) {
	if a.Method != AuthSCRAM {
		return nil, nil
	}
	out := make(map[string]*scramSecret, len(a.Users))
	for u, p := range a.Users {
		s, err := newSCRAMSecret(p)
		if err != nil {
			return nil, fmt.Errorf("pgwire auth: SCRAM secret of %s: %w", u, err)
		}
		out[u] = s
	}
	return out, nil
}

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// errAuthFailed is what a client hears for any failed authentication, so
// that it cannot tell an unknown user from a wrong password.
type authError struct{ user, detail string }

func (e *authError) Error() string {
	return fmt.Sprintf("password authentication failed for user %q", e.user)
}

func isLoopback(addr net.Addr) bool {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return false
}

// authenticate runs the configured method for user. It returns a
// client-facing error (ErrorResponse already decided by the caller).
func (c *conn) authenticate(user string) error {
	a := c.s.cfg.Auth
	loop := isLoopback(c.raw.RemoteAddr())
	switch {
	case a.Method == AuthTrust:
		return nil
	case a.Method == AuthDefault:
		if loop {
			return nil
		}
		return &authError{user: user, detail: "pagemill trusts only loopback clients unless a password method is configured"}
	case a.TrustLoopback && loop:
		return nil
	case a.Method == AuthPassword:
		return c.authCleartext(user)
	default:
		return c.authSCRAM(user)
	}
}

func (c *conn) authCleartext(user string) error {
	msg, err := c.authRequest(&pgproto3.AuthenticationCleartextPassword{}, pgproto3.AuthTypeCleartextPassword)
	if err != nil {
		return err
	}
	pm, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return fmt.Errorf("expected a password message, got %T", msg)
	}
	want, known := c.s.cfg.Auth.Users[user]
	// Compare even for an unknown user so both take the same time.
	if subtle.ConstantTimeCompare([]byte(pm.Password), []byte(want)) != 1 || !known {
		return &authError{user: user, detail: "wrong password or unknown user"}
	}
	return nil
}

// authRequest sends an authentication request (of type authType, which
// tells the backend how to read the answer) and receives the client's
// answer.
func (c *conn) authRequest(req pgproto3.BackendMessage, authType uint32) (pgproto3.FrontendMessage, error) {
	c.be.Send(req)
	if err := c.be.Flush(); err != nil {
		return nil, err
	}
	if err := c.be.SetAuthType(authType); err != nil {
		return nil, err
	}
	return c.be.Receive()
}

// authSCRAM is the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677)
// without channel binding, as PostgreSQL does it: the user name inside the
// SCRAM messages is ignored in favour of the startup packet's.
func (c *conn) authSCRAM(user string) error {
	msg, err := c.authRequest(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}, pgproto3.AuthTypeSASL)
	if err != nil {
		return err
	}
	init, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return fmt.Errorf("expected a SASL initial response, got %T", msg)
	}
	if init.AuthMechanism != "SCRAM-SHA-256" {
		return fmt.Errorf("unsupported SASL mechanism %q", init.AuthMechanism)
	}
	gs2, first, clientNonce, err := parseClientFirst(string(init.Data))
	if err != nil {
		return err
	}
	secret := c.s.users[user]
	known := secret != nil
	if !known {
		// Run the exchange to its end with a secret no password matches.
		if secret, err = newSCRAMSecret(string(rand.Text())); err != nil {
			return err
		}
	}
	nonceBytes := make([]byte, 18)
	_, _ = rand.Read(nonceBytes)
	nonce := clientNonce + base64.StdEncoding.EncodeToString(nonceBytes)
	serverFirst := fmt.Sprintf("r=%s,s=%s,i=%d", nonce, base64.StdEncoding.EncodeToString(secret.salt), scramIterations)
	if msg, err = c.authRequest(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)}, pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return fmt.Errorf("expected a SASL response, got %T", msg)
	}
	withoutProof, proof, err := parseClientFinal(string(resp.Data), gs2, nonce)
	if err != nil {
		return err
	}
	authMessage := []byte(first + "," + serverFirst + "," + withoutProof)
	if !secret.verify(proof, authMessage) || !known {
		return &authError{user: user, detail: "SCRAM proof does not match"}
	}
	serverSig := hmacSHA256(secret.serverKey, authMessage)
	c.be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte("v=" + base64.StdEncoding.EncodeToString(serverSig))})
	return nil
}

// parseClientFirst splits a client-first-message (gs2-header
// client-first-bare) and returns the client's nonce.
func parseClientFirst(msg string) (gs2, first, clientNonce string, err error) {
	switch {
	case strings.HasPrefix(msg, "n,,"), strings.HasPrefix(msg, "y,,"):
		gs2, first = msg[:3], msg[3:]
	case strings.HasPrefix(msg, "p="):
		return "", "", "", errors.New("SCRAM channel binding is not supported")
	default:
		return "", "", "", errors.New("malformed SCRAM client-first-message")
	}
	for _, attr := range strings.Split(first, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			clientNonce = v
		}
	}
	if clientNonce == "" || strings.HasPrefix(first, "m=") {
		return "", "", "", errors.New("malformed SCRAM client-first-message")
	}
	return gs2, first, clientNonce, nil
}

// parseClientFinal checks a client-final-message against the exchange
// (its channel binding is the gs2 header, its nonce nonce) and returns it
// without its proof, and the proof.
func parseClientFinal(final, gs2, nonce string) (withoutProof string, proof []byte, err error) {
	idx := strings.LastIndex(final, ",p=")
	if idx < 0 {
		return "", nil, errors.New("malformed SCRAM client-final-message: no proof")
	}
	withoutProof, proofB64 := final[:idx], final[idx+3:]
	var gotBinding, gotNonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		if v, ok := strings.CutPrefix(attr, "c="); ok {
			gotBinding = v
		} else if v, ok := strings.CutPrefix(attr, "r="); ok {
			gotNonce = v
		}
	}
	if gotBinding != base64.StdEncoding.EncodeToString([]byte(gs2)) || gotNonce != nonce {
		return "", nil, errors.New("SCRAM client-final-message does not match the exchange")
	}
	proof, err = base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return "", nil, errors.New("malformed SCRAM client proof")
	}
	return withoutProof, proof, nil
}

// verify reports whether proof is the client proof of authMessage for the
// password behind the secret.
func (sec *scramSecret) verify(proof, authMessage []byte) bool {
	clientSig := hmacSHA256(sec.storedKey, authMessage)
	clientKey := make([]byte, sha256.Size)
	for i := range clientKey {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	stored := sha256.Sum256(clientKey)
	return bytes.Equal(stored[:], sec.storedKey)
}
