package http_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// The security suite ("Evidence", issue #5) starts the real server on a
// real database and attacks it. This file holds the authorisation part:
// every route against every kind of caller, and the scope of staff who
// may read reports and alarms. security_attack_test.go holds the rest.

// newSecurityServer is newTestServer with the services the real program
// runs behind its routes: the report event stream, the operations
// centre's live stream, NGSI-LD subscriptions and the audit trail, so that
// no route answers 503 for want of one of them.
func newSecurityServer(t *testing.T, db *storage.DB) *testServer {
	t.Helper()
	ts := newTestServer(t, db)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := &notify.Hub{Outbox: db, Interval: 100 * time.Millisecond, Log: log}
	live := notify.NewLiveHub(200 * time.Millisecond)
	subs := &notify.Notifier{Store: db, Entities: db, Contexts: jsonld.NewCache(), Log: log}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); hub.Run(ctx) }()
	go func() { defer wg.Done(); live.Run(ctx, hub) }()
	go func() { defer wg.Done(); subs.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	ts.Server.Events, ts.Server.Live, ts.Server.Subscriptions, ts.Server.Audit = hub, live, subs, db
	return ts
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends req as auth (a session token, an API key cok_… or "") without
// following redirects, and returns the answer and its body. An event
// stream's body is not read: its status is all a test needs, and reading
// it would never end.
func (ts *testServer) send(req *http.Request, auth string) (*http.Response, string) {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	switch {
	case strings.HasPrefix(auth, "cok_"):
		req.Header.Set("Authorization", "Bearer "+auth)
	case auth != "":
		req.AddCookie(&http.Cookie{Name: "cityops_session", Value: auth})
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return res, ""
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	return res, string(b)
}

// newRequest builds a request to the test server; body may be nil.
func (ts *testServer) newRequest(method, path string, body io.Reader, hdr ...string) *http.Request {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.url+path, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// pathSamples fills a route's path parameters, by name. The values name
// nothing that exists, so that the matrix's DELETEs and POSTs change
// nothing; authorisation is decided before any handler looks them up.
var pathSamples = map[string]string{
	"tracking": "ZZZZ2345",
	"code":     "zz-none",
	"id":       "999999",
	"key":      "none",
	"file":     strings.Repeat("0", 64) + ".jpg",
	"attr":     "none",
	"instance": "none",
	"op":       "upsert",
	"hash":     "0",
	"path...":  "app.css",
	"token":    "ZZZZ2345.json",
}

var pathParam = regexp.MustCompile(`\{([^}]*)\}`)

// samplePath turns a route pattern into a method and a concrete path, or
// fails naming the parameter that has no sample value.
func samplePath(pattern string) (method, path string, err error) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || strings.HasPrefix(method, "/") {
		method, path = http.MethodGet, pattern // a pattern without a method serves them all
	}
	var missing []string
	path = pathParam.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		if name == "$" {
			return ""
		}
		v, ok := pathSamples[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", "", fmt.Errorf("route %s: add a sample value for {%s} to pathSamples", pattern, strings.Join(missing, "}, {"))
	}
	return method, path, nil
}

// identity is one kind of caller: the public, a signed-in user of a role,
// or an API key with one scope.
type identity struct {
	name         string
	auth         string
	role         string // for users
	agency, area string // the user's scope
	scope        cityops.Permission
}

// holds reports whether the identity is granted p, from the role table and
// the key's scopes rather than from Actor.Can, which is under test.
func (id identity) holds(p cityops.Permission) bool {
	switch {
	case p == cityops.PermPublic:
		return true
	case id.role != "":
		return cityops.RoleCan(id.role, p)
	case id.scope != "":
		return id.scope == p
	}
	return false
}

// knownPermission reports whether some caller can hold p: the public, a
// role or an API key. A typo in the route table names a permission nobody
// holds.
func knownPermission(p cityops.Permission) bool {
	if p == cityops.PermPublic || slices.Contains(cityops.Scopes, p) {
		return true
	}
	for _, r := range cityops.Roles {
		if cityops.RoleCan(r, p) {
			return true
		}
	}
	return false
}

// handlerRefusals are routes whose handler itself answers 401 or 403 to a
// caller the route admits, and why that is right.
var handlerRefusals = map[string]string{
	"POST /login":        "an empty form is a failed sign-in, 401 by design",
	"GET /login/verify":  "without a half-open session the second step sends the browser back to sign in",
	"POST /login/verify": "without a half-open session the second step sends the browser back to sign in",
	"POST /login/reset":  "an empty or unknown reset token is a failed sign-in, 401 by design",
}

// scopeFor returns the scope fields a user of role needs (User.Validate).
func scopeFor(role string) (agency, area string) {
	switch role {
	case cityops.RoleWardOfficer:
		return "", "P10"
	case cityops.RoleAgencyOfficer, cityops.RoleAgencyHead:
		return "SXD", ""
	}
	return "", ""
}

// TestSecurityRouteMatrix sends every route of the table, enumerated at
// run time, as the public, as a user of every role and with an API key of
// every scope. A caller without the route's permission gets 401 (the
// public; a browser asking for a page is sent to sign in) or 403; a caller
// with it gets neither, nor a server error. Every route declares a known
// permission, and every HTML answer carries the security headers.
func TestSecurityRouteMatrix(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newSecurityServer(t, db)
		ts.seed()
		ids := []identity{{name: "public"}}
		for _, role := range cityops.Roles {
			agency, area := scopeFor(role)
			ids = append(ids, identity{name: role, auth: ts.signIn(role, agency, area), role: role, agency: agency, area: area})
		}
		for _, p := range cityops.Scopes {
			key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "matrix " + string(p), Scopes: []string{string(p)}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, identity{name: "key:" + string(p), auth: key, scope: p})
		}

		routes := ts.Routes()
		if len(routes) < 150 {
			t.Fatalf("only %d routes in the table", len(routes))
		}
		headerFailures := map[string]bool{}
		for _, rt := range routes {
			switch {
			case rt.Permission == "":
				t.Errorf("route %s declares no permission", rt.Pattern)
				continue
			case !knownPermission(rt.Permission):
				t.Errorf("route %s declares permission %q, which no role or API key can hold", rt.Pattern, rt.Permission)
			}
			method, path, err := samplePath(rt.Pattern)
			if err != nil {
				t.Error(err)
				continue
			}
			for i, id := range ids {
				res, body := ts.send(ts.newRequest(method, path, nil), id.auth)
				if id.role != "" && method != http.MethodGet {
					// Signing out (or out everywhere) ends the session the
					// routes after this one need.
					if _, err := db.ActorBySession(sysCtx(), id.auth); err != nil {
						ids[i].auth = ts.signIn(id.role, id.agency, id.area)
					}
				}
				st := res.StatusCode
				toLogin := st == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/login?next=")
				if !id.holds(rt.Permission) {
					switch {
					case id.name == "public" && (st == http.StatusUnauthorized || toLogin && method == http.MethodGet):
					case id.name == "public" && st == http.StatusForbidden && strings.HasPrefix(path, "/open311/"):
						// GeoReport v2 answers a missing or bad api_key 403.
					case id.name != "public" && st == http.StatusForbidden:
					default:
						want := "403"
						if id.name == "public" {
							want = "401 or a redirect to /login"
						}
						t.Errorf("%s as %s (lacks %s): %d %s; want %s", rt.Pattern, id.name, rt.Permission, st, brief(body), want)
					}
				} else {
					refused := st == http.StatusUnauthorized || st == http.StatusForbidden || toLogin
					if st >= 500 || refused && handlerRefusals[rt.Pattern] == "" {
						t.Errorf("%s as %s (holds %s): %d %s", rt.Pattern, id.name, rt.Permission, st, brief(body))
					}
				}
				if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") && !headerFailures[rt.Pattern] {
					if err := checkPageHeaders(res.Header); err != nil {
						headerFailures[rt.Pattern] = true
						t.Errorf("%s as %s: %v", rt.Pattern, id.name, err)
					}
				}
			}
		}
	})
}

// checkPageHeaders checks the headers every HTML page carries: a CSP
// without inline scripts that forbids framing, no MIME sniffing, and
// referrer and permissions policies.
func checkPageHeaders(h http.Header) error {
	csp := h.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	script, ok := directives["script-src"]
	if !ok {
		script, ok = directives["default-src"]
	}
	switch {
	case !ok:
		return fmt.Errorf("CSP %q has no script-src or default-src", csp)
	case strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'") || strings.Contains(script, "*"):
		return fmt.Errorf("CSP script-src %q allows inline, eval'd or any scripts", script)
	case directives["frame-ancestors"] != "'none'":
		return fmt.Errorf("CSP %q lacks frame-ancestors 'none'", csp)
	case h.Get("X-Content-Type-Options") != "nosniff":
		return fmt.Errorf("X-Content-Type-Options = %q", h.Get("X-Content-Type-Options"))
	case h.Get("Referrer-Policy") == "":
		return fmt.Errorf("no Referrer-Policy")
	case h.Get("Permissions-Policy") == "":
		return fmt.Errorf("no Permissions-Policy")
	}
	return nil
}

// scopeReports are the reports of TestSecurityScope: two wards (P10, P08)
// and two agencies (HEPCO, SXD), one of SXD's supported by HEPCO.
type scopeReports struct {
	hepcoP10 *cityops.Report // environment.waste in P10: HEPCO leads
	localP08 *cityops.Report // encroachment in P08: UBND-P08 leads
	sxdP08   *cityops.Report // road damage in P08: SXD leads, HEPCO supports
	localP10 *cityops.Report // encroachment in P10: UBND-P10 leads
}

// TestSecurityScope checks that staff who may read reports and alarms see
// and act on those in their scope only: a ward officer their ward's, an
// agency's staff their agency's and those it supports, an API key its
// agency's. A case or alarm outside the scope is 404, as if it did not
// exist, and absent from lists; the public report view shows an
// out-of-scope caller what it shows the public, and the public no
// reporter and no internal note.
func TestSecurityScope(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		db.Reports.NightFrom, db.Reports.NightTo = 0, 0 // no report waits for the morning
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		n := 0
		mk := func(cat string, lat, lon float64, answers map[string][]string, agency, area string) *cityops.Report {
			t.Helper()
			n++
			r, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: cat, Description: fmt.Sprintf("Báo cáo số %d", n),
				Lat: &lat, Lon: &lon, Answers: answers, Name: fmt.Sprintf("Người báo %d", n), Phone: fmt.Sprintf("0905 000 %03d", n), Consent: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.Agency != agency || r.Area != area {
				t.Fatalf("%s at %v,%v went to %s in %s; want %s in %s", cat, lat, lon, r.Agency, r.Area, agency, area)
			}
			return r
		}
		rs := scopeReports{
			hepcoP10: mk("environment.waste", 16.474, 107.578, nil, "HEPCO", "P10"),
			localP08: mk("transport.encroachment", 16.466, 107.556, nil, "UBND-P08", "P08"),
			sxdP08:   mk("transport.road_damage", 16.466, 107.556, map[string][]string{"size": {"small"}}, "SXD", "P08"),
			localP10: mk("transport.encroachment", 16.474, 107.578, nil, "UBND-P10", "P10"),
		}
		all := []*cityops.Report{rs.hepcoP10, rs.localP08, rs.sxdP08, rs.localP10}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		act := func(who string, r *cityops.Report, body string) (*http.Response, string) {
			t.Helper()
			return ts.do("POST", "/api/v1/reports/"+r.Tracking+"/actions", who, body)
		}
		if res, body := act(op, rs.sxdP08, `{"action":"add_support","agency":"HEPCO","note":"SUPPORT-TASK-SECRET cắt cây"}`); res.StatusCode != 200 {
			t.Fatalf("add support: %d %s", res.StatusCode, brief(body))
		}
		internal := func(r *cityops.Report) string { return "INTERNAL-NOTE-" + r.Tracking }
		for _, r := range all {
			if res, body := act(op, r, `{"action":"comment","note":"`+internal(r)+`"}`); res.StatusCode != 200 {
				t.Fatalf("comment: %d %s", res.StatusCode, brief(body))
			}
		}

		// Two alarms: HEPCO's in P10, SXD's in P08.
		core := jsonld.Core()
		alarm := func(code, agency string, lat, lon float64) *cityops.Alarm {
			t.Helper()
			rule := &cityops.AlarmRule{Code: code, Name: code, Sector: cityops.SectorEnvironment, Severity: cityops.SeverityMajor,
				EntityType: core.ExpandTerm("AirQualityObserved"), Attr: core.ExpandTerm("pm25"), Kind: cityops.RuleThreshold, Op: ">",
				Value: 30, Category: "environment.pollution", Agency: agency, Enabled: true}
			if err := db.SaveAlarmRule(sysCtx(), rule); err != nil {
				t.Fatal(err)
			}
			l, err := db.RaiseAlarm(sysCtx(), &cityops.AlarmRaise{Rule: rule, EntityID: "urn:ngsi-ld:AirQualityObserved:" + code,
				EntityType: rule.EntityType, Value: 42, Message: "ALARM-" + code, Lat: &lat, Lon: &lon})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		alarmHEPCO := alarm("sec-hepco", "HEPCO", 16.474, 107.578)
		alarmSXD := alarm("sec-sxd", "SXD", 16.466, 107.556)

		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "HEPCO system", Agency: "HEPCO",
			Scopes: []string{string(cityops.PermReportsRead), string(cityops.PermAlarmsRead)}})
		if err != nil {
			t.Fatal(err)
		}
		type viewer struct {
			name     string
			auth     string
			in       []*cityops.Report // reports in scope; the others are out
			personal []*cityops.Report // those whose reporter it sees
			acts     []*cityops.Report // those it may comment on
			alarms   []*cityops.Alarm  // alarms in scope
		}
		viewers := []viewer{
			{name: "ward officer of P10", auth: ts.signIn(cityops.RoleWardOfficer, "", "P10"),
				in: []*cityops.Report{rs.hepcoP10, rs.localP10}, alarms: []*cityops.Alarm{alarmHEPCO}},
			{name: "ward officer of P10 for UBND-P10", auth: ts.signIn(cityops.RoleWardOfficer, "UBND-P10", "P10"),
				in: []*cityops.Report{rs.localP10}, personal: []*cityops.Report{rs.localP10}, acts: []*cityops.Report{rs.localP10},
				alarms: []*cityops.Alarm{alarmHEPCO}},
			{name: "HEPCO officer", auth: ts.signIn(cityops.RoleAgencyOfficer, "HEPCO", ""),
				in: []*cityops.Report{rs.hepcoP10, rs.sxdP08}, personal: []*cityops.Report{rs.hepcoP10, rs.sxdP08},
				acts: []*cityops.Report{rs.hepcoP10, rs.sxdP08}, alarms: []*cityops.Alarm{alarmHEPCO}},
			{name: "HEPCO head", auth: ts.signIn(cityops.RoleAgencyHead, "HEPCO", ""),
				in: []*cityops.Report{rs.hepcoP10, rs.sxdP08}, personal: []*cityops.Report{rs.hepcoP10, rs.sxdP08},
				acts: []*cityops.Report{rs.hepcoP10, rs.sxdP08}, alarms: []*cityops.Alarm{alarmHEPCO}},
			{name: "SXD officer", auth: ts.signIn(cityops.RoleAgencyOfficer, "SXD", ""),
				in: []*cityops.Report{rs.sxdP08}, personal: []*cityops.Report{rs.sxdP08}, acts: []*cityops.Report{rs.sxdP08},
				alarms: []*cityops.Alarm{alarmSXD}},
			{name: "HEPCO's API key", auth: key,
				in: []*cityops.Report{rs.hepcoP10, rs.sxdP08}, personal: []*cityops.Report{rs.hepcoP10},
				acts: []*cityops.Report{rs.hepcoP10, rs.sxdP08}, alarms: []*cityops.Alarm{alarmHEPCO}},
			{name: "steering board", auth: ts.signIn(cityops.RoleSteering, "", ""),
				in: all, alarms: []*cityops.Alarm{alarmHEPCO, alarmSXD}},
		}
		get := func(path, auth string) (*http.Response, string) {
			t.Helper()
			return ts.send(ts.newRequest("GET", path, nil), auth)
		}
		for _, v := range viewers {
			t.Run(strings.ReplaceAll(v.name, " ", "_"), func(t *testing.T) {
				_, list := get("/api/v1/reports?queued=true&limit=1000", v.auth)
				_, inbox := get("/staff/reports?status=all&queued=on", v.auth)
				for _, r := range all {
					in, personal, acts := slices.Contains(v.in, r), slices.Contains(v.personal, r), slices.Contains(v.acts, r)
					secret := []string{r.ReporterPhone, r.ReporterName, internal(r), "SUPPORT-TASK-SECRET"}
					if !in {
						secret = append(secret, r.Description)
					}
					// The case page.
					res, body := get("/staff/reports/"+r.Tracking, v.auth)
					switch {
					case in && (res.StatusCode != 200 || !strings.Contains(body, internal(r))):
						t.Errorf("case page of %s (in scope) = %d, want 200 with the internal note", r.Tracking, res.StatusCode)
					case !in && res.StatusCode != 404:
						t.Errorf("case page of %s (out of scope) = %d, want 404", r.Tracking, res.StatusCode)
					case !in && containsAny(body, secret...) != "":
						t.Errorf("404 case page of %s shows %q", r.Tracking, containsAny(body, secret...))
					}
					if in && personal != strings.Contains(body, r.ReporterPhone) {
						t.Errorf("case page of %s shows the reporter's phone: %v, want %v", r.Tracking, !personal, personal)
					}
					// The JSON view: staff in scope see the timeline with
					// internal notes; out of scope, what the public sees.
					res, body = get("/api/v1/reports/"+r.Tracking, v.auth)
					switch {
					case res.StatusCode != 200:
						t.Errorf("report view of %s = %d, want 200", r.Tracking, res.StatusCode)
					case in && !strings.Contains(body, internal(r)):
						t.Errorf("report view of %s (in scope) lacks the internal note: %s", r.Tracking, brief(body))
					case !in && containsAny(body, r.ReporterPhone, r.ReporterName, internal(r), "SUPPORT-TASK-SECRET", `"actions"`) != "":
						t.Errorf("report view of %s (out of scope) shows %q, which the public does not see", r.Tracking,
							containsAny(body, r.ReporterPhone, r.ReporterName, internal(r), "SUPPORT-TASK-SECRET", `"actions"`))
					case personal != strings.Contains(body, r.ReporterPhone):
						t.Errorf("report view of %s shows the reporter's phone: %v, want %v", r.Tracking, !personal, personal)
					}
					// Acting: a comment.
					res, body = act(v.auth, r, `{"action":"comment","note":"scope check"}`)
					switch {
					case acts && res.StatusCode != 200:
						t.Errorf("comment on %s (theirs) = %d %s, want 200", r.Tracking, res.StatusCode, brief(body))
					case in && !acts && res.StatusCode != 403:
						t.Errorf("comment on %s (in scope, no party) = %d %s, want 403", r.Tracking, res.StatusCode, brief(body))
					case !in && res.StatusCode != 404:
						t.Errorf("comment on %s (out of scope) = %d %s, want 404", r.Tracking, res.StatusCode, brief(body))
					}
					if !in && containsAny(body, secret...) != "" {
						t.Errorf("comment on %s (out of scope) answers %q", r.Tracking, containsAny(body, secret...))
					}
					// The form on the case page.
					if !in {
						res, body = ts.send(ts.newRequest("POST", "/staff/reports/"+r.Tracking+"/act",
							strings.NewReader("action=comment&note=scope+check"), "Content-Type", "application/x-www-form-urlencoded"), v.auth)
						if res.StatusCode != 404 || containsAny(body, secret...) != "" {
							t.Errorf("case form on %s (out of scope) = %d, want 404 showing nothing", r.Tracking, res.StatusCode)
						}
					}
					// The lists.
					if in != strings.Contains(list, r.Tracking) {
						t.Errorf("report list has %s: %v, want %v", r.Tracking, !in, in)
					}
					if in != strings.Contains(inbox, r.Tracking) {
						t.Errorf("inbox page has %s: %v, want %v", r.Tracking, !in, in)
					}
				}
				_, alarms := get("/api/v1/alarms", v.auth)
				for _, l := range []*cityops.Alarm{alarmHEPCO, alarmSXD} {
					in := slices.Contains(v.alarms, l)
					if in != strings.Contains(alarms, "ALARM-"+l.Rule) {
						t.Errorf("alarm list has %s: %v, want %v", l.Rule, !in, in)
					}
					res, _ := get(fmt.Sprintf("/api/v1/alarms/%d", l.ID), v.auth)
					if want := map[bool]int{true: 200, false: 404}[in]; res.StatusCode != want {
						t.Errorf("alarm %s = %d, want %d", l.Rule, res.StatusCode, want)
					}
				}
			})
		}
		// Out-of-scope attempts changed nothing: only the viewers' own
		// comments are on the timelines.
		for _, r := range all {
			events, err := db.ReportEvents(sysCtx(), r.Tracking)
			if err != nil {
				t.Fatal(err)
			}
			comments := 0
			for _, e := range events {
				if e.Action == cityops.ActComment && e.Note == "scope check" {
					comments++
				}
			}
			want := 0
			for _, v := range viewers {
				if slices.Contains(v.acts, r) {
					want++
				}
			}
			if comments != want {
				t.Errorf("%s has %d scope-check comments, want %d", r.Tracking, comments, want)
			}
		}

		// The public: no reporter, no internal note, no support task, on
		// every public view of a report.
		for _, r := range all {
			for _, path := range []string{"/api/v1/reports/" + r.Tracking, "/r/" + r.Tracking,
				"/open311/v2/requests/" + r.Tracking + ".json", "/reports?status=all"} {
				res, body := get(path, "")
				if res.StatusCode != 200 || !strings.Contains(body, r.Tracking) {
					t.Errorf("public %s = %d, want 200 naming %s", path, res.StatusCode, r.Tracking)
				}
				if s := containsAny(body, r.ReporterPhone, r.ReporterName, internal(r), "SUPPORT-TASK-SECRET", "@hue.gov.vn"); s != "" {
					t.Errorf("public %s shows %q", path, s)
				}
			}
		}
		q := url.Values{"category": {"environment.waste"}, "lat": {"16.474"}, "lon": {"107.578"}}
		if _, body := get("/api/v1/reports/nearby?"+q.Encode(), ""); !strings.Contains(body, rs.hepcoP10.Tracking) ||
			containsAny(body, rs.hepcoP10.ReporterPhone, rs.hepcoP10.ReporterName, internal(rs.hepcoP10)) != "" {
			t.Errorf("nearby reports: %s", brief(body))
		}
	})
}

// brief shortens an answer's body for a failure message.
func brief(body string) string {
	body = strings.Join(strings.Fields(body), " ")
	if len(body) > 240 {
		body = body[:240] + "…"
	}
	return body
}

// containsAny returns the first of subs that s contains, or "".
func containsAny(s string, subs ...string) string {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}
