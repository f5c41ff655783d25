package http_test

import (
	"net/http"
	"testing"

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
