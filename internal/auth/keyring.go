// Package auth owns credential material: the server key that seals HMAC secrets at rest, token
// generation and hashing, password hashing, and the lookup of a presented credential to its account.
// The five dialects' signing schemes build on it in their own packages; this package knows none of them.
package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Keyring seals secrets that a signing scheme needs back in clear (HMAC keys) with the server key, and
// signs what the server hands out and must recognise later (expiring image URLs).
type Keyring struct {
	aead cipher.AEAD
	mac  []byte // MAC key derived from the server key, so the key itself is used for one purpose only
}

// LoadOrCreateKey reads the 32-byte server key (hex) from path, creating it with mode 0600 on first
// start. Every replica of one deployment must share it (copy the file or set TASKCENTER_SERVER_KEY).
func LoadOrCreateKey(path string) (*Keyring, error) {
	if env := strings.TrimSpace(os.Getenv("TASKCENTER_SERVER_KEY")); env != "" {
		return keyringFromHex(env)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return keyringFromHex(strings.TrimSpace(string(b)))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read server key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate server key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	// O_EXCL: if another process created it meanwhile, use theirs.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create server key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		return nil, fmt.Errorf("write server key: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync server key: %w", err)
	}
	return NewKeyring(key)
}

func keyringFromHex(s string) (*Keyring, error) {
	key, err := hex.DecodeString(s)
	if err != nil || len(key) != 32 {
		return nil, errors.New("server key must be 64 hex digits")
	}
	return NewKeyring(key)
}

// NewKeyring builds a keyring from a 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("taskcenter mac key v1"))
	return &Keyring{aead: aead, mac: m.Sum(nil)}, nil
}

// MAC returns the HMAC-SHA256 of msg under the server key for purpose. Every replica sharing the
// server key computes the same MAC; a MAC for one purpose is never valid for another.
func (k *Keyring) MAC(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(msg)
	return m.Sum(nil)
}

// Seal encrypts plaintext; aad binds the ciphertext to its owner (e.g. the credential's key id) so a
// sealed secret copied onto another row does not open.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return k.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open sealed secret: too short")
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("open sealed secret: %w", err)
	}
	return out, nil
}
