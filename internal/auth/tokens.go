package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"taskcenter/internal/store"
)

// ErrUnauthorized: the credential is unknown, revoked, expired or does not match.
var ErrUnauthorized = errors.New("unauthorized")

// RandomHex returns n random bytes as hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS has no entropy: nothing is safe
	}
	return hex.EncodeToString(b)
}

// HashToken hashes a high-entropy token. SHA-256 is enough here: tokens are random, so there is nothing
// to brute-force; passwords use HashPassword instead.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// HashPassword hashes a human-chosen password with bcrypt.
func HashPassword(pw string) ([]byte, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return b, nil
}

// CheckPassword reports whether pw matches a HashPassword hash.
func CheckPassword(hash []byte, pw string) bool {
	return bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
}

// Bearer tokens are "<kind prefix>_<key id>.<secret>": the key id finds the row, the secret is compared
// against its hash in constant time.
func splitBearer(token string) (keyID, secret string, ok bool) {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 || i == len(token)-1 {
		return "", "", false
	}
	return token[:i], token[i+1:], true
}

// IssueToken creates a bearer credential of kind for the account and returns the token, shown once.
func IssueToken(ctx context.Context, s store.Credentials, accountID int64, kind store.CredentialKind, label string, now time.Time) (string, store.Credential, error) {
	keyID := string(kind) + "_" + RandomHex(8)
	secret := RandomHex(24)
	c, err := s.CreateCredential(ctx, store.Credential{
		AccountID: accountID, Kind: kind, KeyID: keyID, SecretHash: HashToken(secret), Label: label, CreatedAt: now,
	})
	if err != nil {
		return "", store.Credential{}, fmt.Errorf("issue %s token: %w", kind, err)
	}
	return keyID + "." + secret, c, nil
}

// VerifyToken finds the live credential of kind that token names.
func VerifyToken(ctx context.Context, s store.Credentials, kind store.CredentialKind, token string, now time.Time) (store.Credential, error) {
	keyID, secret, ok := splitBearer(token)
	if !ok || !strings.HasPrefix(keyID, string(kind)+"_") {
		return store.Credential{}, ErrUnauthorized
	}
	c, err := s.GetCredential(ctx, kind, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Credential{}, ErrUnauthorized
	}
	if err != nil {
		return store.Credential{}, fmt.Errorf("look up credential: %w", err)
	}
	if !Live(c, now) || subtle.ConstantTimeCompare(c.SecretHash, HashToken(secret)) != 1 {
		return store.Credential{}, ErrUnauthorized
	}
	return c, nil
}

// Live reports whether a credential is neither revoked nor expired.
func Live(c store.Credential, now time.Time) bool {
	if c.RevokedAt != nil {
		return false
	}
	return c.ExpiresAt == nil || now.Before(*c.ExpiresAt)
}

// IssueSealedKey creates a credential whose secret a signing scheme needs back (HMAC): the secret is
// sealed with the keyring, bound to kind and key id. It returns the secret, shown once.
func IssueSealedKey(ctx context.Context, s store.Credentials, k *Keyring, accountID int64, kind store.CredentialKind, keyID, label string, now time.Time) (string, store.Credential, error) {
	secret := RandomHex(16)
	sealed, err := k.Seal([]byte(secret), sealAAD(kind, keyID))
	if err != nil {
		return "", store.Credential{}, err
	}
	c, err := s.CreateCredential(ctx, store.Credential{
		AccountID: accountID, Kind: kind, KeyID: keyID, SecretSealed: sealed, Label: label, CreatedAt: now,
	})
	if err != nil {
		return "", store.Credential{}, fmt.Errorf("issue %s key: %w", kind, err)
	}
	return secret, c, nil
}

// OpenSealedKey returns the clear secret of a sealed credential.
func OpenSealedKey(k *Keyring, c store.Credential) ([]byte, error) {
	if len(c.SecretSealed) == 0 {
		return nil, errors.New("credential has no sealed secret")
	}
	return k.Open(c.SecretSealed, sealAAD(c.Kind, c.KeyID))
}

func sealAAD(kind store.CredentialKind, keyID string) []byte {
	return []byte(string(kind) + "\x00" + keyID)
}
