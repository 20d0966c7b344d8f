package aitasks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Egress to addresses a tenant controls. A notify_hook is a URL a tenant's user writes, and a result
// file's link is whatever an upstream answered; neither may make the server reach its own network.
// Unless Config.AllowPrivateEgress is set, the client these requests go through refuses, at dial
// time and on the address the name resolved to, every address classified by forbiddenAddr: the check
// sits in the dialer (net.Dialer.ControlContext runs after resolution, before connect), so neither a
// name that resolves differently on the second lookup (DNS rebinding) nor a redirect gets past it,
// and no byte is sent to a refused address. The client uses no proxy (a proxy would dial on our
// behalf, past the check) and follows at most maxEgressRedirects redirects, each to http(s) only.
// Channel base URLs are not guarded: only the tenant's administrator sets them.

// maxEgressRedirects is how many redirects a notify_hook delivery or a result download follows.
const maxEgressRedirects = 3

// errForbiddenAddr is the refusal of a dial to an address egress may not reach.
var errForbiddenAddr = errors.New("address not allowed")

// forbiddenPrefixes are the ranges egress may not reach by default, with why.
var forbiddenPrefixes = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // "this network"; 0.0.0.0 reaches the host itself
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"}, // includes cloud metadata (169.254.169.254)
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // includes 255.255.255.255 broadcast
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// forbiddenAddr says whether egress may not reach ip by default, and why. An IPv4 address written
// as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it is.
func forbiddenAddr(ip netip.Addr) (why string, forbidden bool) {
	if !ip.IsValid() {
		return "invalid", true
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range forbiddenPrefixes {
		if p.prefix.Contains(ip) {
			return p.why, true
		}
	}
	return "", false
}

// guardDial is a net.Dialer's ControlContext that refuses forbidden addresses.
func guardDial(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q", errForbiddenAddr, address)
	}
	if why, bad := forbiddenAddr(ap.Addr()); bad {
		return fmt.Errorf("%w: %s is a %s address", errForbiddenAddr, ap.Addr(), why)
	}
	return nil
}

// newEgressClient builds the client of notify_hook deliveries and result downloads from the
// server's client: its timeout (or timeout when positive), its transport's settings, and, unless
// allowPrivate, the dial guard.
func newEgressClient(base *http.Client, timeout time.Duration, allowPrivate bool) (*http.Client, error) {
	if timeout <= 0 {
		timeout = base.Timeout
	}
	c := &http.Client{Timeout: timeout, CheckRedirect: checkEgressRedirect, Transport: base.Transport}
	var tr *http.Transport
	switch t := base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		if allowPrivate {
			return c, nil
		}
		return nil, fmt.Errorf("aitasks: cannot guard egress through an HTTP transport of type %T; set AllowPrivateEgress or use an *http.Transport", t)
	}
	if !allowPrivate {
		tr.Proxy = nil
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, ControlContext: guardDial}
		tr.DialContext = d.DialContext
		tr.DialTLSContext = nil
	}
	c.Transport = tr
	return c, nil
}

func checkEgressRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxEgressRedirects {
		return fmt.Errorf("stopped after %d redirects", maxEgressRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to a %s URL refused", req.URL.Scheme)
	}
	return nil
}

// checkHook judges a notify_hook at submit: an http(s) URL with a host, at most 2048 bytes, whose
// host, when it is an IP address, egress may reach. A name is judged when the callback is dialled.
func (a *API) checkHook(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > 2048 {
		return rerr(http.StatusBadRequest, "invalid_request", "notify_hook must be an http(s) URL")
	}
	if a.cfg.AllowPrivateEgress {
		return nil
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if why, bad := forbiddenAddr(ip); bad {
			return rerr(http.StatusBadRequest, "invalid_request",
				fmt.Sprintf("notify_hook must not name a %s address (%s)", why, ip))
		}
	}
	return nil
}
