package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cityops/cityops/auth"
)

// browserSignIn signs in through the sign-in page and, for roles that
// must sign in in two steps, sets up the authenticator the way a person
// does: it reads the key shown beside the QR code, types the app's code,
// and goes on past the recovery codes. It waits for the selector ready
// on the page signed in to.
func browserSignIn(ctx context.Context, base, next, email, pw, ready string) error {
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login?next="+next),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, pw),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(ready+`, #totp-secret`),
	); err != nil {
		return fmt.Errorf("password step: %w", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(loc, "/login/verify") {
		return err
	}
	secret, err := chromedp.Run(ctx, chromedp.Text(`#totp-secret`))
	if err != nil {
		return err
	}
	code, err := auth.TOTPCode(strings.ReplaceAll(secret, " ", ""), auth.TOTPStep(time.Now()))
	if err != nil {
		return err
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`input[name=code]`, code),
		chromedp.Submit(`input[name=code]`),
		chromedp.WaitVisible(`#recovery-codes`),
	); err != nil {
		return fmt.Errorf("authenticator set-up: %w", err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#recovery-codes li').length`))
	if err != nil || n != 10 {
		return fmt.Errorf("recovery codes shown: %d, %v", n, err)
	}
	return chromedp.Do(ctx,
		chromedp.Click(`a.button.primary`),
		chromedp.WaitVisible(ready),
	)
}

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
	if err := browserSignIn(ctx, base, "/staff", email, pw, `.tiles`); err != nil {
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
	if err := browserSignIn(ctx, base, "/staff/reports", email, pw, `#reports`); err != nil {
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

// TestBrowserIOC opens the operations centre as the demo's operator: the
// map draws the wards, the sensors and the charts from the simulator's
// data, and a reading sent through the NGSI-LD API reaches the page by its
// live stream, without a reload.
func TestBrowserIOC(t *testing.T) {
	dir := t.TempDir()
	base, _ := serve(t, "-demo", "-data", dir)
	st, out, errs := run(t, "", "apikey", "create", "-name", "ioc-test", "-scopes", "data:write,data:read", "-data", dir)
	if st != 0 {
		t.Fatalf("apikey: %s", errs)
	}
	key := strings.TrimSpace(out)
	const station = "urn:ngsi-ld:AirQualityObserved:hue-dong-ba"
	ngsi := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// The demo's simulator writes the stations at start; give the air
	// chart three hours of history besides.
	deadline := time.Now().Add(15 * time.Second)
	for ngsi("GET", "/ngsi-ld/v1/entities/"+station, "") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("the demo simulator did not write %s", station)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var hist []string
	for h := 3; h >= 1; h-- {
		at := time.Now().Add(-time.Duration(h) * time.Hour).UTC().Format(time.RFC3339)
		hist = append(hist, fmt.Sprintf(`{"type":"Property","value":%d,"observedAt":%q}`, 20+h, at))
	}
	if st := ngsi("POST", "/ngsi-ld/v1/temporal/entities/"+station+"/attrs", `{"pm25":[`+strings.Join(hist, ",")+`]}`); st != http.StatusNoContent {
		t.Fatalf("history = %d", st)
	}

	bctx := browser(t)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	failed := func(format string, args ...any) {
		t.Helper()
		screenshot(t, ctx, "ioc-failed.png")
		t.Fatalf(format, args...)
	}
	email, pw := demoLogin(t, dir, "operator")
	if err := browserSignIn(ctx, base, "/ioc", email, pw, `#ioc-map`); err != nil {
		failed("operator sign-in to /ioc: %v", err)
	}
	poll := func(what, expr string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Poll[int](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err != nil {
			failed("waiting for %s: %v", what, err)
		}
		return n
	}
	// The wards are the basemap; the sensors are on it.
	if n := poll("the ward boundaries", `document.querySelectorAll('#ioc-map path.leaflet-interactive').length > 10 && document.querySelectorAll('#ioc-map path.leaflet-interactive').length`); n < 41 {
		failed("map shapes = %d, want the 41 areas and more", n)
	}
	if n := poll("the sensors", `+(document.querySelector('#ioc-map').dataset.sensors || 0)`); n < 10 {
		failed("sensors on the map = %d", n)
	}
	// The air chart drew the history: more than one point on a line.
	if n := poll("the air chart", `document.querySelector('.ioc-chart[data-chart="air"] .uplot canvas') && +document.querySelector('.ioc-chart[data-chart="air"]').dataset.points > 1 && +document.querySelector('.ioc-chart[data-chart="air"]').dataset.points`); n < 4 {
		failed("air chart points = %d, want the 3 hours of history and now", n)
	}
	poll("the figures", `document.querySelector('#sector-environment [data-figure="pm25_avg"]').dataset.value !== undefined && 1`)
	poll("the headline figures", `document.querySelector('#ioc').dataset.summary === "1" && 1`)
	poll("the live stream", `document.querySelector('#ioc-live').dataset.state === "live" && 1`)
	text, _ := chromedp.Run(ctx, chromedp.Text(`#ioc-h-sectors`))
	if text != "Các lĩnh vực" {
		t.Errorf("sectors heading = %q", text)
	}

	// A reading through the NGSI-LD API reaches the page by the stream.
	sent := time.Now()
	at := sent.UTC().Format(time.RFC3339)
	if st := ngsi("POST", "/ngsi-ld/v1/entities/"+station+"/attrs", fmt.Sprintf(`{"pm25":{"type":"Property","value":123.4,"observedAt":%q}}`, at)); st != http.StatusNoContent {
		t.Fatalf("reading = %d", st)
	}
	cell := fmt.Sprintf(`document.querySelector('#ioc-sensor-table tr[data-id=%q] td.value')`, station)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cell+`.dataset.value === "123.4"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](cell+`.dataset.value`))
		failed("the live reading did not reach the page in 10 s (value %q): %v", v, err)
	}
	t.Logf("live reading shown %v after it was sent", time.Since(sent).Round(10*time.Millisecond))
	last, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#ioc-live').dataset.last`))
	if last == "" {
		t.Errorf("the live indicator has no time of the last readings")
	}
	// The reading went onto the station's line of the air chart.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
		const u = document.querySelector('.ioc-chart[data-chart="air"]').uplot;
		const i = u.series.findIndex((s) => (s.label || "").includes("Đông Ba"));
		const ys = u.data[i].filter((y) => y !== null);
		return ys[ys.length - 1];
	})()`))
	if err != nil || got != 123.4 {
		failed("the air chart's Đông Ba line ends with %v, %v; want 123.4", got, err)
	}
	// No reload happened: the page is the one signed in to.
	if nav, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType('navigation').length`)); nav != 1 {
		t.Errorf("navigations = %d", nav)
	}

	// A river over alarm level III raises alarms that appear at once; the
	// operator acknowledges one from the list.
	const gauge = "urn:ngsi-ld:FloodMonitoring:hue-kim-long"
	body := fmt.Sprintf(`{"currentLevel":{"type":"Property","value":3.6,"observedAt":%q}}`, time.Now().UTC().Format(time.RFC3339))
	if st := ngsi("POST", "/ngsi-ld/v1/entities/"+gauge+"/attrs", body); st != http.StatusNoContent {
		t.Fatalf("river reading = %d", st)
	}
	poll("the critical alarm", `document.querySelector('#ioc-alarm-list li.sev-critical button[data-act="acknowledge"]') && 1`)
	poll("the gauge coloured critical", fmt.Sprintf(`document.querySelector('#ioc-sensor-table tr[data-id=%q]').dataset.level === "critical" && 1`, gauge))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.prompt = () => "Đã báo Ban chỉ huy PCTT", true`)); err != nil {
		failed("prompt: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#ioc-alarm-list li.sev-critical button[data-act="acknowledge"]`)); err != nil {
		failed("acknowledge: %v", err)
	}
	poll("the acknowledgement", `document.querySelector('#ioc-alarm-list li.sev-critical.acknowledged') && 1`)
	caseURL, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#ioc-alarm-list li.sev-critical a[href^="/staff/reports/"]') || {}).getAttribute?.call(document.querySelector('#ioc-alarm-list li.sev-critical a[href^="/staff/reports/"]'), 'href') || ''`))
	// The alarm opened a case: the case event brings it onto the map and
	// into the heat of reports.
	poll("the alarm's case on the map", `+(document.querySelector('#ioc-map').dataset.cases || 0)`)
	if err := chromedp.Do(ctx, chromedp.Click(`.leaflet-control-layers-overlays label:last-child input`)); err != nil {
		failed("heat layer: %v", err)
	}
	poll("the heat layer", `document.querySelectorAll('#ioc-map .leaflet-heat-pane path').length`)

	// A public warning: the form shows the API's field errors, then
	// broadcasts it, and the banner shows it.
	if err := chromedp.Do(ctx, chromedp.Click(`#ioc-warning-form button[type=submit]`)); err != nil {
		failed("empty warning: %v", err)
	}
	poll("the field errors", `!document.querySelector('#ioc-warning-form [data-error-for="title"]').hidden && 1`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`#ioc-warning-form input[name=title]`, "Cảnh báo lũ sông Hương"),
		chromedp.SendKeys(`#ioc-warning-form textarea[name=body]`, "Mực nước tại Kim Long vượt báo động III; không qua các ngầm tràn."),
		chromedp.SetValue(`#ioc-warning-form select[name=severity]`, "critical"),
		chromedp.Click(`#ioc-warning-form button[type=submit]`),
	); err != nil {
		failed("warning: %v", err)
	}
	poll("the warning broadcast", `document.querySelector('#ioc-warning-result.success') && !document.querySelector('#ioc-warnings').hidden && document.querySelector('#ioc-warning-list').textContent.includes("Cảnh báo lũ sông Hương") && 1`)
	screenshot(t, ctx, "ioc.png")

	// A click on the map offers to open a case there; the operator's
	// report form opens at that point.
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const m = document.getElementById('ioc-map').leafletMap;
		m.closePopup();
		m.fire('click', { latlng: L.latLng(16.4701, 107.5792) });
		const a = document.querySelector('.leaflet-popup .ioc-case-link');
		return a ? a.getAttribute('href') : '';
	})()`))
	if err != nil || !strings.Contains(href, "lat=16.470100") || !strings.Contains(href, "lon=107.579200") {
		failed("case link from a map click: %q, %v", href, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+href), chromedp.WaitReady(`input[name=lat]`)); err != nil {
		failed("report form: %v", err)
	}
	lat, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('input[name=lat]').value + ',' + document.querySelector('select[name=channel]').value`))
	if lat != "16.470100,hotline" {
		t.Errorf("report form opened from the map: %q; want the point and the hotline channel", lat)
	}

	// The case the alarm opened draws the river readings behind it.
	if caseURL == "" {
		failed("the critical alarm has no link to its case")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+caseURL), chromedp.WaitVisible(`.case-alarm`)); err != nil {
		failed("case page: %v", err)
	}
	poll("the alarm's readings on the case", `document.querySelector('.alarm-chart canvas') && +document.querySelector('.alarm-chart').dataset.points`)

	// The video wall: the same page, large, one sector at a time.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ioc?wall=1&rotate=5"),
		chromedp.WaitVisible(`.ioc-panel.current`),
	); err != nil {
		failed("wall: %v", err)
	}
	size, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`parseFloat(getComputedStyle(document.querySelector('.ioc-tile .num')).fontSize)`))
	shown, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('.ioc-panel')].filter((p) => p.offsetParent !== null).length`))
	form, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#ioc-warning-form').offsetParent !== null`))
	if size < 28 || shown != 1 || form {
		t.Errorf("wall: figures %vpx, %d sector panels shown, warning form shown %v; want ≥ 28px, 1, false", size, shown, form)
	}
	screenshot(t, ctx, "ioc-wall.png")
}
