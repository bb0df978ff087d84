package k3s

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// token is a k3s join token. The full form K10<ca-hash>::<user>:<password>
// pins the cluster CA; a short token is the password alone.
type token struct {
	caHash   string
	password string
}

func parseToken(s string) token {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "K10") {
		if hash, rest, ok := strings.Cut(s[3:], "::"); ok {
			if _, pw, ok := strings.Cut(rest, ":"); ok {
				return token{caHash: hash, password: pw}
			}
		}
	}
	return token{password: s}
}

// full is the token as k3s writes it to server/token.
func (t token) full(user, caHash string) string {
	return "K10" + caHash + "::" + user + ":" + t.password
}

// matches reports whether a presented token opens this one: same password,
// and the same CA if the presented token pins one.
func (t token) matches(presented token, caHash string) bool {
	if t.password == "" || presented.password == "" {
		return false
	}
	if presented.caHash != "" && presented.caHash != caHash {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(t.password), []byte(presented.password)) == 1
}

func randomPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
