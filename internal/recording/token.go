package recording

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// TokenVersion prefixes every token of this algorithm.
const TokenVersion = "RT1"

// MintToken makes the token an app server gives its clients, from its app_id and secret alone:
//
//	msg   = "RT1" + ":" + app_id + ":" + expire + ":" + nonce
//	token = "RT1" + ":" + expire + ":" + nonce + ":" + hex(HMAC-SHA256(key = secret, msg))
//
// expire is Unix seconds (the token is refused from that second on); nonce is any text of letters
// and digits (1-32) that makes tokens of the same second differ.
func MintToken(appID, secret string, expire time.Time, nonce string) string {
	exp := strconv.FormatInt(expire.Unix(), 10)
	return TokenVersion + ":" + exp + ":" + nonce + ":" + tokenMAC(appID, secret, exp, nonce)
}

func tokenMAC(appID, secret, exp, nonce string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(TokenVersion + ":" + appID + ":" + exp + ":" + nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// checkToken verifies a token of appID against its secret at now.
func checkToken(appID, secret, token string, now time.Time) *errorWithCode {
	parts := strings.Split(token, ":")
	if len(parts) != 4 || parts[0] != TokenVersion || !validNonce(parts[2]) {
		return &errorWithCode{CodeAuth, "malformed token: want RT1:expire:nonce:signature"}
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || exp <= 0 {
		return &errorWithCode{CodeAuth, "malformed token expiry"}
	}
	want := tokenMAC(appID, secret, parts[1], parts[2])
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(parts[3]))) {
		return &errorWithCode{CodeAuth, "token signature does not match this app_id"}
	}
	if now.Unix() >= exp {
		return &errorWithCode{CodeTokenExpired, "token expired at " + time.Unix(exp, 0).UTC().Format(time.RFC3339)}
	}
	return nil
}

func validNonce(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for _, c := range n {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// errorWithCode is a refusal before the facade's error type is needed (token checks).
type errorWithCode struct {
	code int
	msg  string
}
