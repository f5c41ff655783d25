package http_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// The attacks of the security suite (issue #5) against the running server:
// cross-site posts, session fixation, injection into every text field,
// path traversal, oversized bodies, decompression bombs, headers, error
// bodies and audit-chain tampering. Brute force, lockout and rate limits
// have tests of their own.

// loadDemo loads Huế's organisation and turns off the night queue, so
// that new reports show in inboxes whatever the hour.
func loadDemo(t *testing.T, db *storage.DB) {
	t.Helper()
	db.Reports.NightFrom, db.Reports.NightTo = 0, 0
	if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
		t.Fatal(err)
	}
}

// count returns the number of rows of a table.
func count(t *testing.T, db *storage.DB, table string) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(`select count(*) from ` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// formBody encodes a form for a urlencoded POST.
func formBody(kv ...string) io.Reader {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return strings.NewReader(f.Encode())
}

const formType = "application/x-www-form-urlencoded"

// sessionCookie returns the session cookie an answer sets (the last one,
// as a browser keeps it), or nil.
func sessionCookie(res *http.Response) *http.Cookie {
	var out *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "cityops_session" {
			out = c
		}
	}
	return out
}

// TestSecurityCrossSite posts the forms and API calls a signed-in browser
// can make from another site: each is refused with 403 and changes
// nothing, while the same request from the site itself goes through.
func TestSecurityCrossSite(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		loadDemo(t, db)
		lat, lon := 16.474, 107.578
		rep, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác", Lat: &lat, Lon: &lon})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateUser(sysCtx(), &cityops.User{Email: "victim@hue.gov.vn", Role: cityops.RoleOperator, AgencyCode: "IOC"},
			"mật khẩu của nạn nhân"); err != nil {
			t.Fatal(err)
		}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		if res, body := ts.do("PUT", "/api/v1/alarm-rules/csrf-rule", ts.admin, `{"name":"Original","severity":"major","entity_type":"Building",
			"attr":"bedOccupancyRate","kind":"threshold","op":">","value":90,"enabled":true}`); res.StatusCode != http.StatusCreated {
			t.Fatalf("create rule: %d %s", res.StatusCode, brief(body))
		}
		opUser, err := db.ActorBySession(sysCtx(), op)
		if err != nil {
			t.Fatal(err)
		}
		state := func() string {
			t.Helper()
			rule, err := db.FindAlarmRule(sysCtx(), "csrf-rule")
			if err != nil {
				t.Fatal(err)
			}
			u, err := db.FindUserByID(sysCtx(), opUser.User.ID)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("reports=%d events=%d users=%d sessions=%d keys=%d rule=%s/%v role=%s", count(t, db, "reports"),
				count(t, db, "report_events"), count(t, db, "users"), count(t, db, "sessions"), count(t, db, "api_keys"),
				rule.Name, rule.Enabled, u.Role)
		}
		type attempt struct {
			name, method, path, auth, contentType, body string
		}
		attempts := []attempt{
			{"sign-in", "POST", "/login", "", formType, "email=victim%40hue.gov.vn&password=m%E1%BA%ADt+kh%E1%BA%A9u+c%E1%BB%A7a+n%E1%BA%A1n+nh%C3%A2n"},
			{"public report form", "POST", "/report", "", formType, "category=environment.waste&description=CSRF&address=1+L%C3%AA+L%E1%BB%A3i&submission=csrf-1"},
			{"case action", "POST", "/staff/reports/" + rep.Tracking + "/act", op, formType, "action=comment&note=CSRF"},
			{"bulk assign", "POST", "/staff/reports/assign", op, formType, "agency=SXD&tracking=" + rep.Tracking},
			{"rule edit", "POST", "/ioc/rules/csrf-rule", ts.admin, formType, "name=Hijacked&severity=minor&entity_type=Building&attr=x&kind=threshold&op=%3E&value=1"},
			{"rule toggle", "POST", "/ioc/rules/csrf-rule/toggle", ts.admin, formType, ""},
			{"new user", "POST", "/staff/users", ts.admin, formType, "email=evil%40hue.gov.vn&role=admin&password=a+long+enough+password"},
			{"sign-out", "POST", "/logout", op, formType, ""},
			{"citizen action", "POST", "/r/" + rep.Tracking, "", formType, "k=x&action=confirm"},
			{"API key by cookie", "POST", "/api/v1/apikeys", ts.admin, "application/json", `{"name":"evil","scopes":["org:write"]}`},
			{"role change by cookie", "PATCH", fmt.Sprintf("/api/v1/users/%d", opUser.User.ID), ts.admin, "application/json", `{"role":"admin"}`},
			{"report by API", "POST", "/api/v1/reports", "", "application/json", `{"category":"environment.waste","description":"CSRF","address":"x"}`},
		}
		before := state()
		for _, hostile := range [][]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "same-site"}, {"Origin", "null"}} {
			for _, a := range attempts {
				req := ts.newRequest(a.method, a.path, strings.NewReader(a.body), "Content-Type", a.contentType, hostile[0], hostile[1])
				res, body := ts.send(req, a.auth)
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("%s with %s: %s = %d, want 403", a.name, hostile[0], hostile[1], res.StatusCode)
				}
				if c := sessionCookie(res); c != nil && c.Value != "" {
					t.Errorf("%s with %s: %s set a session cookie", a.name, hostile[0], hostile[1])
				}
				if strings.Contains(body, "goroutine") || strings.Contains(body, "evil.example") {
					t.Errorf("%s: the refusal says too much: %s", a.name, brief(body))
				}
			}
		}
		if after := state(); after != before {
			t.Errorf("cross-site requests changed the state:\nbefore %s\nafter  %s", before, after)
		}
		// The same form from the site itself goes through.
		req := ts.newRequest("POST", "/staff/reports/"+rep.Tracking+"/act", formBody("action", "comment", "note", "same-origin"),
			"Content-Type", formType, "Origin", ts.url, "Sec-Fetch-Site", "same-origin")
		if res, body := ts.send(req, op); res.StatusCode != http.StatusSeeOther {
			t.Errorf("same-origin case action = %d %s, want 303", res.StatusCode, brief(body))
		}
	})
}

// TestSecuritySession checks the session's life: a cookie the browser
// had before signing in (planted by an attacker, or an attacker's own
// session) is never the one after; signing out ends the session on the
// server; the cookie is HttpOnly and SameSite.
func TestSecuritySession(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		const email, password = "hoa@hue.gov.vn", "mật khẩu điều hành"
		if err := db.CreateUser(sysCtx(), &cityops.User{Email: email, Role: cityops.RoleOperator}, password); err != nil {
			t.Fatal(err)
		}
		signIn := func(planted string) string {
			t.Helper()
			req := ts.newRequest("POST", "/login", formBody("email", email, "password", password, "next", "/staff"), "Content-Type", formType)
			res, _ := ts.send(req, planted)
			c := sessionCookie(res)
			if res.StatusCode != http.StatusSeeOther || c == nil || c.Value == "" {
				t.Fatalf("sign-in = %d, cookie %v", res.StatusCode, c)
			}
			if !c.HttpOnly || (c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode) || c.Path != "/" {
				t.Errorf("session cookie HttpOnly=%v SameSite=%v Path=%q; want HttpOnly, Lax or Strict, /", c.HttpOnly, c.SameSite, c.Path)
			}
			if strings.Contains(res.Header.Get("Location"), c.Value) {
				t.Error("the session token is in the redirect URL")
			}
			if c.Value == planted {
				t.Fatalf("the session cookie planted before sign-in (%q) is still the session", planted)
			}
			return c.Value
		}
		me := func(token string) int {
			t.Helper()
			res, _ := ts.send(ts.newRequest("GET", "/api/v1/me", nil), token)
			return res.StatusCode
		}
		// A value the attacker made up.
		planted := "attacker-chosen-session-value-0123456789"
		tok := signIn(planted)
		if got := me(planted); got != http.StatusUnauthorized {
			t.Errorf("the planted cookie after sign-in: /api/v1/me = %d, want 401", got)
		}
		if got := me(tok); got != http.StatusOK {
			t.Errorf("the new session: /api/v1/me = %d, want 200", got)
		}
		// The attacker's own, valid session planted in the victim's browser
		// ends when the victim signs in: the attacker cannot ride it.
		attacker := ts.signIn(cityops.RoleSteering, "", "")
		if _, err := db.ActorBySession(sysCtx(), attacker); err != nil {
			t.Fatal(err)
		}
		tok2 := signIn(attacker)
		if _, err := db.ActorBySession(sysCtx(), attacker); err == nil {
			t.Error("the session planted before sign-in survived it")
		}
		if tok2 == tok {
			t.Error("two sign-ins gave the same token")
		}
		// Signing out ends the session on the server, not just in the browser.
		req := ts.newRequest("POST", "/logout", nil)
		res, _ := ts.send(req, tok2)
		if c := sessionCookie(res); res.StatusCode != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
			t.Errorf("sign-out = %d, cookie %v; want 303 clearing the cookie", res.StatusCode, c)
		}
		if got := me(tok2); got != http.StatusUnauthorized {
			t.Errorf("the signed-out cookie: /api/v1/me = %d, want 401", got)
		}
		res, _ = ts.send(ts.newRequest("GET", "/staff", nil), tok2)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("the signed-out cookie: /staff = %d %s, want a redirect to sign in", res.StatusCode, res.Header.Get("Location"))
		}
		if _, err := db.ActorBySession(sysCtx(), tok2); err == nil {
			t.Error("the session is still valid in the database after sign-out")
		}
		// The first session is unaffected by the second one's sign-out.
		if got := me(tok); got != http.StatusOK {
			t.Errorf("the other session after sign-out: /api/v1/me = %d, want 200", got)
		}
	})
}

// payloads are what attackers type into text fields.
var payloads = []string{
	`' OR 1=1 --`,
	`"; drop table reports; --`,
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`{{.}} {{template "layout.html"}}`,
	"nul\x00byte",
	strings.Repeat("Huế ", 1100),
	"bad\xffutf8",
}

// harmless reports whether a payload is text a field must accept as
// typed: markup and SQL are data, not something to refuse.
func harmless(p string) bool {
	return utf8.ValidString(p) && !strings.ContainsRune(p, 0) && len(p) < 200
}

// noActiveMarkup fails when an HTML page carries a payload's markup
// unescaped.
func noActiveMarkup(t *testing.T, where, page string) {
	t.Helper()
	for _, bad := range []string{"<script>alert", "<img src=x", `"><img`} {
		if strings.Contains(page, bad) {
			t.Errorf("%s contains %q unescaped", where, bad)
		}
	}
}

// TestSecurityInjection types SQL, markup, template syntax, NUL bytes,
// overlong and invalid text into every text field of the report form, the
// report API and Open311, and into the search parameters. Nothing is a
// server error; what is stored comes back verbatim in JSON and escaped in
// pages; the tables are all still there.
func TestSecurityInjection(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		loadDemo(t, db)
		if err := db.CreateCategory(sysCtx(), &cityops.Category{Code: "environment.injection", Sector: cityops.SectorEnvironment,
			Name: "Thử", Active: true, Attributes: []cityops.Attribute{
				{Code: "detail", Datatype: cityops.AttrText, Description: "Chi tiết", Order: 1},
				{Code: "spot", Datatype: cityops.AttrString, Description: "Chỗ", Order: 2}}}); err != nil {
			t.Fatal(err)
		}
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "partner", Scopes: []string{string(cityops.PermOpen311Write)}})
		if err != nil {
			t.Fatal(err)
		}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		type view struct {
			Tracking    string              `json:"tracking"`
			Description string              `json:"description"`
			Address     string              `json:"address"`
			Name        string              `json:"reporter_name"`
			Answers     map[string][]string `json:"attributes"`
		}
		staffView := func(tracking string) view {
			t.Helper()
			res, body := ts.send(ts.newRequest("GET", "/api/v1/reports/"+tracking, nil), op)
			var v view
			if res.StatusCode != 200 || json.Unmarshal([]byte(body), &v) != nil {
				t.Fatalf("report %s = %d %s", tracking, res.StatusCode, brief(body))
			}
			return v
		}
		// check compares what was stored with what was typed, and looks at
		// the staff's case page for it, escaped.
		check := func(where, tracking, field, typed string) {
			t.Helper()
			v := staffView(tracking)
			got := map[string]string{"description": v.Description, "address": v.Address, "name": v.Name}[field]
			if a, ok := strings.CutPrefix(field, "attr."); ok {
				got = strings.Join(v.Answers[a], ",")
			}
			want := strings.TrimSpace(typed)
			if got != want {
				t.Errorf("%s: %s stored as %.80q, typed %.80q", where, field, got, want)
			}
			res, page := ts.send(ts.newRequest("GET", "/staff/reports/"+tracking, nil), op)
			if res.StatusCode != 200 {
				t.Fatalf("%s: case page = %d", where, res.StatusCode)
			}
			noActiveMarkup(t, where+" case page", page)
			// The case page shows the text fields (not the answers).
			// html/template writes NUL as U+FFFD.
			shown := html.EscapeString(strings.ReplaceAll(want, "\x00", "\uFFFD"))
			if !strings.HasPrefix(field, "attr.") && !strings.Contains(page, shown) {
				t.Errorf("%s: the case page does not show %s escaped (%.80q)", where, field, shown)
			}
		}
		fields := []string{"description", "address", "name", "attr.detail", "attr.spot"}
		for pi, p := range payloads {
			for _, field := range fields {
				where := fmt.Sprintf("payload %d in %s", pi, field)
				values := map[string]string{"description": "Mô tả", "address": "1 Lê Lợi", "name": "Lan", "attr.detail": "chi tiết", "attr.spot": "góc"}
				values[field] = p

				// The JSON API.
				in := map[string]any{"category": "environment.injection", "description": values["description"], "address": values["address"],
					"name": values["name"], "consent": true, "attributes": map[string]any{"detail": values["attr.detail"], "spot": values["attr.spot"]}}
				b, _ := json.Marshal(in)
				res, body := ts.send(ts.newRequest("POST", "/api/v1/reports", bytes.NewReader(b), "Content-Type", "application/json"), "")
				switch {
				case res.StatusCode >= 500:
					t.Errorf("API, %s: %d %s", where, res.StatusCode, brief(body))
				case res.StatusCode == http.StatusCreated:
					var created view
					json.Unmarshal([]byte(body), &created)
					// JSON carries valid UTF-8 only: what the decoder made of it.
					check("API, "+where, created.Tracking, field, jsonRoundTrip(p))
				case harmless(p):
					t.Errorf("API, %s: %d %s; want it stored as typed", where, res.StatusCode, brief(body))
				}

				// The public form, as a browser sends it.
				var mb bytes.Buffer
				mw := multipart.NewWriter(&mb)
				for k, v := range map[string]string{"category": "environment.injection", "description": values["description"],
					"address": values["address"], "name": values["name"], "consent": "yes", "submission": fmt.Sprintf("inj-%d-%s", pi, field),
					"attr.environment.injection.detail": values["attr.detail"], "attr.environment.injection.spot": values["attr.spot"]} {
					mw.WriteField(k, v)
				}
				mw.Close()
				res, body = ts.send(ts.newRequest("POST", "/report", &mb, "Content-Type", mw.FormDataContentType()), "")
				switch {
				case res.StatusCode >= 500:
					t.Errorf("form, %s: %d %s", where, res.StatusCode, brief(body))
				case res.StatusCode == http.StatusSeeOther:
					loc := res.Header.Get("Location")
					tracking := strings.TrimPrefix(strings.Split(loc, "?")[0], "/r/")
					check("form, "+where, tracking, field, p)
					res, page := ts.send(ts.newRequest("GET", loc, nil), "")
					if res.StatusCode != 200 {
						t.Errorf("form, %s: status page = %d", where, res.StatusCode)
					}
					noActiveMarkup(t, "form, "+where+", status page", page)
				case harmless(p):
					t.Errorf("form, %s: %d; want it stored as typed", where, res.StatusCode)
				default:
					noActiveMarkup(t, "form, "+where+", form shown again", body)
				}

				// Open311.
				o := url.Values{"service_code": {"environment.injection"}, "description": {values["description"]},
					"address_string": {values["address"]}, "first_name": {values["name"]}, "attribute[detail]": {values["attr.detail"]},
					"attribute[spot]": {values["attr.spot"]}, "api_key": {key}}
				res, body = ts.send(ts.newRequest("POST", "/open311/v2/requests.json", strings.NewReader(o.Encode()), "Content-Type", formType), "")
				switch {
				case res.StatusCode >= 500:
					t.Errorf("Open311, %s: %d %s", where, res.StatusCode, brief(body))
				case res.StatusCode == http.StatusCreated:
					var created []struct {
						ID string `json:"service_request_id"`
					}
					if json.Unmarshal([]byte(body), &created) != nil || len(created) != 1 {
						t.Fatalf("Open311 answer %s", brief(body))
					}
					check("Open311, "+where, created[0].ID, field, p)
				case harmless(p):
					t.Errorf("Open311, %s: %d %s; want it stored as typed", where, res.StatusCode, brief(body))
				}
			}
		}

		// Search and filter parameters.
		for pi, p := range payloads {
			for _, u := range []struct {
				path, auth string
				params     []string
			}{
				{"/api/v1/reports", op, []string{"q", "category", "sector", "agency", "area", "status"}},
				{"/staff/reports", op, []string{"q", "sector", "area", "agency", "status"}},
				{"/reports", "", []string{"q", "category", "sector", "area", "status"}},
				{"/open311/v2/requests.json", "", []string{"service_code", "status", "service_request_id"}},
				{"/ngsi-ld/v1/entities", ts.admin, []string{"q", "idPattern", "type", "id", "attrs"}},
				{"/api/v1/locate", "", []string{"lat", "lon"}},
				{"/api/v1/reports/nearby", "", []string{"category", "lat"}},
				{"/login", "", []string{"next"}},
				{"/r", "", []string{"code"}},
				{"/stats", "", []string{"days"}},
			} {
				for _, name := range u.params {
					q := url.Values{name: {p}}
					if u.path == "/ngsi-ld/v1/entities" && name != "type" {
						q.Set("type", "AirQualityObserved")
					}
					res, body := ts.send(ts.newRequest("GET", u.path+"?"+q.Encode(), nil), u.auth)
					where := fmt.Sprintf("GET %s?%s=<payload %d>", u.path, name, pi)
					if res.StatusCode >= 500 {
						t.Errorf("%s = %d %s", where, res.StatusCode, brief(body))
					}
					if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
						noActiveMarkup(t, where, body)
					}
				}
			}
		}
		// A quote does not widen a search: every report found for the SQL
		// payloads holds the payload.
		for _, p := range payloads[:2] {
			_, body := ts.send(ts.newRequest("GET", "/api/v1/reports?limit=1000&q="+url.QueryEscape(p), nil), op)
			var list struct {
				Items []view `json:"items"`
				Total int    `json:"total"`
			}
			json.Unmarshal([]byte(body), &list)
			if list.Total == 0 {
				t.Errorf("search for %q found nothing, though reports hold it", p)
			}
			for _, r := range list.Items {
				if !strings.Contains(r.Description+r.Address, p) && r.Tracking != strings.ToUpper(p) {
					t.Errorf("search for %q found %s (%.60q, %.60q), which does not hold it", p, r.Tracking, r.Description, r.Address)
				}
			}
		}
		// The tables are all still there.
		for _, table := range []string{"reports", "report_events", "users", "sessions", "api_keys", "categories", "agencies", "areas", "audit_log"} {
			count(t, db, table)
		}
		if n := count(t, db, "reports"); n < 3*len(fields)*5 {
			t.Errorf("%d reports stored; the harmless payloads alone make %d", n, 3*len(fields)*5)
		}
	})
}

// jsonRoundTrip returns what a JSON decoder makes of s once encoded:
// invalid UTF-8 comes back as U+FFFD.
func jsonRoundTrip(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

// TestSecurityPathTraversal asks for files outside the media store and
// the embedded assets, in every spelling: the answer is 400 or 404, never
// a file.
func TestSecurityPathTraversal(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	follow := &http.Client{} // follows the mux's redirects to cleaned paths
	for _, p := range []string{
		"/media/../../etc/passwd",
		"/media/..%2f..%2f..%2fetc%2fpasswd",
		"/media/..%2F..%2F..%2Fetc%2Fpasswd.jpg",
		"/media/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/media/..%5c..%5c..%5cetc%5cpasswd.jpg",
		"/media/..\\..\\etc\\passwd",
		"/media/%252e%252e%252fetc%252fpasswd",
		"/media/" + strings.Repeat("a", 64) + ".jpg/../../../go.mod",
		"/media/" + strings.Repeat("A", 64) + ".jpg",
		"/media/" + strings.Repeat("a", 64) + ".jpg%00.png",
		"/media/%00",
		"/static/x/../../../go.mod",
		"/static/x/..%2f..%2f..%2fgo.mod",
		"/static/x/%2e%2e/%2e%2e/server.go",
		"/static/x/..%5c..%5cserver.go",
		"/static/x/../templates/layout.html",
		"/static/x/..%2ftemplates%2flayout.html",
		"/static/..%2f..%2fetc%2fpasswd/x",
		"/static/x//etc/passwd",
	} {
		req, err := http.NewRequest("GET", ts.url+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawPath, req.URL.Opaque = "", p // send the path exactly as written
		res, err := follow.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		body := string(b)
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s = %d (after redirects, at %s), want 404 or 400", p, res.StatusCode, res.Request.URL.Path)
		}
		if s := containsAny(body, "root:", "module github.com/cityops", "package http", "{{define", "<!doctype html>\n<html lang=\"{{"); s != "" {
			t.Errorf("%s gave file contents (%q)", p, s)
		}
	}
	// The real files are served.
	if res, _ := ts.do("GET", "/static/x/app.css", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("app.css = %d", res.StatusCode)
	}
}

// TestSecurityBodyLimits sends bodies over the limits, with and without a
// Content-Length, to every kind of endpoint: 413, and nothing stored.
func TestSecurityBodyLimits(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db) // MaxBodyBytes 64 KiB
		loadDemo(t, db)
		ts.Server.MaxUploadBytes, ts.Server.MaxBulkBytes = 1<<20, 256<<10
		lat, lon := 16.474, 107.578
		rep, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác", Lat: &lat, Lon: &lon})
		if err != nil {
			t.Fatal(err)
		}
		hepco := ts.signIn(cityops.RoleAgencyOfficer, "HEPCO", "")
		open311, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "o", Scopes: []string{string(cityops.PermOpen311Write)}})
		if err != nil {
			t.Fatal(err)
		}
		sensor, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "s", Scopes: []string{string(cityops.PermDataWrite)}})
		if err != nil {
			t.Fatal(err)
		}
		ts.Server.Media.MaxBytes = 256 << 10
		big := strings.Repeat("x", 100<<10)                         // over the 64 KiB of JSON and forms
		huge := "\x89PNG\r\n\x1a\n" + strings.Repeat("y", 1200<<10) // over the 1 MiB of uploads
		photo := "\x89PNG\r\n\x1a\n" + strings.Repeat("z", 512<<10) // within them, over the 256 KiB of a photo
		multi := func(field, content string) (string, string) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			for k, v := range map[string]string{"action": "resolve", "note": "x", "category": "environment.waste", "description": "x",
				"address": "x", "submission": "limits"} {
				mw.WriteField(k, v)
			}
			fw, _ := mw.CreateFormFile(field, "big.png")
			fw.Write([]byte(content))
			mw.Close()
			return mw.FormDataContentType(), b.String()
		}
		caseType, caseBody := multi("photo", huge)
		photoType, photoBody := multi("photo", huge)
		reportType, reportBody := multi("photos", huge)
		casePhotoType, casePhotoBody := multi("photo", photo)
		reportPhotoType, reportPhotoBody := multi("photos", photo)
		if res, body := ts.do("POST", "/api/v1/reports/"+rep.Tracking+"/actions", hepco, `{"action":"accept"}`); res.StatusCode != 200 {
			t.Fatalf("accept: %d %s", res.StatusCode, brief(body))
		}
		for _, c := range []struct {
			name, method, path, auth, contentType, body string
		}{
			{"JSON report", "POST", "/api/v1/reports", "", "application/json", `{"category":"environment.waste","address":"x","description":"` + big + `"}`},
			{"JSON action", "POST", "/api/v1/reports/" + rep.Tracking + "/actions", hepco, "application/json", `{"action":"comment","note":"` + big + `"}`},
			{"sign-in form", "POST", "/login", "", formType, "email=a%40b.c&password=" + big},
			{"citizen form", "POST", "/r/" + rep.Tracking, "", formType, "action=rate&k=" + big},
			{"Open311 form", "POST", "/open311/v2/requests.json", "", formType, "api_key=" + open311 + "&service_code=environment.waste&address_string=x&description=" + big},
			{"NGSI-LD entity", "POST", "/ngsi-ld/v1/entities", ts.admin, "application/json", `{"id":"urn:ngsi-ld:X:1","type":"X","name":{"type":"Property","value":"` + big + `"}}`},
			{"photo body", "POST", "/api/v1/photos", "", "image/png", huge},
			{"photo form", "POST", "/api/v1/photos", "", photoType, photoBody},
			{"report form with a photo", "POST", "/report", "", reportType, reportBody},
			{"case form with a photo", "POST", "/staff/reports/" + rep.Tracking + "/act", hepco, caseType, caseBody},
			{"one photo too large, body", "POST", "/api/v1/photos", "", "image/png", photo},
			{"one photo too large, report form", "POST", "/report", "", reportPhotoType, reportPhotoBody},
			{"one photo too large, case form", "POST", "/staff/reports/" + rep.Tracking + "/act", hepco, casePhotoType, casePhotoBody},
			{"bulk observations", "POST", "/api/v1/observations", sensor, "application/x-ndjson", strings.Repeat(`{"id":"urn:ngsi-ld:X:1","type":"X","a":1}`+"\n", 8000)},
		} {
			for _, chunked := range []bool{false, true} {
				reports, events := count(t, db, "reports"), count(t, db, "report_events")
				var rd io.Reader = strings.NewReader(c.body)
				if chunked {
					rd = io.MultiReader(rd) // no length known up front: sent chunked
				}
				req := ts.newRequest(c.method, c.path, rd, "Content-Type", c.contentType)
				if chunked {
					req.ContentLength = -1
				}
				res, body := ts.send(req, c.auth)
				if res.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("%s (chunked %v) = %d %s, want 413", c.name, chunked, res.StatusCode, brief(body))
				}
				if r, e := count(t, db, "reports"), count(t, db, "report_events"); r != reports || e != events {
					t.Errorf("%s (chunked %v) stored something: reports %d→%d, events %d→%d", c.name, chunked, reports, r, events, e)
				}
			}
		}
	})
}

// pngChunk encodes one PNG chunk.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// bombs are tiny images whose headers claim 60000×60000 pixels (3.6
// gigapixels, 14 GB as RGBA); the WebP one 40000×40000, as WebP cannot
// claim more than 2^31 pixels.
func bombs() map[string][]byte {
	const side = 60000
	ihdr := binary.BigEndian.AppendUint32(nil, side)
	ihdr = binary.BigEndian.AppendUint32(ihdr, side)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA
	// zlib of a few zero bytes: the first rows of a bomb.
	idat := []byte{0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01}
	png := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	png = append(png, pngChunk("IDAT", idat)...)
	png = append(png, pngChunk("IEND", nil)...)

	jpeg := []byte{0xFF, 0xD8, // SOI
		0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, // APP0 JFIF
		0xFF, 0xC0, 0x00, 0x11, 8, side >> 8, side & 0xFF, side >> 8, side & 0xFF, 3, // SOF0, 3 components
		1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0,
		0xFF, 0xD9} // EOI

	vp8x := []byte{0x10, 0, 0, 0} // flags (alpha), reserved
	for _, v := range []uint32{40000 - 1, 40000 - 1} {
		vp8x = append(vp8x, byte(v), byte(v>>8), byte(v>>16))
	}
	webp := []byte("RIFF")
	webp = binary.LittleEndian.AppendUint32(webp, uint32(4+8+len(vp8x)))
	webp = append(webp, "WEBPVP8X"...)
	webp = binary.LittleEndian.AppendUint32(webp, uint32(len(vp8x)))
	webp = append(webp, vp8x...)

	gif := append([]byte("GIF89a"), side&0xFF, side>>8, side&0xFF, side>>8, 0xF7, 0, 0)
	gif = append(gif, make([]byte, 3*256)...)
	gif = append(gif, 0x2C, 0, 0, 0, 0, side&0xFF, side>>8, side&0xFF, side>>8, 0, 8, 2, 0x4C, 0x01, 0, 0x3B)
	return map[string][]byte{"image/png": png, "image/jpeg": jpeg, "image/webp": webp, "image/gif": gif}
}

// TestSecurityImageBombs uploads images whose headers claim billions of
// pixels: each is refused at once, without the server allocating the
// gigabytes the pixels would take.
func TestSecurityImageBombs(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	for typ, img := range bombs() {
		for _, multipartForm := range []bool{false, true} {
			ctype, body := typ, img
			if multipartForm {
				var b bytes.Buffer
				mw := multipart.NewWriter(&b)
				fw, _ := mw.CreateFormFile("photo", "bomb")
				fw.Write(img)
				mw.Close()
				ctype, body = mw.FormDataContentType(), b.Bytes()
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			res, out := ts.send(ts.newRequest("POST", "/api/v1/photos", bytes.NewReader(body), "Content-Type", ctype), "")
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			want := http.StatusRequestEntityTooLarge
			if typ == "image/gif" {
				want = http.StatusBadRequest // not a format cityops takes
			}
			if res.StatusCode != want {
				t.Errorf("%s bomb (multipart %v) = %d %s, want %d", typ, multipartForm, res.StatusCode, brief(out), want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100<<20 {
				t.Errorf("%s bomb (multipart %v): the server allocated %d MB", typ, multipartForm, alloc>>20)
			}
			if took > 2*time.Second {
				t.Errorf("%s bomb (multipart %v) took %v", typ, multipartForm, took)
			}
		}
	}
}

// TestSecurityHeaders checks the headers of the pages people use, signed
// in and not, and of API answers.
func TestSecurityHeaders(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	loadDemo(t, db)
	lat, lon := 16.474, 107.578
	rep, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác", Lat: &lat, Lon: &lon})
	if err != nil {
		t.Fatal(err)
	}
	op := ts.signIn(cityops.RoleOperator, "IOC", "")
	for _, p := range []struct{ path, auth string }{
		{"/login", ""}, {"/report", ""}, {"/reports", ""}, {"/stats", ""}, {"/r/" + rep.Tracking, ""}, {"/no/such/page", ""},
		{"/staff", op}, {"/staff/reports", op}, {"/staff/reports/" + rep.Tracking, op}, {"/ioc", op}, {"/ioc/kpi", op},
		{"/staff/users", ts.admin}, {"/ioc/rules", op}, {"/staff/agencies", op},
	} {
		res, body := ts.send(ts.newRequest("GET", p.path, nil), p.auth)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html") {
			t.Errorf("%s = %d %s, want a page", p.path, res.StatusCode, res.Header.Get("Content-Type"))
			continue
		}
		if err := checkPageHeaders(res.Header); err != nil {
			t.Errorf("%s: %v", p.path, err)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options = %q", p.path, res.Header.Get("X-Frame-Options"))
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, "javascript:") {
			t.Errorf("%s has inline script, which the CSP refuses", p.path)
		}
	}
	for _, path := range []string{"/api/v1/areas", "/api/v1/nothing", "/ngsi-ld/v1/types"} {
		res, _ := ts.send(ts.newRequest("GET", path, nil), "")
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", path, res.Header.Get("X-Content-Type-Options"))
		}
	}
}

// leakMarks are what error bodies must never show: stack traces, SQL and
// driver messages, table names, file paths.
var leakMarks = []string{"goroutine ", ".go:", "panic:", "runtime.", "SQLSTATE", "sqlite", "pgx", "pq: ", "no such table",
	"relation \"", "syntax error at", "report_events", "/tmp/", "/work/", "/home/", "/root/", "/usr/local/go"}

// TestSecurityErrorBodies provokes client and server errors and reads
// their bodies: a clear message, nothing of the program's insides.
func TestSecurityErrorBodies(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		loadDemo(t, db)
		lat, lon := 16.474, 107.578
		rep, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác", Lat: &lat, Lon: &lon})
		if err != nil {
			t.Fatal(err)
		}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		tmp := t.TempDir()
		type call struct {
			method, path, auth, contentType, body string
			status                                int
		}
		checkAll := func(calls []call) {
			t.Helper()
			for _, c := range calls {
				var rd io.Reader
				if c.body != "" {
					rd = strings.NewReader(c.body)
				}
				req := ts.newRequest(c.method, c.path, rd)
				if c.contentType != "" {
					req.Header.Set("Content-Type", c.contentType)
				}
				res, body := ts.send(req, c.auth)
				if res.StatusCode != c.status {
					t.Errorf("%s %s = %d %s, want %d", c.method, c.path, res.StatusCode, brief(body), c.status)
				}
				if s := containsAny(body, append(leakMarks, tmp)...); s != "" {
					t.Errorf("%s %s: the %d body shows %q: %s", c.method, c.path, res.StatusCode, s, brief(body))
				}
				if strings.TrimSpace(body) == "" {
					t.Errorf("%s %s: the %d body is empty", c.method, c.path, res.StatusCode)
				}
			}
		}
		checkAll([]call{
			{"POST", "/api/v1/reports", "", "application/json", `{"category":`, 400},
			{"POST", "/api/v1/reports", "", "application/json", `{"lat":"north"}`, 400},
			{"POST", "/api/v1/reports", "", "text/plain", `hello`, 400},
			{"GET", "/api/v1/reports?limit=-1&since=yesterday", op, "", "", 400},
			{"GET", "/api/v1/alarms/abc", op, "", "", 404},
			{"GET", "/ngsi-ld/v1/entities?type=X&q=((((", ts.admin, "", "", 400},
			{"GET", "/ngsi-ld/v1/entities?idPattern=(", ts.admin, "", "", 400},
			{"POST", "/ngsi-ld/v1/entities", ts.admin, "application/json", `{"id":"not a uri"}`, 400},
			{"GET", "/open311/v2/requests.json?start_date=soon", "", "", "", 400},
			{"POST", "/api/v1/photos", "", "image/png", "\x89PNG\r\n\x1a\nnot really", 400},
			{"GET", "/media/" + strings.Repeat("a", 64) + ".jpg", "", "", "", 404},
			{"GET", "/no/such/page", "", "", "", 404},
			{"PUT", "/api/v1/areas", ts.admin, "application/json", "{}", 405},
			{"GET", "/staff/reports/NOPE2345", op, "", "", 404},
			{"POST", "/staff/reports/" + rep.Tracking + "/act", op, formType, "action=fly", 400},
			{"GET", "/api/v1/areas", "cok_not_a_key", "", "", 401},
		})
		// A server error: the timeline's table is gone. The answer is a
		// plain 500 that names nothing.
		if _, err := db.SQL().Exec(`alter table report_events rename to gone_events`); err != nil {
			t.Fatal(err)
		}
		defer db.SQL().Exec(`alter table gone_events rename to report_events`)
		checkAll([]call{
			{"GET", "/api/v1/reports/" + rep.Tracking, op, "", "", 500},
			{"GET", "/staff/reports/" + rep.Tracking, op, "", "", 500},
			{"GET", "/r/" + rep.Tracking, "", "", "", 500},
			{"POST", "/api/v1/reports/" + rep.Tracking + "/actions", op, "application/json", `{"action":"comment","note":"x"}`, 500},
		})
	})
}

// TestSecurityAuditTamper works through the server, then changes and
// removes audit entries behind its back: the chain's verification names
// the first broken entry each time.
func TestSecurityAuditTamper(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		loadDemo(t, db)
		hepco := ts.signIn(cityops.RoleAgencyOfficer, "HEPCO", "")
		res, body := ts.do("POST", "/api/v1/reports", "", `{"category":"environment.waste","description":"Rác","lat":16.474,"lon":107.578}`)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("report: %d %s", res.StatusCode, brief(body))
		}
		var rep struct{ Tracking string }
		json.Unmarshal([]byte(body), &rep)
		for _, a := range []string{`{"action":"accept"}`, `{"action":"start"}`, `{"action":"resolve","note":"Đã thu gom"}`} {
			if res, body := ts.do("POST", "/api/v1/reports/"+rep.Tracking+"/actions", hepco, a); res.StatusCode != 200 {
				t.Fatalf("%s: %d %s", a, res.StatusCode, brief(body))
			}
		}
		if res, body := ts.do("POST", "/api/v1/apikeys", ts.admin, `{"name":"SIEM","scopes":["audit:read"]}`); res.StatusCode != http.StatusCreated {
			t.Fatalf("API key: %d %s", res.StatusCode, brief(body))
		}
		verify := func() *cityops.AuditVerification {
			t.Helper()
			v, err := db.VerifyAudit(sysCtx())
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if v := verify(); v.BrokenID != 0 || v.Entries < 4 {
			t.Fatalf("the untouched trail: %+v", v)
		}
		entries, _, err := db.FindAudit(sysCtx(), cityops.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var target *cityops.AuditEntry
		for _, e := range entries {
			if e.Action == "report.resolve" {
				target = e
			}
		}
		if target == nil || target.ID == entries[len(entries)-1].ID {
			t.Fatalf("no report.resolve entry before the last one in %d entries", len(entries))
		}
		// Someone with database access puts the blame on another.
		if _, err := db.SQL().Exec(`update audit_log set actor = $1 where id = $2`, "someone.else@hue.gov.vn", target.ID); err != nil {
			t.Fatal(err)
		}
		if v := verify(); v.BrokenID != target.ID || !strings.Contains(v.Reason, "changed") {
			t.Errorf("after changing entry %d: %+v", target.ID, v)
		}
		if _, err := db.SQL().Exec(`update audit_log set actor = $1 where id = $2`, target.Actor, target.ID); err != nil {
			t.Fatal(err)
		}
		if v := verify(); v.BrokenID != 0 {
			t.Fatalf("after putting it back: %+v", v)
		}
		// ... or removes the entry altogether: the next one no longer follows.
		if _, err := db.SQL().Exec(`delete from audit_log where id = $1`, target.ID); err != nil {
			t.Fatal(err)
		}
		var next int64
		for _, e := range entries {
			if e.ID > target.ID && next == 0 {
				next = e.ID
			}
		}
		if v := verify(); v.BrokenID != next || !strings.Contains(v.Reason, "removed") {
			t.Errorf("after removing entry %d: %+v; want %d named", target.ID, v, next)
		}
	})
}
