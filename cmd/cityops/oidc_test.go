package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeOIDCFlags checks single sign-on's flags: all three or none, an
// https issuer, the secret from a file; and that serve starts while the
// provider cannot be reached.
func TestServeOIDCFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"issuer alone", []string{"-oidc-issuer", "https://sso.hue.gov.vn"}, "-oidc-issuer, -oidc-client-id and -oidc-client-secret: give all three or none"},
		{"no issuer", []string{"-oidc-client-id", "cityops", "-oidc-client-secret", "x"}, "give all three or none"},
		{"plain http", []string{"-oidc-issuer", "http://sso.hue.gov.vn", "-oidc-client-id", "cityops", "-oidc-client-secret", "x"}, "must be https://"},
		{"name alone", []string{"-oidc-name", "Cổng dịch vụ công Huế"}, "-oidc-name: only with -oidc-issuer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, _, errs := run(t, "", append([]string{"serve", "-data", dir}, tt.args...)...)
			if st != exitUsage || !strings.Contains(errs, tt.want) {
				t.Errorf("status %d, %q; want %d with %q", st, errs, exitUsage, tt.want)
			}
		})
	}

	secret := filepath.Join(dir, "oidc-secret")
	if err := os.WriteFile(secret, []byte("bí mật\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CITYOPS_OIDC_CLIENT_SECRET_FILE", secret)
	// Nothing listens on port 1: the provider is down.
	base, _ := serve(t, "-data", dir, "-oidc-issuer", "https://127.0.0.1:1", "-oidc-client-id", "cityops", "-oidc-name", "Cổng dịch vụ công Huế")
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, page := get("/login?lang=en"); st != 200 || !strings.Contains(page, "Sign in with Cổng dịch vụ công Huế") {
		t.Errorf("GET /login: %d\n%s", st, page)
	}
	if st, page := get("/login/oidc?lang=en"); st != 503 || !strings.Contains(page, "cannot be reached") {
		t.Errorf("GET /login/oidc with the provider down: %d\n%s", st, page)
	}
}
