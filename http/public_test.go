package http_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// submit posts the public form as a browser does (multipart, with files).
func (ts *testServer) submit(fields map[string]string, photos ...[]byte) (*http.Response, string) {
	ts.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for i, p := range photos {
		fw, _ := mw.CreateFormFile("photos", "photo"+string(rune('a'+i))+".png")
		fw.Write(p)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", ts.url+"/report", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, string(out)
}

func TestPublicReportPages(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		res, body := ts.do("GET", "/", "", "")
		if res.StatusCode != 303 || res.Header.Get("Location") != "/report" {
			t.Fatalf("/ for the public = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		res, body = ts.do("GET", "/report", "", "")
		if res.StatusCode != 200 || !strings.Contains(body, `<optgroup label="Môi trường">`) || !strings.Contains(body, `data-pick`) ||
			!strings.Contains(body, `enctype="multipart/form-data"`) {
			t.Fatalf("form = %d", res.StatusCode)
		}
		sub := regexp.MustCompile(`name="submission" value="([^"]+)"`).FindStringSubmatch(body)
		if sub == nil {
			t.Fatal("no submission key in the form")
		}
		// A bad submission comes back with the messages and what was typed.
		res, body = ts.submit(map[string]string{"description": "Đèn <b>hỏng</b>", "email": "nope", "consent": "yes", "submission": sub[1]})
		if res.StatusCode != 400 || !strings.Contains(body, `class="field-error">is required`) || !strings.Contains(body, "is not an e-mail address") ||
			!strings.Contains(body, "Đèn &lt;b&gt;hỏng&lt;/b&gt;") {
			t.Fatalf("bad submission = %d\n%s", res.StatusCode, body)
		}
		// Answers to the category's questions survive a failed submission.
		res, body = ts.submit(map[string]string{"category": "transport.road_damage", "description": "", "address": "Lê Lợi",
			"attr.transport.road_damage.size": "large", "submission": sub[1]})
		if res.StatusCode != 400 || !strings.Contains(body, `<option value="large" selected>`) {
			t.Errorf("answers not kept on a failed submission (%d)", res.StatusCode)
		}
		// A good one, with a photo and a point on the map.
		fields := map[string]string{"category": "environment.waste", "description": "Rác ùn ứ", "lat": "16.474", "lon": "107.578",
			"phone": "0905 111 222", "consent": "yes", "submission": sub[1]}
		res, _ = ts.submit(fields, pngBytes(t, 64, 48))
		loc := res.Header.Get("Location")
		m := regexp.MustCompile(`^/r/([0-9A-Z]{8})\?k=([^&]+)&new=1$`).FindStringSubmatch(loc)
		if res.StatusCode != 303 || m == nil {
			t.Fatalf("submission = %d %q", res.StatusCode, loc)
		}
		tracking, token := m[1], m[2]
		// Sent twice (a double click): the same report.
		res, _ = ts.submit(fields, pngBytes(t, 64, 48))
		if l := res.Header.Get("Location"); !strings.HasPrefix(l, "/r/"+tracking) {
			t.Errorf("resubmission went to %q, want the same report %s", l, tracking)
		}
		res, body = ts.do("GET", loc, "", "")
		if res.StatusCode != 200 || !strings.Contains(body, tracking) || !strings.Contains(body, "Đã chuyển cơ quan xử lý") ||
			!strings.Contains(body, `<img src="/media/`) || strings.Contains(body, "0905 111 222") || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("status page = %d\n%s", res.StatusCode, body)
		}
		img := regexp.MustCompile(`<img src="(/media/[0-9a-f]{64}\.jpg)"`).FindStringSubmatch(body)
		if res, _ := ts.do("GET", img[1], "", ""); res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("thumbnail = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		// A fake image is refused at the photo field.
		f2 := map[string]string{}
		for k, v := range fields {
			f2[k] = v
		}
		f2["submission"] = "another"
		res, body = ts.submit(f2, []byte("<svg onload=alert(1)>"))
		if res.StatusCode != 400 || !strings.Contains(body, "not a JPEG, PNG or WebP image") {
			t.Errorf("fake photo = %d", res.StatusCode)
		}

		// The agency resolves it; the citizen confirms and rates on the page.
		hepco := staff(ts, cityops.RoleAgencyOfficer, "HEPCO")
		for _, a := range []string{`{"action":"accept"}`, `{"action":"resolve","note":"Đã thu gom xong"}`} {
			if res, out := ts.do("POST", "/api/v1/reports/"+tracking+"/actions", hepco, a); res.StatusCode != 200 {
				t.Fatalf("%s = %d %s", a, res.StatusCode, out)
			}
		}
		_, body = ts.do("GET", "/r/"+tracking+"?k="+token, "", "")
		if !strings.Contains(body, "Đã thu gom xong") || !strings.Contains(body, `value="confirm"`) || !strings.Contains(body, `value="reopen"`) {
			t.Fatalf("resolved page lacks the result or the citizen's forms:\n%s", body)
		}
		if _, body := ts.do("GET", "/r/"+tracking, "", ""); strings.Contains(body, `value="confirm"`) {
			t.Error("the citizen's forms show without the private link")
		}
		post := func(form url.Values) *http.Response {
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := client.PostForm(ts.url+"/r/"+tracking, form)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res
		}
		if res := post(url.Values{"k": {"wrong"}, "action": {"confirm"}}); res.StatusCode != 403 {
			t.Errorf("confirm with a wrong link = %d, want 403", res.StatusCode)
		}
		if res := post(url.Values{"k": {token}, "action": {"confirm"}}); res.StatusCode != 303 {
			t.Fatalf("confirm = %d", res.StatusCode)
		}
		if res := post(url.Values{"k": {token}, "action": {"rate"}, "rating": {"9"}}); res.StatusCode != 400 {
			t.Errorf("rating 9 = %d, want 400", res.StatusCode)
		}
		if res := post(url.Values{"k": {token}, "action": {"rate"}, "rating": {"5"}, "note": {"Tốt"}}); res.StatusCode != 303 {
			t.Fatalf("rate = %d", res.StatusCode)
		}
		_, body = ts.do("GET", "/r/"+tracking+"?k="+token+"&done=rate", "", "")
		if !strings.Contains(body, "Đã hoàn thành") || !strings.Contains(body, "5/5") || strings.Contains(body, `value="rate"`) {
			t.Errorf("after rating:\n%s", body)
		}
		if res, _ := ts.do("GET", "/r?code="+strings.ToLower(tracking[:4])+"-"+strings.ToLower(tracking[4:]), "", ""); res.Header.Get("Location") != "/r/"+tracking {
			t.Errorf("lookup = %s", res.Header.Get("Location"))
		}
		if res, _ := ts.do("GET", "/r/NOPE2345", "", ""); res.StatusCode != 404 {
			t.Errorf("unknown code = %d", res.StatusCode)
		}
		// The public list, map and figures: no personal data.
		res, body = ts.do("GET", "/reports?status=closed", "", "")
		if res.StatusCode != 200 || !strings.Contains(body, tracking) || strings.Contains(body, "0905 111 222") || !strings.Contains(body, `data-link="/r/"`) {
			t.Errorf("public list = %d", res.StatusCode)
		}
		if res, _ := ts.do("GET", "/reports?status=lost", "", ""); res.StatusCode != 400 {
			t.Errorf("bad status = %d", res.StatusCode)
		}
		res, body = ts.do("GET", "/stats?days=30", "", "")
		if res.StatusCode != 200 || !strings.Contains(body, "Theo cơ quan xử lý") || !strings.Contains(body, "Công ty Môi trường và Công trình đô thị Huế") ||
			!strings.Contains(body, "5.0/5 (1)") {
			t.Errorf("stats page = %d\n%s", res.StatusCode, body)
		}
		res, body = ts.do("GET", "/api/v1/stats?by=area&days=7", "", "")
		if res.StatusCode != 200 || !strings.Contains(body, `"key":"P10"`) || !strings.Contains(body, `"resolved":1`) {
			t.Errorf("stats API = %d %s", res.StatusCode, body)
		}
		if res, body := ts.do("GET", "/api/v1/stats?by=planet", "", ""); res.StatusCode != 400 || !strings.Contains(body, `"by"`) {
			t.Errorf("bad grouping = %d %s", res.StatusCode, body)
		}
		// Photo upload API.
		req, _ := http.NewRequest("POST", ts.url+"/api/v1/photos", bytes.NewReader(pngBytes(t, 32, 32)))
		req.Header.Set("Content-Type", "image/png")
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode != 201 || !strings.Contains(string(out), `"hash":"`) {
			t.Fatalf("photo upload = %d %s", r2.StatusCode, out)
		}
	})
}
