package postgres

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestPlainOnLoopback(t *testing.T) {
	cases := []struct {
		name, conn string
		env        map[string]string
		plain      bool
	}{
		{"loopback url", "postgres://postgres@127.0.0.1:5432/test", nil, true},
		{"localhost", "postgres://postgres@localhost/test", nil, true},
		{"ipv6 loopback", "postgres://postgres@[::1]:5432/test", nil, true},
		{"keyword settings", "host=127.0.0.1 user=postgres dbname=test", nil, true},
		{"unix socket", "host=/var/run/postgresql user=postgres dbname=test", nil, true},
		{"url sslmode kept", "postgres://postgres@127.0.0.1:5432/test?sslmode=require", nil, false},
		{"url prefer kept", "postgres://postgres@127.0.0.1:5432/test?sslmode=prefer", nil, false},
		{"keyword sslmode kept", "host=127.0.0.1 user=postgres sslmode=prefer", nil, false},
		{"PGSSLMODE kept", "postgres://postgres@127.0.0.1:5432/test", map[string]string{"PGSSLMODE": "require"}, false},
		{"remote host", "postgres://postgres@db.example.com:5432/test", nil, false},
		{"one remote host of two", "postgres://postgres@127.0.0.1:5432,db.example.com:5432/test", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc, err := pgconn.ParseConfig(tc.conn)
			if err != nil {
				t.Fatal(err)
			}
			hadTLS := cc.TLSConfig != nil
			got := plainOnLoopback(tc.conn, func(k string) string { return tc.env[k] }, cc)
			if got != tc.plain {
				t.Fatalf("plainOnLoopback = %v, want %v", got, tc.plain)
			}
			if !got {
				if (cc.TLSConfig != nil) != hadTLS {
					t.Fatalf("TLS changed on a connection left as given")
				}
				return
			}
			if cc.TLSConfig != nil {
				t.Fatalf("primary keeps TLS")
			}
			for _, f := range cc.Fallbacks {
				if f.TLSConfig != nil || (f.Host == cc.Host && f.Port == cc.Port) {
					t.Fatalf("fallback %s:%d tls %v left beside primary %s:%d", f.Host, f.Port, f.TLSConfig != nil, cc.Host, cc.Port)
				}
			}
		})
	}
}

// TestLoopbackConnectionIsPlain checks what the server sees: the test database on this machine is
// reached without TLS by default, and with it when the URL asks for it.
func TestLoopbackConnectionIsPlain(t *testing.T) {
	url := TestURL()
	if namesKey(url, "sslmode") || os.Getenv("PGSSLMODE") != "" || !strings.HasPrefix(url, "postgres://") {
		t.Skipf("the test database URL %q chooses its own TLS", url)
	}
	ctx := context.Background()
	// sslOf reports whether a connection opened as the store opens one uses TLS, and whether the
	// server offers it at all.
	sslOf := func(url string) (ssl, offered bool) {
		t.Helper()
		cfg, err := poolConfig(url, os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if err := pool.QueryRow(ctx, `SELECT ssl, current_setting('ssl') = 'on' FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl, &offered); err != nil {
			t.Fatal(err)
		}
		return ssl, offered
	}
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if !isLoopback(cfg.Host) {
		t.Skipf("the test database %s is not on this machine", cfg.Host)
	}
	ssl, offered := sslOf(url)
	if ssl {
		t.Fatal("a loopback connection with no sslmode uses TLS")
	}
	if !offered {
		return // the server offers no TLS to ask for
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if ssl, _ := sslOf(url + sep + "sslmode=require"); !ssl {
		t.Fatal("sslmode=require given on loopback: connection without TLS")
	}
}
