package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/i18n"
	"github.com/cityops/cityops/media"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// testServer is a real server on a loopback port over a fresh database,
// with an administrator signed in.
type testServer struct {
	*cityhttp.Server
	db    *storage.DB
	url   string
	admin string // session token
	t     testing.TB
}

func sysCtx() context.Context {
	return cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
}

func newTestServer(t testing.TB, db *storage.DB, configure ...func(*cityhttp.Config)) *testServer {
	t.Helper()
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	// No report waits for the morning: reports received in Huế's night
	// (00:00–07:30 ICT) are assigned only then, which made tests that
	// expect an assigned report fail when run at that hour.
	db.Reports.NightFrom, db.Reports.NightTo = 0, 0
	cfg := cityhttp.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 64 << 10, IngestBatch: 7, Media: &media.Store{Dir: t.TempDir()}}
	for _, c := range configure {
		c(&cfg)
	}
	srv, err := cityhttp.NewServer(cityhttp.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Auth: db, Ping: db.Ping,
		Reports: db, Routing: db, Outbox: db, Stats: db, Entities: db, Contexts: jsonld.NewCache(), Devices: db, Retention: db,
		Alarms: db, Warnings: db, IOC: db, KPI: db, Audit: db},
		cfg, cat, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	ts := &testServer{Server: srv, db: db, url: srv.URL(), t: t}
	ts.admin = ts.signIn(cityops.RoleAdmin, "", "")
	return ts
}

var userSeq int

// signIn creates a user with the role and returns a session token.
func (ts *testServer) signIn(role, agency, area string) string {
	ts.t.Helper()
	userSeq++
	email := fmt.Sprintf("u%d@hue.gov.vn", userSeq)
	if err := ts.db.CreateUser(sysCtx(), &cityops.User{Email: email, Role: role, AgencyCode: agency, AreaCode: area}, "a long enough password"); err != nil {
		ts.t.Fatal(err)
	}
	token, _, err := ts.db.Login(sysCtx(), email, "a long enough password", "", "")
	if err != nil {
		ts.t.Fatal(err)
	}
	return token
}

// do sends a request; auth is a session token, an API key (cok_…) or "".
func (ts *testServer) do(method, path, auth, body string, hdr ...string) (*http.Response, string) {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	switch {
	case strings.HasPrefix(auth, "cok_"):
		req.Header.Set("Authorization", "Bearer "+auth)
	case auth != "":
		req.AddCookie(&http.Cookie{Name: "cityops_session", Value: auth})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (ts *testServer) seed() {
	ts.t.Helper()
	ctx := sysCtx()
	for _, s := range []string{"health", "transport"} {
		if err := ts.db.CreateSector(ctx, &cityops.Sector{Code: s, Name: s}); err != nil {
			ts.t.Fatal(err)
		}
	}
	sq := json.RawMessage(`{"type":"Polygon","coordinates":[[[107.5,16.4],[107.7,16.4],[107.7,16.5],[107.5,16.5],[107.5,16.4]]]}`)
	if err := ts.db.CreateArea(ctx, &cityops.Area{Code: "P10", Name: "Phú Xuân", Kind: cityops.AreaWard, Boundary: sq, Approximate: true}); err != nil {
		ts.t.Fatal(err)
	}
	if err := ts.db.CreateAgency(ctx, &cityops.Agency{Code: "SXD", Name: "Sở Xây dựng", Kind: cityops.AgencyDepartment, Sectors: []string{"transport"}, Active: true}); err != nil {
		ts.t.Fatal(err)
	}
	if err := ts.db.CreateCategory(ctx, &cityops.Category{Code: "transport.road", Sector: "transport", Name: "Mặt đường", Active: true}); err != nil {
		ts.t.Fatal(err)
	}
}

func TestAPIOrganisation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		ts.seed()
		adm := ts.admin
		for _, tt := range []struct {
			name, method, path, body string
			status                   int
			want                     string // a substring of the response
		}{
			{"create area", "POST", "/api/v1/areas", `{"code":"P11","name":"Dương Nỗ","kind":"ward","boundary":{"type":"Polygon","coordinates":[[[107.6,16.5],[107.7,16.5],[107.7,16.6],[107.6,16.5]]]}}`, 201, `"code":"P11"`},
			{"duplicate area", "POST", "/api/v1/areas", `{"code":"P11","name":"x","kind":"ward"}`, 409, `"code":"conflict"`},
			{"open ring", "POST", "/api/v1/areas", `{"code":"P12","name":"x","kind":"ward","boundary":{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,17]]]}}`, 400, `not closed`},
			{"point geometry", "POST", "/api/v1/areas", `{"code":"P12","name":"x","kind":"ward","boundary":{"type":"Point","coordinates":[107,16]}}`, 400, `"boundary"`},
			{"missing fields", "POST", "/api/v1/areas", `{"code":"bad code"}`, 400, `"kind":"must be one of`},
			{"unknown field", "POST", "/api/v1/areas", `{"code":"P12","colour":"red"}`, 400, `"colour":"is not a known field"`},
			{"wrong type", "POST", "/api/v1/areas", `{"code":12}`, 400, `"code":"must be a string`},
			{"not json", "POST", "/api/v1/areas", `code=P12`, 400, `not valid JSON`},
			{"trailing data", "POST", "/api/v1/areas", `{"code":"P12"} {}`, 400, `unexpected data`},
			{"area view", "GET", "/api/v1/areas/P11", "", 200, `"boundary":{"type":"MultiPolygon"`},
			{"area missing", "GET", "/api/v1/areas/NOPE", "", 404, `"code":"not_found"`},
			{"rename area", "PATCH", "/api/v1/areas/P11", `{"name":"Phường Dương Nỗ","names":{"en":"Duong No Ward"},"valid_from":"2025-07-01T00:00:00+07:00"}`, 200, `"valid_from":"2025-06-30T17:00:00Z"`},
			{"bad time", "PATCH", "/api/v1/areas/P11", `{"valid_to":"tomorrow"}`, 400, `RFC 3339`},
			{"list areas", "GET", "/api/v1/areas?limit=1", "", 200, `"total":2`},
			{"bad limit", "GET", "/api/v1/areas?limit=-4", "", 400, `"limit":"must be a whole number`},
			{"geojson", "GET", "/api/v1/areas.geojson", "", 200, `"type":"FeatureCollection"`},
			{"locate", "GET", "/api/v1/locate?lat=16.45&lon=107.6", "", 200, `"code":"P10"`},
			{"locate outside", "GET", "/api/v1/locate?lat=10&lon=100", "", 404, `no area contains`},
			{"locate bad", "GET", "/api/v1/locate?lat=abc", "", 400, `"lon":"is required"`},
			{"create agency", "POST", "/api/v1/agencies", `{"code":"UBND-P10","name":"UBND phường Phú Xuân","kind":"local","sectors":["health"],"areas":["P10"]}`, 201, `"active":true`},
			{"agency unknown area", "POST", "/api/v1/agencies", `{"code":"X","name":"X","kind":"local","areas":["ZZ"]}`, 400, `unknown area`},
			{"agency bad email", "POST", "/api/v1/agencies", `{"code":"X","name":"X","kind":"local","email":"nope"}`, 400, `"email":"is not an e-mail address"`},
			{"agencies by area", "GET", "/api/v1/agencies?area=P10", "", 200, `"total":2`},
			{"update agency", "PATCH", "/api/v1/agencies/SXD", `{"active":false}`, 200, `"active":false`},
			{"create sector", "POST", "/api/v1/sectors", `{"code":"tourism","name":"Du lịch","names":{"en":"Tourism"}}`, 201, `"code":"tourism"`},
			{"bad names", "POST", "/api/v1/sectors", `{"code":"x","name":"x","names":{"English!":"x"}}`, 400, `not a language tag`},
			{"create category", "POST", "/api/v1/categories", `{"code":"health.food","sector":"health","name":"An toàn thực phẩm"}`, 201, `"active":true`},
			{"categories by sector", "GET", "/api/v1/categories?sector=health", "", 200, `"total":1`},
			{"delete used sector", "DELETE", "/api/v1/sectors/health", "", 409, `in use`},
			{"delete area in use", "DELETE", "/api/v1/areas/P10", "", 409, `valid_to`},
			{"create user", "POST", "/api/v1/users", `{"email":"lan@hue.gov.vn","role":"ward_officer","area":"P10","password":"mật khẩu rất dài"}`, 201, `"area":"P10"`},
			{"weak password", "POST", "/api/v1/users", `{"email":"x@hue.gov.vn","role":"admin","password":"short"}`, 400, `"password":"must be at least 12 characters"`},
			{"ward officer needs area", "POST", "/api/v1/users", `{"email":"y@hue.gov.vn","role":"ward_officer","password":"long enough password"}`, 400, `"area":"is required`},
			{"list users", "GET", "/api/v1/users?area=P10", "", 200, `lan@hue.gov.vn`},
			{"me", "GET", "/api/v1/me", "", 200, `"role":"admin"`},
			{"create key", "POST", "/api/v1/apikeys", `{"name":"HEPCO","scopes":["org:read"]}`, 201, `"key":"cok_`},
			{"bad scope", "POST", "/api/v1/apikeys", `{"name":"HEPCO","scopes":["root"]}`, 400, `unknown scope`},
			{"wrong method", "PUT", "/api/v1/areas", "{}", 405, `not allowed`},
			{"no route", "GET", "/api/v1/nothing", "", 404, `"code":"not_found"`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res, body := ts.do(tt.method, tt.path, adm, tt.body)
				if res.StatusCode != tt.status || !strings.Contains(body, tt.want) {
					t.Errorf("%s %s = %d %s\nwant %d with %s", tt.method, tt.path, res.StatusCode, body, tt.status, tt.want)
				}
				if tt.status == 201 && res.Header.Get("Location") == "" {
					t.Error("201 without Location")
				}
			})
		}
		// A failed request changed nothing: P12 was never created.
		if _, err := db.FindAreaByCode(sysCtx(), "P12"); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("P12 exists after failed creates: %v", err)
		}
	})
}

func TestAPIKeysAndLimits(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	ts.seed()
	res, body := ts.do("POST", "/api/v1/apikeys", ts.admin, `{"name":"gateway","scopes":["org:read"]}`)
	if res.StatusCode != 201 {
		t.Fatalf("create key: %d %s", res.StatusCode, body)
	}
	var k struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	}
	json.Unmarshal([]byte(body), &k)
	if res, _ := ts.do("GET", "/api/v1/agencies", k.Key, ""); res.StatusCode != 200 {
		t.Fatalf("agencies with key = %d", res.StatusCode)
	}
	if res, _ := ts.do("POST", "/api/v1/sectors", k.Key, `{"code":"x","name":"x"}`); res.StatusCode != 403 {
		t.Fatalf("write with read-only key = %d, want 403", res.StatusCode)
	}
	if res, _ := ts.do("DELETE", fmt.Sprintf("/api/v1/apikeys/%d", k.ID), ts.admin, ""); res.StatusCode != 204 {
		t.Fatalf("revoke = %d", res.StatusCode)
	}
	res, body = ts.do("GET", "/api/v1/agencies", k.Key, "")
	if res.StatusCode != 401 || !strings.Contains(body, "revoked") || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("revoked key = %d %s", res.StatusCode, body)
	}
	if res, _ := ts.do("GET", "/api/v1/areas", "", "", "Authorization", "Basic dXNlcjpwYXNz"); res.StatusCode != 401 {
		t.Fatalf("basic auth = %d, want 401", res.StatusCode)
	}

	// Bodies over the limit get 413 and leave nothing behind.
	big := `{"code":"BIG","name":"` + strings.Repeat("x", 70<<10) + `","kind":"ward"}`
	res, body = ts.do("POST", "/api/v1/areas", ts.admin, big)
	if res.StatusCode != 413 || !strings.Contains(body, "too_large") {
		t.Fatalf("big body = %d %s", res.StatusCode, body)
	}
	// Also when the length is not declared up front.
	req, _ := http.NewRequest("POST", ts.url+"/api/v1/areas", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: "cityops_session", Value: ts.admin})
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Fatalf("chunked big body = %d, want 413", r2.StatusCode)
	}
	if _, err := db.FindAreaByCode(sysCtx(), "BIG"); cityops.ErrorCode(err) != cityops.ENOTFOUND {
		t.Fatalf("BIG was stored: %v", err)
	}

	// Cross-site form posts are refused.
	res, _ = ts.do("POST", "/api/v1/sectors", ts.admin, `{"code":"y","name":"y"}`, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if res.StatusCode != 403 {
		t.Fatalf("cross-site post = %d, want 403", res.StatusCode)
	}
}

func TestOpsEndpoints(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if res, body := ts.do("GET", path, "", ""); res.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s = %d %q", path, res.StatusCode, body)
		}
	}
	ts.do("GET", "/api/v1/sectors", "", "")
	res, body := ts.do("GET", "/metrics", "", "")
	if res.StatusCode != 200 || !strings.Contains(body, `cityops_http_requests_total{code="200",route="GET /api/v1/sectors"} 1`) ||
		!strings.Contains(body, `cityops_http_request_duration_seconds_bucket{route="GET /api/v1/sectors"`) {
		t.Errorf("metrics lack the request series:\n%s", body)
	}
	db.Close() // the database goes away: ready no more, alive still
	if res, _ := ts.do("GET", "/readyz", "", ""); res.StatusCode != 503 {
		t.Errorf("readyz with the database closed = %d, want 503", res.StatusCode)
	}
	if res, _ := ts.do("GET", "/healthz", "", ""); res.StatusCode != 200 {
		t.Errorf("healthz with the database closed = %d, want 200", res.StatusCode)
	}
}

func TestSignInAndPages(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		ts.seed()
		if err := db.CreateUser(sysCtx(), &cityops.User{Email: "hoa@hue.gov.vn", Name: "Hoa", Role: cityops.RoleOperator}, "mật khẩu điều hành"); err != nil {
			t.Fatal(err)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(path string, form url.Values, cookie string) *http.Response {
			req, _ := http.NewRequest("POST", ts.url+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if cookie != "" {
				req.AddCookie(&http.Cookie{Name: "cityops_session", Value: cookie})
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res
		}
		// Pages need sign-in.
		res, _ := ts.do("GET", "/staff/areas", "", "")
		if res.StatusCode != 303 || res.Header.Get("Location") != "/login?next=%2Fstaff%2Fareas" {
			t.Fatalf("anonymous /staff/areas = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		res, body := ts.do("GET", "/login", "", "")
		if res.StatusCode != 200 || !strings.Contains(body, "Đăng nhập") || !strings.Contains(body, `name="password"`) {
			t.Fatalf("login page = %d", res.StatusCode)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
			if res.Header.Get(h) == "" {
				t.Errorf("login page lacks %s", h)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
			t.Error("login page has inline script or style, which the CSP forbids")
		}
		// Wrong password: 401 and the form again.
		res = post("/login", url.Values{"email": {"hoa@hue.gov.vn"}, "password": {"wrong password"}}, "")
		if res.StatusCode != 401 {
			t.Fatalf("wrong password = %d, want 401", res.StatusCode)
		}
		// Right password: a fresh session, and the old one ends.
		res = post("/login", url.Values{"email": {"hoa@hue.gov.vn"}, "password": {"mật khẩu điều hành"}, "next": {"/staff/agencies"}}, ts.admin)
		if res.StatusCode != 303 || res.Header.Get("Location") != "/staff/agencies" {
			t.Fatalf("sign-in = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		var token string
		for _, c := range res.Cookies() {
			if c.Name == "cityops_session" {
				token = c.Value
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
					t.Error("session cookie is not HttpOnly and SameSite=Lax")
				}
			}
		}
		if token == "" || token == ts.admin {
			t.Fatal("no new session cookie at sign-in")
		}
		if _, err := db.ActorBySession(sysCtx(), ts.admin); err == nil {
			t.Error("the browser's previous session survived sign-in")
		}
		// Open redirects are refused.
		res = post("/login", url.Values{"email": {"hoa@hue.gov.vn"}, "password": {"mật khẩu điều hành"}, "next": {"//evil.example/"}}, "")
		if loc := res.Header.Get("Location"); loc != "/staff" {
			t.Errorf("next=//evil.example redirected to %q", loc)
		}
		for path, want := range map[string]string{
			"/staff":               "Tổng quan",
			"/staff/areas":         "data-geojson=\"/api/v1/areas.geojson\"",
			"/staff/areas/P10":     "Phú Xuân",
			"/staff/agencies":      "Sở Xây dựng",
			"/staff/agencies/SXD":  "Sở Xây dựng",
			"/staff/users":         "hoa@hue.gov.vn",
			"/staff/areas?lang=en": "Administrative areas",
		} {
			res, body := ts.do("GET", path, token, "")
			if res.StatusCode != 200 || !strings.Contains(body, want) {
				t.Errorf("%s = %d, want 200 with %q", path, res.StatusCode, want)
			}
		}
		res, body = ts.do("GET", "/staff/areas", token, "", "Accept-Language", "en-US,en;q=0.8")
		if !strings.Contains(body, "Administrative areas") || res.Header.Get("Content-Language") != "en" {
			t.Errorf("Accept-Language en did not give English")
		}
		res, body = ts.do("GET", "/staff/areas/NOPE", token, "")
		if res.StatusCode != 404 || !strings.Contains(body, "Không tìm thấy") {
			t.Errorf("missing area page = %d", res.StatusCode)
		}
		// Sign out ends the session.
		res = post("/logout", nil, token)
		if res.StatusCode != 303 {
			t.Fatalf("logout = %d", res.StatusCode)
		}
		if res, _ := ts.do("GET", "/staff", token, ""); res.StatusCode != 303 {
			t.Errorf("after logout /staff = %d, want a redirect to sign in", res.StatusCode)
		}
		// Static assets are served with a long cache under their hash.
		res, body = ts.do("GET", "/login", "", "")
		m := regexp.MustCompile(`/static/[0-9a-f]+/app\.js`).FindString(body)
		if m == "" {
			t.Fatal("no hashed app.js URL in the page")
		}
		res, _ = ts.do("GET", m, "", "")
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s = %d, Cache-Control %q", m, res.StatusCode, res.Header.Get("Cache-Control"))
		}
		if res, _ := ts.do("GET", "/static/x/../../go.mod", "", ""); res.StatusCode == 200 {
			t.Error("static path escaped the assets")
		}
	})
}

var _ = bytes.NewReader
