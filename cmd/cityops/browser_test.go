package main

import (
	"context"
	"image"
	"image/color"
	"image/png"
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

// TestBrowserReportFlow is the field-report loop as people live it: a
// citizen files a report with a photo and a point on the map, it appears
// in the ward's inbox, an officer resolves it, and the public status page
// shows it resolved and takes the citizen's confirmation and rating.
func TestBrowserReportFlow(t *testing.T) {
	dir := t.TempDir()
	base, _ := serve(t, "-demo", "-data", dir)
	bctx := browser(t)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	photo := filepath.Join(t.TempDir(), "photo.png")
	writePNG(t, photo)

	// The citizen.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/report"),
		chromedp.WaitVisible(`#pick.drawn`),
		chromedp.SetValue(`select[name=category]`, "transport.encroachment"),
		chromedp.SendKeys(`textarea[name=description]`, "Quán lấn chiếm vỉa hè, người đi bộ phải xuống lòng đường"),
		chromedp.SetUploadFiles(`input[name=photos]`, []string{photo}),
	); err != nil {
		t.Fatalf("fill the form: %v", err)
	}
	xy, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
		const el = document.querySelector('#pick'), m = el.leafletMap;
		m.setView([16.474, 107.578], 14, { animate: false });
		const p = m.latLngToContainerPoint([16.474, 107.578]), r = el.getBoundingClientRect();
		el.scrollIntoView();
		const r2 = el.getBoundingClientRect();
		return [r2.left + p.x, r2.top + p.y];
	})()`))
	if err != nil {
		t.Fatalf("map point: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(xy[0], xy[1]), chromedp.WaitVisible(`#pick[data-picked="1"]`)); err != nil {
		t.Fatalf("click the map: %v", err)
	}
	lat, _ := chromedp.Run(ctx, chromedp.Value(`input[name=lat]`))
	if !strings.HasPrefix(lat, "16.47") {
		t.Fatalf("picked lat = %q, want about 16.474", lat)
	}
	screenshot(t, ctx, "report-form.png")
	if err := chromedp.Do(ctx, chromedp.Click(`#report-form button[type=submit]`), chromedp.WaitVisible(`#tracking`)); err != nil {
		t.Fatalf("submit: %v", err)
	}
	tracking, _ := chromedp.Run(ctx, chromedp.Text(`#tracking`))
	statusURL, _ := chromedp.Run(ctx, chromedp.Location())
	if len(tracking) != 8 || !strings.Contains(statusURL, "k=") {
		t.Fatalf("after submitting: tracking %q at %s", tracking, statusURL)
	}
	n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.photos img').length`))
	if n != 1 {
		t.Errorf("status page shows %d photos, want 1", n)
	}
	screenshot(t, ctx, "status-new.png")

	// The ward officer of Phú Xuân.
	email, pw := demoLogin(t, dir, "ward_officer")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login?next=/staff/reports"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, pw),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`#reports`),
	); err != nil {
		t.Fatalf("officer sign-in: %v", err)
	}
	inbox, _ := chromedp.Run(ctx, chromedp.Text(`#reports`))
	if !strings.Contains(inbox, tracking) {
		t.Fatalf("ward inbox lacks %s:\n%s", tracking, inbox)
	}
	screenshot(t, ctx, "inbox.png")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/staff/reports/"+tracking),
		chromedp.Click(`form[data-action=accept] button`),
		chromedp.WaitVisible(`form[data-action=resolve]`),
		chromedp.SendKeys(`form[data-action=resolve] textarea[name=note]`, "Đã yêu cầu quán dọn, vỉa hè thông thoáng"),
		chromedp.Click(`form[data-action=resolve] button`),
		chromedp.WaitVisible(`#status.status-resolved`),
	); err != nil {
		t.Fatalf("accept and resolve: %v", err)
	}
	screenshot(t, ctx, "case.png")
	if err := chromedp.Do(ctx, chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`input[name=email]`)); err != nil {
		t.Fatalf("sign out: %v", err)
	}

	// The citizen again, from the private link.
	if err := chromedp.Do(ctx, chromedp.Navigate(statusURL), chromedp.WaitVisible(`#resolution`)); err != nil {
		t.Fatalf("status page: %v", err)
	}
	status, _ := chromedp.Run(ctx, chromedp.Text(`#status`))
	if status != "Đã xử lý, chờ xác nhận" {
		t.Errorf("public status = %q", status)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`input[value=confirm] ~ button`)); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#status.status-closed`)); err != nil {
		t.Fatalf("waiting for the confirmation: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#rate-form`),
		chromedp.Click(`#rate-form input[name=rating][value="5"]`),
		chromedp.SendKeys(`#rate-form textarea[name=note]`, "Xử lý nhanh, cảm ơn"),
		chromedp.Click(`#rate-form button`),
	); err != nil {
		t.Fatalf("confirm and rate: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(`#rate-form`), chromedp.WaitVisible(`#timeline`)); err != nil {
		t.Fatalf("waiting for the rating: %v", err)
	}
	page, _ := chromedp.Run(ctx, chromedp.Text(`main`))
	if !strings.Contains(page, "Đã hoàn thành") || !strings.Contains(page, "5/5") {
		t.Errorf("after rating, the page says:\n%s", page)
	}
	screenshot(t, ctx, "status-closed.png")
}

// writePNG writes a small photo-like PNG.
func writePNG(t *testing.T, path string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := 0; y < 120; y++ {
		for x := 0; x < 160; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(2 * y), 120, 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
