package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func TestAudit(t *testing.T) {
	for _, dialect := range storagetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			dsn := storagetest.DSN(t, dialect)
			db := []string{"-data", dir, "-db", dsn}
			cmd := func(stdin string, args ...string) (int, string, string) {
				t.Helper()
				return run(t, stdin, append(args, db...)...)
			}
			if st, out, errs := cmd("a long enough password\n", "user", "add", "-email", "lan@hue.gov.vn", "-role", "admin"); st != 0 {
				t.Fatalf("user add = %d %q %q", st, out, errs)
			}
			if st, out, errs := cmd("", "apikey", "create", "-name", "SIEM", "-scopes", "audit:read"); st != 0 {
				t.Fatalf("apikey create = %d %q %q", st, out, errs)
			}
			if st, out, errs := cmd("", "audit", "verify"); st != 0 || !strings.Contains(out, "checked 2 entries and 0 seals") {
				t.Fatalf("audit verify = %d %q %q", st, out, errs)
			}
			if st, _, errs := cmd("", "audit", "seal"); st != exitUsage || !strings.Contains(errs, "audit key") {
				t.Errorf("audit seal without a key = %d %q", st, errs)
			}
			keyFile := filepath.Join(dir, "audit.key")
			os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
			if st, out, errs := cmd("", "audit", "seal", "-audit-key-file", keyFile); st != 0 || !strings.Contains(out, "up to entry 2") {
				t.Fatalf("audit seal = %d %q %q", st, out, errs)
			}
			t.Setenv("CITYOPS_AUDIT_KEY_FILE", keyFile)
			if st, out, errs := cmd("", "audit", "verify"); st != 0 || !strings.Contains(out, "1 seals (HMACs checked)") {
				t.Fatalf("audit verify with key = %d %q %q", st, out, errs)
			}
			st, out, errs := cmd("", "audit", "export", "-since", "2000-01-01")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if st != 0 || len(lines) != 2 {
				t.Fatalf("audit export = %d %q %q", st, out, errs)
			}
			var e cityops.AuditEntry
			if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Action != "user.create" || e.Hash == "" {
				t.Errorf("first exported entry = %+v, %v", e, err)
			}
			if st, out, _ := cmd("", "audit", "export", "-until", "2000-01-01"); st != 0 || out != "" {
				t.Errorf("audit export -until 2000 = %d %q", st, out)
			}
			// Exports are recorded, and take the API's filters.
			st, out, errs = cmd("", "audit", "export", "-action", "audit.", "-actor", "system", "-outcome", "ok", "-text", "UNTIL=2000")
			if lines := strings.Split(strings.TrimSpace(out), "\n"); st != 0 || len(lines) != 1 || !strings.Contains(lines[0], `"action":"audit.export"`) {
				t.Errorf("audit export of the exports = %d %q %q", st, out, errs)
			}
			if st, _, errs := cmd("", "audit", "export", "-outcome", "maybe"); st != exitUsage || !strings.Contains(errs, "-outcome") {
				t.Errorf("audit export -outcome maybe = %d %q", st, errs)
			}

			sdb, err := storage.Open(context.Background(), dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = sdb.SQL().Exec(`update audit_log set detail = 'role=citizen' where id = 1`)
			sdb.Close()
			if err != nil {
				t.Fatal(err)
			}
			if st, _, errs := cmd("", "audit", "verify"); st != exitError || !strings.Contains(errs, "broken at entry 1") {
				t.Errorf("audit verify after tampering = %d %q", st, errs)
			}
		})
	}
}

func TestAuditRetentionFlag(t *testing.T) {
	if st, _, errs := run(t, "", "serve", "-audit-retention", "1h", "-data", t.TempDir()); st != exitUsage || !strings.Contains(errs, "-audit-retention 1h0m0s: 0 (keep for ever) or at least 24h") {
		t.Errorf("serve -audit-retention 1h = %d %q", st, errs)
	}
}
