package postgres

import (
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// plainOnLoopback drops TLS from a connection whose every host is this machine, when neither the
// connection string nor the environment chose an sslmode, and reports whether it did.
//
// libpq's default, which pgx follows, is sslmode=prefer: TLS when the server offers it, with no
// certificate check. On loopback that protects nothing (the bytes never leave the machine, and
// whoever could read them there could read the processes too), and it costs: encrypting every
// answer on both sides took a fifth of the render API's task list throughput (docs/performance.md).
// A unix socket never had TLS. Any sslmode written in the string, or in PGSSLMODE, is kept as given;
// so is a pg_service entry, which may name one.
func plainOnLoopback(connString string, getenv func(string) string, cc *pgconn.Config) bool {
	if getenv("PGSSLMODE") != "" || getenv("PGSERVICE") != "" || namesKey(connString, "sslmode") || namesKey(connString, "service") {
		return false
	}
	if !isLoopback(cc.Host) {
		return false
	}
	for _, f := range cc.Fallbacks {
		if !isLoopback(f.Host) {
			return false
		}
	}
	// sslmode=prefer lists each host twice, with TLS and then without: keep the plain ones, the
	// first of which is the primary's own.
	cc.TLSConfig = nil
	plain := cc.Fallbacks[:0]
	for _, f := range cc.Fallbacks {
		if f.TLSConfig == nil && (f.Host != cc.Host || f.Port != cc.Port) {
			plain = append(plain, f)
		}
	}
	cc.Fallbacks = plain
	return true
}

// isLoopback reports whether host is this machine: a unix socket directory, localhost or a
// loopback address.
func isLoopback(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keywordSetting matches a key=value setting's key in a libpq keyword/value connection string.
var keywordSetting = regexp.MustCompile(`(?:^|\s)([a-z_]+)\s*=`)

// namesKey reports whether the connection string (a URL or libpq keyword/value settings) sets key.
func namesKey(connString, key string) bool {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		return err != nil || u.Query().Has(key) // unparsable here: leave it to pgx as it is
	}
	for _, m := range keywordSetting.FindAllStringSubmatch(connString, -1) {
		if m[1] == key {
			return true
		}
	}
	return false
}
