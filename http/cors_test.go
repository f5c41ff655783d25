package http_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func TestParseOrigins(t *testing.T) {
	got, err := cityhttp.ParseOrigins(" https://App.Example.vn , http://127.0.0.1:5173/,")
	if err != nil || strings.Join(got, " ") != "https://app.example.vn http://127.0.0.1:5173" {
		t.Errorf("ParseOrigins = %q, %v", got, err)
	}
	for _, bad := range []string{"*", "https://*.example.vn", "app.example.vn", "ftp://app.example.vn", "https://app.example.vn/path", "https://u@app.example.vn"} {
		if _, err := cityhttp.ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) succeeded", bad)
		}
	}
}

// TestCORS checks that listed origins may call the API with an API key,
// and nothing else: no other origin, no HTML page, no cookie.
func TestCORS(t *testing.T) {
	const app, evil = "https://app.example.vn", "https://evil.example"
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newServerWith(t, db, func(c *cityhttp.Config) { c.CORSOrigins = []string{app} })
		ts.admin = ts.signIn(cityops.RoleAdmin, "", "")
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "web app", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		ent := func(n string) string {
			return `{"id":"urn:ngsi-ld:AirQualityObserved:cors-` + n + `","type":"AirQualityObserved","pm25":{"type":"Property","value":7}}`
		}
		cross := func(origin string) []string {
			return []string{"Origin", origin, "Sec-Fetch-Site", "cross-site"}
		}
		for _, tt := range []struct {
			name         string
			method, path string
			auth, body   string
			hdr          []string
			status       int
			allow        string // want Access-Control-Allow-Origin
		}{
			{"preflight", "OPTIONS", "/ngsi-ld/v1/entities", "", "",
				[]string{"Origin", app, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type, link"}, 204, app},
			{"preflight other origin", "OPTIONS", "/ngsi-ld/v1/entities", "", "",
				[]string{"Origin", evil, "Access-Control-Request-Method", "POST"}, 0, ""},
			{"preflight HTML page", "OPTIONS", "/report", "", "",
				[]string{"Origin", app, "Access-Control-Request-Method", "POST"}, 0, ""},
			{"read", "GET", "/api/v1/areas", "", "", []string{"Origin", app}, 200, app},
			{"read other origin", "GET", "/api/v1/areas", "", "", []string{"Origin", evil}, 200, ""},
			{"HTML page", "GET", "/reports", "", "", []string{"Origin", app}, 200, ""},
			{"write with key", "POST", "/ngsi-ld/v1/entities", key, ent("1"), cross(app), 201, app},
			{"write with X-API-Key", "POST", "/ngsi-ld/v1/entities", "", ent("2"), append(cross(app), "X-API-Key", key), 201, app},
			{"error answers are readable", "POST", "/ngsi-ld/v1/entities", key, ent("1"), cross(app), 409, app},
			{"write with key, other origin", "POST", "/ngsi-ld/v1/entities", key, ent("3"), cross(evil), 403, ""},
			{"write with key and cookie", "POST", "/ngsi-ld/v1/entities", ts.admin, ent("4"), append(cross(app), "X-API-Key", key), 403, app},
			{"form post with cookie", "POST", "/staff/users", ts.admin, "email=x%40evil.example&role=admin",
				append(cross(app), "Content-Type", "application/x-www-form-urlencoded"), 403, ""},
			{"form post with cookie, other origin", "POST", "/staff/users", ts.admin, "email=x%40evil.example&role=admin",
				append(cross(evil), "Content-Type", "application/x-www-form-urlencoded"), 403, ""},
			{"API write with cookie", "POST", "/api/v1/areas", ts.admin, `{"code":"X1","name":"x","kind":"ward"}`, cross(app), 403, app},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res, body := ts.do(tt.method, tt.path, tt.auth, tt.body, tt.hdr...)
				if tt.status != 0 && res.StatusCode != tt.status {
					t.Errorf("status %d %s; want %d", res.StatusCode, body, tt.status)
				}
				h := res.Header
				if got := h.Get("Access-Control-Allow-Origin"); got != tt.allow {
					t.Errorf("Access-Control-Allow-Origin %q; want %q", got, tt.allow)
				}
				if h.Get("Access-Control-Allow-Credentials") != "" {
					t.Error("Access-Control-Allow-Credentials is set")
				}
				if tt.method == "OPTIONS" && tt.allow != "" {
					if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") ||
						!strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-API-Key") ||
						!strings.Contains(h.Get("Access-Control-Allow-Headers"), "NGSILD-Tenant") || h.Get("Access-Control-Max-Age") == "" {
						t.Errorf("preflight headers %v", h)
					}
				}
				if strings.HasPrefix(tt.path, "/api/") || strings.HasPrefix(tt.path, "/ngsi-ld/") {
					if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
						t.Errorf("Vary %q; want Origin", h.Values("Vary"))
					}
				}
			})
		}
	})
}

// TestCORSOff checks that without -cors-origins no origin gets CORS and
// cross-origin writes are refused even with an API key.
func TestCORSOff(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "web app", Scopes: []string{"data:write"}})
		res, _ := ts.do("OPTIONS", "/ngsi-ld/v1/entities", "", "", "Origin", "https://app.example.vn", "Access-Control-Request-Method", "POST")
		if res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight answered: %v", res.Header)
		}
		res, body := ts.do("POST", "/ngsi-ld/v1/entities", key, `{"id":"urn:ngsi-ld:X:1","type":"X"}`,
			"Origin", "https://app.example.vn", "Sec-Fetch-Site", "cross-site")
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("cross-origin write = %d %s %v", res.StatusCode, body, res.Header)
		}
	})
}
