package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestAuditSource checks that the audit trail records the connection's
// address, not the one a client claims in X-Forwarded-For.
func TestAuditSource(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		res, body := ts.do("POST", "/api/v1/apikeys", ts.admin, `{"name":"SIEM","scopes":["audit:read"]}`, "X-Forwarded-For", "10.9.9.9")
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
			t.Fatalf("create API key = %d %s", res.StatusCode, body)
		}
		action := "apikey.create"
		list, n, err := db.FindAudit(sysCtx(), cityops.AuditFilter{Action: &action})
		if err != nil || n != 1 {
			t.Fatalf("FindAudit = %d, %v", n, err)
		}
		if got := list[0].Source; got != "127.0.0.1" {
			t.Errorf("source = %q, want 127.0.0.1", got)
		}
	})
}

// entries returns the audit entries of an action, oldest first.
func entries(t *testing.T, db *storage.DB, action string) []*cityops.AuditEntry {
	t.Helper()
	list, _, err := db.FindAudit(sysCtx(), cityops.AuditFilter{Action: &action})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestAuditExport: GET /api/v1/audit streams the selected entries as JSON
// lines, page after page, for administrators and audit:read keys only,
// and leaves an "audit.export" entry naming the selection.
func TestAuditExport(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		// More than a page of the export (1000 entries), written straight
		// into the table: the export does not check the chain.
		at := time.Date(2025, 3, 1, 1, 0, 0, 0, time.UTC)
		var q strings.Builder
		var args []any
		q.WriteString(`insert into audit_log (at, actor, source, action, object, outcome, detail, prev_hash, hash) values `)
		for i := range 1100 {
			if i > 0 {
				q.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&q, "($%d, $%d, '192.0.2.1', $%d, $%d, $%d, '', 'x', 'y')", n+1, n+2, n+3, n+4, n+5)
			outcome, action := cityops.AuditOK, "gateway.read"
			if i%100 == 0 {
				outcome, action = cityops.AuditDenied, "gateway.write"
			}
			args = append(args, at.Add(time.Duration(i)*time.Second), "apikey:gw", action, fmt.Sprintf("thing:%d", i), outcome)
		}
		if _, err := db.SQL().Exec(q.String(), args...); err != nil {
			t.Fatal(err)
		}

		res, body := ts.do("GET", "/api/v1/audit?actor=apikey:gw&action=gateway.", ts.admin, "")
		lines := strings.Split(strings.TrimSpace(body), "\n")
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) != 1100 {
			t.Fatalf("export = %d %q, %d lines", res.StatusCode, res.Header.Get("Content-Type"), len(lines))
		}
		var first, last cityops.AuditEntry
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Object != "thing:0" || !first.At.Equal(at) {
			t.Errorf("first line = %+v, %v", first, err)
		}
		if err := json.Unmarshal([]byte(lines[1099]), &last); err != nil || last.Object != "thing:1099" {
			t.Errorf("last line = %+v, %v", last, err)
		}

		// The filters the command line takes; dates as it reads them.
		for _, c := range []struct {
			query string
			want  int
		}{
			{"outcome=denied&since=2025-03-01T01:05:00Z", 8}, // thing:300, 400, … 1000
			{"object=thing:7&until=2025-03-02", 1},
			{"q=THING:10&outcome=denied", 2}, // thing:100 and thing:1000
			{"since=2025-03-02", 0},
		} {
			res, body := ts.do("GET", "/api/v1/audit?actor=apikey:gw&"+c.query, ts.admin, "")
			n := 0
			if b := strings.TrimSpace(body); b != "" {
				n = len(strings.Split(b, "\n"))
			}
			if res.StatusCode != http.StatusOK || n != c.want {
				t.Errorf("export ?%s = %d, %d lines; want %d", c.query, res.StatusCode, n, c.want)
			}
		}
		if res, _ := ts.do("GET", "/api/v1/audit?outcome=maybe", ts.admin, ""); res.StatusCode != http.StatusBadRequest {
			t.Errorf("outcome=maybe: %d", res.StatusCode)
		}
		if res, _ := ts.do("GET", "/api/v1/audit?since=yesterday", ts.admin, ""); res.StatusCode != http.StatusBadRequest {
			t.Errorf("since=yesterday: %d", res.StatusCode)
		}

		// Recorded with the selection, the administrator and the address.
		exports := entries(t, db, "audit.export")
		if len(exports) != 5 || exports[0].Detail != `actor="apikey:gw" action="gateway."` || exports[0].Source != "127.0.0.1" ||
			!strings.HasSuffix(exports[0].Actor, "@hue.gov.vn") {
			t.Errorf("export entries: %d, first %+v", len(exports), exports[0])
		}

		// Not for operators; for a SIEM's audit:read key.
		op := ts.signIn(cityops.RoleOperator, "", "")
		if res, _ := ts.do("GET", "/api/v1/audit", op, ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("operator's export: %d, want 403", res.StatusCode)
		}
		secret, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "SIEM", Scopes: []string{"audit:read"}})
		if err != nil {
			t.Fatal(err)
		}
		if res, body := ts.do("GET", "/api/v1/audit?action=audit.export", secret, ""); res.StatusCode != http.StatusOK || strings.Count(body, "\n") != 5 {
			t.Errorf("SIEM key's export: %d\n%s", res.StatusCode, body)
		}
	})
}

// TestAuditPage: administrators search the trail, page through it newest
// first, download the selection and verify the chain; operators may not.
func TestAuditPage(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		now := time.Date(2025, 3, 1, 17, 30, 5, 0, time.UTC) // 2 March, 00:30:05 in Huế
		db.Now = func() time.Time { return now }
		for _, e := range []*cityops.AuditEntry{
			{Actor: "anonymous", Source: "198.51.100.9", Action: "auth.login_failed", Object: "user:minh@hue.gov.vn", Outcome: cityops.AuditFailed, Detail: "wrong password"},
			{Actor: "lan@hue.gov.vn", Source: "203.0.113.7", Action: "report.assign", Object: "report:HUE-2025-0001", Outcome: cityops.AuditOK, Detail: "agency=HEPCO"},
		} {
			if err := db.Record(sysCtx(), e); err != nil {
				t.Fatal(err)
			}
		}
		res, body := ts.do("GET", "/staff/audit?lang=en&q=hepco&outcome=ok&from=2025-03-02&to=2025-03-02", ts.admin, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("audit page = %d\n%s", res.StatusCode, body)
		}
		for _, want := range []string{
			"<td>02/03/2025 00:30:05</td>", "lan@hue.gov.vn", "203.0.113.7", "report.assign", "report:HUE-2025-0001", "agency=HEPCO",
			`href="/api/v1/audit?outcome=ok&amp;q=hepco&amp;since=2025-03-02T00%3A00%3A00%2B07%3A00&amp;until=2025-03-03T00%3A00%3A00%2B07%3A00"`,
			`href="/staff/audit?actor=lan%40hue.gov.vn"`, "Entries 1–1 of 1",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("audit page lacks %q", want)
			}
		}
		if strings.Contains(body, "198.51.100.9") {
			t.Error("the failed sign-in is shown though the selection leaves it out")
		}
		// Another day shows nothing.
		if _, body := ts.do("GET", "/staff/audit?from=2025-03-01&to=2025-03-01", ts.admin, ""); !strings.Contains(body, `<td colspan="8" class="muted">`) {
			t.Error("1 March (Huế time) should be empty")
		}
		if res, _ := ts.do("GET", "/staff/audit?from=yesterday", ts.admin, ""); res.StatusCode != http.StatusBadRequest {
			t.Errorf("from=yesterday: %d", res.StatusCode)
		}

		// The chain verifies; in Vietnamese by default.
		_, body = ts.do("GET", "/staff/audit?verify=1", ts.admin, "")
		if !strings.Contains(body, "Chuỗi nguyên vẹn: đã kiểm tra") || !strings.Contains(body, "Chưa kiểm tra HMAC") {
			t.Errorf("verification box:\n%s", body)
		}
		if _, err := db.SQL().Exec(`update audit_log set detail = 'agency=SXD' where action = 'report.assign'`); err != nil {
			t.Fatal(err)
		}
		_, body = ts.do("GET", "/staff/audit?verify=1&lang=en", ts.admin, "")
		if !regexp.MustCompile(`The chain is broken at entry \d+: its content does not match its hash \(it was changed\) \(checked in [0-9.]+[µm]?s\)`).MatchString(body) {
			t.Errorf("verification of a changed entry:\n%s", body)
		}

		// Linked for administrators only; refused to operators.
		if _, body := ts.do("GET", "/staff", ts.admin, ""); !strings.Contains(body, `href="/staff/audit"`) {
			t.Error("no link to the audit trail for an administrator")
		}
		op := ts.signIn(cityops.RoleOperator, "", "")
		if _, body := ts.do("GET", "/staff", op, ""); strings.Contains(body, `href="/staff/audit"`) {
			t.Error("a link to the audit trail for an operator")
		}
		if res, _ := ts.do("GET", "/staff/audit", op, ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("operator's audit page = %d, want 403", res.StatusCode)
		}
	})
}

// TestAuditCoverage: exports, configuration changes and API-key use leave
// entries; a gateway's many requests leave one until the hour is out.
func TestAuditCoverage(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		ts.seed()
		op := ts.signIn(cityops.RoleOperator, "", "")
		for _, path := range []string{"/ioc/kpi.csv?by=sector&days=7", "/ioc/kpi.xlsx?days=7", "/ioc/rules.csv"} {
			if res, body := ts.do("GET", path, op, ""); res.StatusCode != http.StatusOK {
				t.Fatalf("%s = %d\n%s", path, res.StatusCode, body)
			}
		}
		kpi := entries(t, db, "kpi.export")
		if len(kpi) != 2 || kpi[0].Object != "kpi:sector.csv" || kpi[1].Object != "kpi.xlsx" || !strings.Contains(kpi[0].Detail, "query=by=sector&days=7") {
			t.Errorf("KPI export entries: %+v", kpi)
		}
		if rules := entries(t, db, "rules.export"); len(rules) != 1 || rules[0].Object != "rules.csv" || rules[0].Source != "127.0.0.1" {
			t.Errorf("rules export entries: %+v", rules)
		}

		// A configuration change through the API.
		if res, body := ts.do("POST", "/api/v1/sectors", ts.admin, `{"code":"water","name":"Cấp nước"}`); res.StatusCode != http.StatusCreated {
			t.Fatalf("create sector = %d %s", res.StatusCode, body)
		}
		if got := entries(t, db, "sector.create"); len(got) != 3 || got[2].Object != "sector:water" || got[2].Source != "127.0.0.1" {
			t.Errorf("sector.create entries: %+v", got)
		}

		// A gateway's key: one entry for many requests, the rest counted
		// for the next, written at shutdown at the latest.
		secret, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gateway", Scopes: []string{"data:read"}})
		if err != nil {
			t.Fatal(err)
		}
		for range 25 {
			if res, _ := ts.do("GET", "/api/v1/devices", secret, ""); res.StatusCode != http.StatusOK {
				t.Fatalf("device list with the key = %d", res.StatusCode)
			}
		}
		use := entries(t, db, "apikey.use")
		if len(use) != 1 || use[0].Detail != "requests=1" || use[0].Source != "127.0.0.1" || !strings.HasPrefix(use[0].Actor, "apikey:") {
			t.Fatalf("apikey.use after 25 requests: %+v", use)
		}
		db.FlushAPIKeyUse(sysCtx())
		if use := entries(t, db, "apikey.use"); len(use) != 2 || !strings.HasPrefix(use[1].Detail, "requests=24 since=") {
			t.Errorf("apikey.use after the flush: %+v", use)
		}
	})
}
