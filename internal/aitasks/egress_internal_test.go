package aitasks

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestForbiddenAddr: the classifier of the addresses egress may not reach by default.
func TestForbiddenAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		why  string // "" for an address egress may reach
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"}, // IPv4-mapped: judged as the IPv4 address
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"169.254.0.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"255.255.255.255", "reserved"},
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"192.169.0.1", ""},
		{"::ffff:8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:db8::1", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			why, bad := forbiddenAddr(netip.MustParseAddr(tc.addr))
			if bad != (tc.why != "") || why != tc.why {
				t.Fatalf("forbiddenAddr(%s) = %q, %v; want %q", tc.addr, why, bad, tc.why)
			}
		})
	}
	if _, bad := forbiddenAddr(netip.Addr{}); !bad {
		t.Fatal("the zero address is allowed")
	}
}

// TestGuardDial: a dial through the guard to a loopback listener fails before connecting: the
// listener never sees a connection.
func TestGuardDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted, done := make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(done)
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	d := net.Dialer{ControlContext: guardDial}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err == nil {
		c.Close()
		t.Fatal("the guarded dial reached a loopback listener")
	}
	if !errors.Is(err, errForbiddenAddr) {
		t.Fatalf("dial error %v, want errForbiddenAddr", err)
	}
	_ = ln.Close() // Accept returns; a connection that got through would have been accepted first
	<-done
	select {
	case <-accepted:
		t.Fatal("the listener accepted a connection")
	default:
	}
}

// TestEgressClient: the guarded client refuses a loopback server, a name resolving to loopback
// included, and the allowing one reaches it; redirects are bounded and http(s) only.
func TestEgressClient(t *testing.T) {
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := &http.Client{Timeout: 5 * time.Second}
	guarded, err := newEgressClient(base, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	open, err := newEgressClient(base, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, target := range []string{u + "/ok", "http://localhost:" + port + "/ok"} {
		if _, err := guarded.Get(target); !errors.Is(err, errForbiddenAddr) {
			t.Fatalf("guarded GET %s: %v, want errForbiddenAddr", target, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the guarded client reached the server %d times", n)
	}
	resp, err := open.Get(u + "/ok")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("allowed GET: %v", err)
	}
	resp.Body.Close()
	for path, want := range map[string]string{"/loop": "stopped after", "/file": "refused"} {
		_, err := open.Get(u + path)
		var ue *url.Error
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Fatalf("GET %s: %v, want %q", path, err, want)
		}
	}
}

// TestCheckHook: a notify_hook is refused at submit when it is not http(s) or names a forbidden
// address literally; a name is left to the dial.
func TestCheckHook(t *testing.T) {
	for _, tc := range []struct {
		hook          string
		allowPrivate  bool
		refused       bool
		messageSubstr string
	}{
		{"https://hooks.example.com/done", false, false, ""},
		{"http://localhost:8080/done", false, false, ""}, // judged at dial time
		{"ftp://example.com/x", false, true, "http(s)"},
		{"file:///etc/passwd", false, true, "http(s)"},
		{"http:///nohost", false, true, "http(s)"},
		{"http://127.0.0.1:9/x", false, true, "loopback address (127.0.0.1)"},
		{"http://[::1]:9/x", false, true, "loopback"},
		{"http://169.254.169.254/latest/meta-data/", false, true, "link-local"},
		{"http://10.0.0.7/x", false, true, "private"},
		{"http://100.64.1.1/x", false, true, "carrier-grade NAT"},
		{"http://[fe80::1%25eth0]/x", false, true, "link-local"},
		{"http://0.0.0.0:80/x", false, true, "unspecified"},
		{"http://127.0.0.1:9/x", true, false, ""},
		{"ftp://127.0.0.1/x", true, true, "http(s)"},
	} {
		a := &API{cfg: Config{AllowPrivateEgress: tc.allowPrivate}}
		err := a.checkHook(tc.hook)
		var re *relayError
		switch {
		case !tc.refused && err != nil:
			t.Errorf("%s (allow %v): refused: %v", tc.hook, tc.allowPrivate, err)
		case tc.refused && (!errors.As(err, &re) || re.Status != 400 || re.Code != "invalid_request" || !strings.Contains(re.Msg, tc.messageSubstr)):
			t.Errorf("%s (allow %v): %v, want 400 invalid_request with %q", tc.hook, tc.allowPrivate, err, tc.messageSubstr)
		}
	}
}
