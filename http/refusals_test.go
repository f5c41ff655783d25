package http_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestRefusalsAudited: refused requests leave an entry in the audit trail,
// one per source, actor, status and path in ten minutes however often
// they are repeated.
func TestRefusalsAudited(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		ts.seed()
		officer := ts.signIn(cityops.RoleWardOfficer, "", "P10")
		for range 3 {
			if res, _ := ts.do("GET", "/api/v1/users", "", ""); res.StatusCode != 401 {
				t.Fatalf("anonymous: %d", res.StatusCode)
			}
		}
		if res, _ := ts.do("POST", "/api/v1/areas", officer, `{}`); res.StatusCode != 403 {
			t.Fatalf("officer: %d", res.StatusCode)
		}
		list := entries(t, db, "http.refused")
		if len(list) != 2 {
			t.Fatalf("%d refusal entries, want 2 (the repeats coalesced): %+v", len(list), list)
		}
		var anon, denied *cityops.AuditEntry
		for _, e := range list {
			switch e.Object {
			case "GET /api/v1/users":
				anon = e
			case "POST /api/v1/areas":
				denied = e
			}
		}
		if anon == nil || anon.Actor != "anonymous" || anon.Source != "127.0.0.1" || !strings.HasPrefix(anon.Detail, "401") {
			t.Fatalf("anonymous refusal: %+v", anon)
		}
		if denied == nil || denied.Actor == "anonymous" || denied.Outcome != cityops.AuditDenied || !strings.HasPrefix(denied.Detail, "403") {
			t.Fatalf("officer refusal: %+v", denied)
		}
	})
}

// TestMetricsOffLoopback: /metrics answers the loopback (a Prometheus on
// the same machine) without credentials, and another address only with a
// metrics:read key.
func TestMetricsOffLoopback(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "prometheus", Scopes: []string{"metrics:read"}})
		if err != nil {
			t.Fatal(err)
		}
		other, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gateway", Scopes: []string{"data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		h := ts.Handler()
		ts.do("GET", "/healthz", "", "") // something to count
		for _, c := range []struct {
			remote, key string
			want        int
		}{{"127.0.0.1:4000", "", 200}, {"[::1]:4000", "", 200}, {"203.0.113.5:4000", "", 401},
			{"203.0.113.5:4000", other, 403}, {"203.0.113.5:4000", key, 200}} {
			req := httptest.NewRequest("GET", "/metrics", nil)
			req.RemoteAddr = c.remote
			if c.key != "" {
				req.Header.Set("Authorization", "Bearer "+c.key)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Code
			if got == 303 && strings.HasPrefix(rec.Header().Get("Location"), "/login") {
				got = 401 // a browser is sent to sign in
			}
			if got != c.want || (c.want == 200 && !strings.Contains(rec.Body.String(), "cityops_http_requests_total")) {
				t.Errorf("from %s with key %v: %d, want %d", c.remote, c.key != "", rec.Code, c.want)
			}
		}
	})
}
