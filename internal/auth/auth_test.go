package auth_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

func TestKeyringSealsForOneOwner(t *testing.T) {
	k, err := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal([]byte("secret"), []byte("owner-a"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("the sealed secret contains the clear text")
	}
	got, err := k.Open(sealed, []byte("owner-a"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("Open by its owner = %q, %v; want secret", got, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	other, _ := auth.NewKeyring(bytes.Repeat([]byte{8}, 32))
	for _, tc := range []struct {
		name   string
		k      *auth.Keyring
		sealed []byte
		aad    string
	}{
		{"another owner", k, sealed, "owner-b"},
		{"a tampered ciphertext", k, tampered, "owner-a"},
		{"another server key", other, sealed, "owner-a"},
		{"a truncated ciphertext", k, sealed[:5], "owner-a"},
	} {
		if _, err := tc.k.Open(tc.sealed, []byte(tc.aad)); err == nil {
			t.Errorf("Open with %s succeeded; want an error", tc.name)
		}
	}
	if _, err := auth.NewKeyring([]byte("short")); err == nil {
		t.Error("NewKeyring accepted a 5-byte key")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Setenv("TASKCENTER_SERVER_KEY", "")
	path := filepath.Join(t.TempDir(), "keys", "server.key")
	k1, err := auth.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v; want 0600", fi.Mode().Perm())
	}
	sealed, err := k1.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := auth.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if _, err := k2.Open(sealed, nil); err != nil {
		t.Errorf("the key loaded again does not open what the created one sealed: %v", err)
	}

	// The environment wins over the file, and must be 64 hex digits.
	t.Setenv("TASKCENTER_SERVER_KEY", strings.Repeat("ab", 32))
	k3, err := auth.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("load from the environment: %v", err)
	}
	if _, err := k3.Open(sealed, nil); err == nil {
		t.Error("the environment's key opened what the file's key sealed")
	}
	for _, bad := range []string{"abc", strings.Repeat("zz", 32), strings.Repeat("ab", 16)} {
		t.Setenv("TASKCENTER_SERVER_KEY", bad)
		if _, err := auth.LoadOrCreateKey(path); err == nil {
			t.Errorf("TASKCENTER_SERVER_KEY=%q accepted", bad)
		}
	}
}

func TestPasswords(t *testing.T) {
	h, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !auth.CheckPassword(h, "correct horse") {
		t.Error("the right password was refused")
	}
	if auth.CheckPassword(h, "correct horsE") {
		t.Error("a wrong password was accepted")
	}
}

func TestVerifyToken(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		token, cred, err := auth.IssueToken(ctx, st, 42, store.CredAgent, "label", now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := auth.VerifyToken(ctx, st, store.CredAgent, token, now)
		if err != nil || got.ID != cred.ID || got.AccountID != 42 {
			t.Fatalf("VerifyToken(issued) = %+v, %v; want credential %d of account 42", got, err, cred.ID)
		}

		keyID, secret, _ := strings.Cut(token, ".")
		past := now.Add(-time.Second)
		if _, err := st.CreateCredential(ctx, store.Credential{AccountID: 42, Kind: store.CredAgent,
			KeyID: "agent_expired", SecretHash: auth.HashToken("s3cret"), CreatedAt: now, ExpiresAt: &past}); err != nil {
			t.Fatal(err)
		}
		revoked, revCred, err := auth.IssueToken(ctx, st, 42, store.CredAgent, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeCredential(ctx, revCred.ID, now); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			kind  store.CredentialKind
			token string
		}{
			{"an empty token", store.CredAgent, ""},
			{"no secret", store.CredAgent, keyID + "."},
			{"no dot", store.CredAgent, keyID + secret},
			{"a wrong secret", store.CredAgent, keyID + "." + strings.Repeat("0", len(secret))},
			{"an unknown key id", store.CredAgent, string(store.CredAgent) + "_0000000000000000." + secret},
			{"another kind", store.CredWorker, token},
			{"a revoked token", store.CredAgent, revoked},
			{"an expired token", store.CredAgent, "agent_expired.s3cret"},
		} {
			if _, err := auth.VerifyToken(ctx, st, tc.kind, tc.token, now); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("VerifyToken with %s = %v; want ErrUnauthorized", tc.name, err)
			}
		}
	})
}

func TestSealedKeyOpensOnlyForItsCredential(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		k, err := auth.NewKeyring(bytes.Repeat([]byte{1}, 32))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		secret, c, err := auth.IssueSealedKey(ctx, st, k, 7, store.CredRender, "access-1", "", now)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := st.GetCredential(ctx, store.CredRender, "access-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.SecretHash) != 0 || bytes.Contains(stored.SecretSealed, []byte(secret)) {
			t.Fatal("the secret is stored in clear")
		}
		got, err := auth.OpenSealedKey(k, stored)
		if err != nil || string(got) != secret {
			t.Fatalf("OpenSealedKey = %q, %v; want the issued secret", got, err)
		}
		// The sealed secret copied onto another credential's row does not open.
		moved := c
		moved.KeyID = "access-2"
		moved.SecretSealed = stored.SecretSealed
		if _, err := auth.OpenSealedKey(k, moved); err == nil {
			t.Error("a sealed secret opened under another key id")
		}
		if _, err := auth.OpenSealedKey(k, store.Credential{Kind: store.CredRender, KeyID: "x"}); err == nil {
			t.Error("a credential with no sealed secret opened")
		}
	})
}
