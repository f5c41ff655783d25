package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser returns a chromedp context on a headless Chromium, or skips the
// test when none is installed, unless CITYOPS_BROWSER_REQUIRED=1 (as in CI),
// where a missing browser fails it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CITYOPS_CHROMIUM")
	if path == "" {
		for _, p := range []string{"chromium", "chromium-headless-shell", "google-chrome"} {
			if found, err := exec.LookPath(p); err == nil {
				path = found
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CITYOPS_BROWSER_REQUIRED") == "1" {
			t.Fatal("no Chromium found and CITYOPS_BROWSER_REQUIRED=1; install Debian's chromium")
		}
		t.Skip("no Chromium installed; set CITYOPS_CHROMIUM or install chromium to run browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
		// A Vietnamese browser; the server negotiates Accept-Language.
		chromedp.Flag("accept-lang", "vi-VN,vi"),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// TestBrowserDemo is what the foundation promises a new user: the demo
// opens in a browser with a sign-in page, and a signed-in administrator
// browses the areas on a map, the agencies and the users.
func TestBrowserDemo(t *testing.T) {
	dir := t.TempDir()
	base, _ := serve(t, "-demo", "-data", dir)
	bctx := browser(t)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	email, pw := demoLogin(t, dir, "admin")

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/staff"),
		chromedp.WaitVisible(`input[name=email]`),
	); err != nil {
		t.Fatalf("sign-in page: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(`h1`))
	if err != nil || title != "Đăng nhập" {
		t.Fatalf("sign-in heading = %q, %v; want Vietnamese by default", title, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, pw),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`.tiles`),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(loc, "/staff") {
		t.Fatalf("after sign-in at %s, want /staff", loc)
	}

	// The areas map: 41 shapes drawn from the embedded basemap, no tiles.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/staff/areas"),
		chromedp.WaitVisible(`#map.drawn`),
	); err != nil {
		t.Fatalf("areas map: %v", err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#map path.leaflet-interactive').length`))
	if err != nil || n != 41 {
		t.Fatalf("map shapes = %d, %v; want 41", n, err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#areas tbody tr').length`))
	if err != nil || rows != 41 {
		t.Fatalf("area rows = %d, %v; want 41", rows, err)
	}
	note, _ := chromedp.Run(ctx, chromedp.Text(`.note`))
	if !strings.Contains(note, "gần đúng") {
		t.Errorf("no approximate-boundary note on the map page: %q", note)
	}
	screenshot(t, ctx, "areas.png")

	// In order: the last one switches the language to English.
	for _, p := range []struct{ path, want string }{
		{"/staff/areas/P10", "Phường Phú Xuân"},
		{"/staff/agencies", "Sở Y tế"},
		{"/staff/agencies/SYT", "Sở Y tế"},
		{"/staff/users", "admin@hue.demo"},
		{"/staff/areas?lang=en", "Administrative areas"},
	} {
		path, want := p.path, p.want
		text, err := pageText(ctx, base+path, `main`)
		if err != nil || !strings.Contains(text, want) {
			t.Errorf("%s: %v; want %q in the page", path, err, want)
		}
	}
	// The language choice sticks.
	h1, _ := pageText(ctx, base+"/staff/agencies", `h1`)
	if !strings.HasPrefix(h1, "Handling agencies") {
		t.Errorf("after choosing English, agencies heading = %q", h1)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/staff/areas/P10"),
		chromedp.WaitVisible(`#map.drawn`),
	); err != nil {
		t.Fatalf("area map: %v", err)
	}
	screenshot(t, ctx, "area-P10.png")
}

// pageText opens url and returns the text of the element sel.
func pageText(ctx context.Context, url, sel string) (string, error) {
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(sel)); err != nil {
		return "", err
	}
	return chromedp.Run(ctx, chromedp.Text(sel))
}

// screenshot saves the page when CITYOPS_SCREENSHOTS names a directory, so
// a person can look at what the test saw.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("CITYOPS_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	os.WriteFile(filepath.Join(dir, name), png, 0o644)
}
