package http_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// act posts a case-page form as a browser does.
func (ts *testServer) act(session, tracking string, fields map[string]string, photo []byte) (*http.Response, string) {
	ts.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if photo != nil {
		fw, _ := mw.CreateFormFile("photo", "result.png")
		fw.Write(photo)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", ts.url+"/staff/reports/"+tracking+"/act", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: "cityops_session", Value: session})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, string(out)
}

func TestStaffConsole(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		mk := func(cat string, lat, lon float64, desc string) string {
			r, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: cat, Description: desc, Lat: &lat, Lon: &lon,
				Phone: "0914 222 333", Consent: true})
			if err != nil {
				t.Fatal(err)
			}
			return r.Tracking
		}
		ward := mk("transport.encroachment", 16.474, 107.578, "Lấn chiếm vỉa hè trước chợ")
		other := mk("environment.waste", 16.250, 108.050, "Rác ở bãi biển")

		// The ward officer sees their ward's report only, with the reporter.
		officer := ts.signIn(cityops.RoleWardOfficer, "UBND-P10", "P10")
		res, body := ts.do("GET", "/staff/reports", officer, "")
		if res.StatusCode != 200 || !strings.Contains(body, ward) || strings.Contains(body, other) || strings.Contains(body, `name="tracking"`) {
			t.Fatalf("ward inbox = %d (want %s only, no bulk form)\n%s", res.StatusCode, ward, body)
		}
		res, body = ts.do("GET", "/staff/reports/"+ward, officer, "")
		if res.StatusCode != 200 || !strings.Contains(body, "0914 222 333") || !strings.Contains(body, `data-action="accept"`) {
			t.Fatalf("case page = %d\n%s", res.StatusCode, body)
		}
		if res, _ := ts.act(officer, ward, map[string]string{"action": "accept"}, nil); res.StatusCode != 303 {
			t.Fatalf("accept = %d", res.StatusCode)
		}
		res, body = ts.act(officer, ward, map[string]string{"action": "resolve"}, nil)
		if res.StatusCode != 400 || !strings.Contains(body, "say what was done") {
			t.Fatalf("resolve without a note = %d", res.StatusCode)
		}
		res, body = ts.act(officer, ward, map[string]string{"action": "resolve", "note": "Đã giải tỏa"}, pngBytes(t, 80, 60))
		if res.StatusCode != 303 {
			t.Fatalf("resolve = %d %s", res.StatusCode, body)
		}
		_, body = ts.do("GET", "/staff/reports/"+ward+"?done=resolve", officer, "")
		if !strings.Contains(body, "Đã giải tỏa") || !strings.Contains(body, "(resolution)") || !strings.Contains(body, "status-resolved") {
			t.Errorf("resolved case page lacks the result or its photo")
		}
		res, body = ts.act(officer, ward, map[string]string{"action": "accept"}, nil)
		if res.StatusCode != 409 || !strings.Contains(body, "allowed:") {
			t.Errorf("accept a resolved report = %d", res.StatusCode)
		}
		// Another ward's officer may read the case but not act on it or see the reporter.
		stranger := ts.signIn(cityops.RoleWardOfficer, "UBND-P08", "P08")
		_, body = ts.do("GET", "/staff/reports/"+other, stranger, "")
		if strings.Contains(body, "0914 222 333") || strings.Contains(body, `data-action=`) {
			t.Errorf("a stranger sees the reporter or actions")
		}

		// The centre: every report, filters, bulk assignment.
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		_, body = ts.do("GET", "/staff/reports?status=all", op, "")
		if !strings.Contains(body, ward) || !strings.Contains(body, other) || !strings.Contains(body, `name="tracking"`) {
			t.Fatalf("centre inbox lacks reports or the bulk form")
		}
		if _, body := ts.do("GET", "/staff/reports?q=b%C3%A3i+bi%E1%BB%83n", op, ""); !strings.Contains(body, other) || strings.Contains(body, ward) {
			t.Errorf("text search for 'bãi biển' did not find only %s", other)
		}
		if res, _ := ts.do("GET", "/staff/reports?status=lost", op, ""); res.StatusCode != 400 {
			t.Errorf("bad status = %d", res.StatusCode)
		}
		// The operator's form records a hotline report with the reporter.
		res, body = ts.do("GET", "/report", op, "")
		if !strings.Contains(body, `id="channel"`) {
			t.Errorf("operator's form lacks the channel")
		}
		if _, body := ts.do("GET", "/report", "", ""); strings.Contains(body, `id="channel"`) {
			t.Errorf("the public form offers the channel")
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range map[string]string{"category": "utilities.power", "description": "Gọi điện: dây điện đứt", "address": "12 Lê Lợi",
			"channel": "hotline", "name": "Bà Hoa", "phone": "0234 111", "consent": "yes", "submission": "op-1",
			"attr.utilities.power.danger": "yes", "attr.transport.road_damage.size": "large"} {
			mw.WriteField(k, v)
		}
		mw.Close()
		req0, _ := http.NewRequest("POST", ts.url+"/report", &buf)
		req0.Header.Set("Content-Type", mw.FormDataContentType())
		req0.AddCookie(&http.Cookie{Name: "cityops_session", Value: op})
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res0, err := cl.Do(req0)
		if err != nil {
			t.Fatal(err)
		}
		res0.Body.Close()
		loc := res0.Header.Get("Location")
		if res0.StatusCode != 303 || !strings.HasPrefix(loc, "/staff/reports/") {
			t.Fatalf("operator's report = %d %s", res0.StatusCode, loc)
		}
		_, body = ts.do("GET", loc, op, "")
		if !strings.Contains(body, "Đường dây nóng") || !strings.Contains(body, "Bà Hoa") {
			t.Errorf("hotline case page lacks channel or reporter")
		}
		third := mk("environment.waste", 16.462, 107.595, "Rác")
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		form := url.Values{"agency": {"SNNMT"}, "tracking": {other, third}, "back": {"/staff/reports?status=all"}}
		req, _ := http.NewRequest("POST", ts.url+"/staff/reports/assign", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "cityops_session", Value: op})
		res, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 303 || !strings.Contains(res.Header.Get("Location"), "assigned+2+of+2") {
			t.Fatalf("bulk assign = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		for _, tr := range []string{other, third} {
			r, _ := db.FindReportByTracking(sysCtx(), tr)
			if r.Agency != "SNNMT" {
				t.Errorf("%s agency = %s after bulk assign", tr, r.Agency)
			}
		}
		// Bulk assignment is the centre's: an officer's is refused per report.
		req, _ = http.NewRequest("POST", ts.url+"/staff/reports/assign", strings.NewReader(url.Values{"agency": {"SXD"}, "tracking": {third}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "cityops_session", Value: officer})
		res, _ = client.Do(req)
		res.Body.Close()
		if !strings.Contains(res.Header.Get("Location"), "assigned+0+of+1") {
			t.Errorf("officer bulk assign went %s", res.Header.Get("Location"))
		}
	})
}

func TestRoutingPage(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(session, path string, form url.Values) (*http.Response, string) {
		req, _ := http.NewRequest("POST", ts.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "cityops_session", Value: session})
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, body := ts.do("GET", "/staff/routing", ts.admin, "")
	if res.StatusCode != 200 || !strings.Contains(body, "Sở Y tế") || !strings.Contains(body, `id="add-rule"`) {
		t.Fatalf("routing page = %d", res.StatusCode)
	}
	res, _ = post(ts.admin, "/staff/routing", url.Values{"category": {"environment.waste"}, "area": {"P10"}, "agency": {"local"}, "note": {"phường tự thu gom"}})
	if res.StatusCode != 303 {
		t.Fatalf("add rule = %d", res.StatusCode)
	}
	lat, lon := 16.474, 107.578
	r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "x", Lat: &lat, Lon: &lon})
	if err != nil || r.Agency != "UBND-P10" {
		t.Fatalf("after the new rule the report went to %q (%v); want UBND-P10", r.Agency, err)
	}
	res, body = post(ts.admin, "/staff/routing", url.Values{"category": {"environment.waste"}, "sector": {"health"}, "agency": {"SYT"}})
	if res.StatusCode != 400 || !strings.Contains(body, "not both") {
		t.Errorf("bad rule = %d", res.StatusCode)
	}
	rules, _ := db.FindRoutingRules(sysCtx())
	last := rules[len(rules)-1]
	officer := ts.signIn(cityops.RoleWardOfficer, "UBND-P10", "P10")
	if _, body := ts.do("GET", "/staff/routing", officer, ""); strings.Contains(body, `id="add-rule"`) {
		t.Errorf("an officer sees the form")
	}
	if res, _ := post(officer, "/staff/routing/"+strconv.FormatInt(last.ID, 10)+"/delete", nil); res.StatusCode != 403 {
		t.Errorf("officer delete = %d", res.StatusCode)
	}
	if res, _ := post(ts.admin, "/staff/routing/"+strconv.FormatInt(last.ID, 10)+"/delete", nil); res.StatusCode != 303 {
		t.Errorf("delete = %d", res.StatusCode)
	}
	if after, _ := db.FindRoutingRules(sysCtx()); len(after) != len(rules)-1 {
		t.Errorf("rules after delete = %d, want %d", len(after), len(rules)-1)
	}
}

func TestUserForm(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	ts.seed()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(session string, form url.Values) (*http.Response, string) {
		req, _ := http.NewRequest("POST", ts.url+"/staff/users", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "cityops_session", Value: session})
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if res, body := ts.do("GET", "/staff/users/new", ts.admin, ""); res.StatusCode != 200 || !strings.Contains(body, `id="new-user"`) {
		t.Fatalf("form = %d", res.StatusCode)
	}
	res, body := post(ts.admin, url.Values{"email": {"nam@hue.gov.vn"}, "role": {"ward_officer"}, "password": {"short"}})
	if res.StatusCode != 400 || !strings.Contains(body, "at least 12 characters") || !strings.Contains(body, "is required for a ward officer") ||
		!strings.Contains(body, `value="nam@hue.gov.vn"`) {
		t.Fatalf("bad account = %d", res.StatusCode)
	}
	res, _ = post(ts.admin, url.Values{"email": {"nam@hue.gov.vn"}, "name": {"Nam"}, "role": {"ward_officer"}, "area": {"P10"}, "password": {"một mật khẩu dài"}})
	if res.StatusCode != 303 {
		t.Fatalf("create = %d", res.StatusCode)
	}
	if _, _, err := db.Login(sysCtx(), "nam@hue.gov.vn", "một mật khẩu dài", "", ""); err != nil {
		t.Errorf("the new account cannot sign in: %v", err)
	}
	if res, _ := post(ts.admin, url.Values{"email": {"nam@hue.gov.vn"}, "role": {"admin"}, "password": {"một mật khẩu dài"}}); res.StatusCode != 409 {
		t.Errorf("same e-mail again = %d", res.StatusCode)
	}
	op := ts.signIn(cityops.RoleOperator, "", "")
	if res, _ := post(op, url.Values{"email": {"x@hue.gov.vn"}, "role": {"admin"}, "password": {"một mật khẩu dài"}}); res.StatusCode != 403 {
		t.Errorf("an operator creates accounts: %d", res.StatusCode)
	}
}
