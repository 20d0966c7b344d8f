package console_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
)

// stack is a server as `taskcenter serve` assembles it (the dialects and the console), on loopback.
type stack struct {
	st    store.Store
	eng   *engine.Engine
	srv   *httptest.Server
	blobs blob.Store
	creds app.Credentials
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startStack(t testing.TB, st store.Store) *stack {
	t.Helper()
	ctx := context.Background()
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	keyring, _ := auth.NewKeyring(key)
	reg := prometheus.NewRegistry()
	log := quietLogger()
	eng := engine.New(st, engine.Config{Holder: "console-test"}, log, engine.NewMetrics(reg, st))
	creds, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
	if err != nil || creds == nil {
		t.Fatalf("bootstrap: %v", err)
	}
	facades, err := app.Facades(app.FacadeDeps{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: reg}, facades...))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		eng.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		eng.Drain()
		for _, f := range facades { // streams and in-process workers end before the server closes
			if c, ok := f.(io.Closer); ok {
				_ = c.Close()
			}
		}
		srv.CloseClientConnections()
		srv.Close()
	})
	return &stack{st: st, eng: eng, srv: srv, blobs: blobs, creds: *creds}
}

// signIn opens a session over plain HTTP and returns a client carrying its cookie and the CSRF proof.
func (s *stack) signIn(t testing.TB, token string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := c.Post(s.srv.URL+"/console/session", "application/json", strings.NewReader(`{"token":"`+token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct {
		CSRF string `json:"csrf_token"`
	}
	if err := decode(res, &v); err != nil || res.StatusCode != http.StatusOK || v.CSRF == "" {
		t.Fatalf("sign in: %d %v", res.StatusCode, err)
	}
	return c, v.CSRF
}

// chromium finds the browser: the system's Chromium, which CI must have.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI=true forbids skipping the browser tests")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser starts a headless Chromium for one test; the context it returns drives one tab.
func browser(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1360, 900),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// The first run starts the browser and must not carry a timeout (it would stop the browser);
	// the test's steps run under one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// The page's errors go to the test's log: a failing step then says why.
	exceptions := chromedp.Events(ctx, cdpruntime.ExceptionThrown)
	consoleCalls := chromedp.Events(ctx, cdpruntime.ConsoleAPICalled)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			t.Logf("page exception: %v", (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
		}
	}()
	go func() {
		for ev, err := range consoleCalls {
			if err != nil {
				return
			}
			if ev.Type == cdpruntime.ConsoleAPICalledTypeError || ev.Type == cdpruntime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				t.Logf("page console.%s: %s", ev.Type, strings.Join(parts, " "))
			}
		}
	}()
	limited, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	return limited
}

// do runs browser steps, failing the test with what was being done and the page as it was.
func do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(stepCtx, steps...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#app') ? document.querySelector('#app').innerText : ''`))
		if len(page) > 3000 {
			page = page[:3000]
		}
		t.Fatalf("%s: %v\npage text: %s", what, err, page)
	}
}

// get runs one browser action that answers a value.
func get[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the page to $TASKCENTER_CONSOLE_SCREENSHOTS/name.png when that is set (how
// docs/console/*.png are made).
func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("TASKCENTER_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
