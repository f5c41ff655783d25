package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/keyring"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestKeys: keys new writes a private keyring once; status counts values
// in clear and per key; seal seals what is in clear; rotate adds a key and
// seals everything with it, after which status shows the old key unused;
// personal-data export finds a person by phone.
func TestKeys(t *testing.T) {
	for _, dialect := range storagetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			dsn := storagetest.DSN(t, dialect)
			db := []string{"-data", dir, "-db", dsn}
			cmd := func(args ...string) (int, string, string) {
				t.Helper()
				return run(t, "", append(args, db...)...)
			}
			file := filepath.Join(dir, "data.keys")
			if st, out, errs := cmd("keys", "new", "-file", file); st != 0 || !strings.Contains(out, "wrote "+file) {
				t.Fatalf("keys new = %d %q %q", st, out, errs)
			}
			if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("keyring file: %v, %v; want mode 0600", fi, err)
			}
			first, err := keyring.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(file)
			if st, _, errs := cmd("keys", "new", "-file", file); st != exitUsage || !strings.Contains(errs, "never replaced") {
				t.Errorf("keys new over a file = %d %q", st, errs)
			}
			if after, _ := os.ReadFile(file); string(after) != string(before) {
				t.Fatal("keys new changed an existing keyring")
			}

			// Two reports stored in clear, before the keyring.
			sdb, err := storage.Open(context.Background(), dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := sdb.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			sys := system(context.Background())
			if _, err := demo.Load(sys, demo.Services{Areas: sdb, Sectors: sdb, Agencies: sdb, Categories: sdb, Users: sdb, Routing: sdb}); err != nil {
				t.Fatal(err)
			}
			for _, phone := range []string{"0905 123 456", "0911 000 111"} {
				if _, _, err := sdb.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác",
					Address: "1 Lê Lợi", Name: "Dân", Phone: phone, Consent: true}); err != nil {
					t.Fatal(err)
				}
			}
			sdb.Close()

			if st, out, errs := cmd("keys", "status", "-file", file); st != 0 || !strings.Contains(out, "4        in clear") ||
				!strings.Contains(out, "0        sealed with "+first.Current()+" (current)") {
				t.Fatalf("keys status = %d %q %q", st, out, errs)
			}
			t.Setenv("CITYOPS_DATA_KEY_FILE", file)
			if st, out, errs := cmd("keys", "seal"); st != 0 || !strings.Contains(out, "done: 2 reports sealed with "+first.Current()) {
				t.Fatalf("keys seal = %d %q %q", st, out, errs)
			}
			if st, out, errs := cmd("keys", "rotate", "-batch", "1"); st != 0 || strings.Count(out, "sealed 1 reports with") != 2 ||
				!strings.Contains(out, "done: 2 reports sealed with") {
				t.Fatalf("keys rotate = %d %q %q", st, out, errs)
			}
			k, err := keyring.Load(file)
			if err != nil || len(k.IDs()) != 2 || k.IDs()[0] != first.Current() {
				t.Fatalf("keyring after rotate: %v, %v", k.IDs(), err)
			}
			st, out, errs := cmd("keys", "status")
			if st != 0 || !strings.Contains(out, "0        in clear") || !strings.Contains(out, "0        sealed with "+first.Current()+" (no longer used") ||
				!strings.Contains(out, "4        sealed with "+k.Current()+" (current)") {
				t.Fatalf("keys status after rotate = %d %q %q", st, out, errs)
			}

			// Only adding a key leaves the values to serve, or to keys seal.
			if st, out, errs := cmd("keys", "rotate", "-seal=false"); st != 0 || !strings.Contains(out, "restart every serve") {
				t.Fatalf("keys rotate -seal=false = %d %q %q", st, out, errs)
			}
			k3, _ := keyring.Load(file)
			if st, out, _ := cmd("keys", "status"); st != 0 || !strings.Contains(out, "4        sealed with "+k.Current()+"\n") ||
				!strings.Contains(out, "0        sealed with "+k3.Current()+" (current)") {
				t.Fatalf("keys status after adding a key = %d %q", st, out)
			}
			if st, out, errs := cmd("keys", "seal"); st != 0 || !strings.Contains(out, "done: 2 reports sealed with "+k3.Current()) {
				t.Fatalf("keys seal after adding a key = %d %q %q", st, out, errs)
			}

			st, out, errs = cmd("personal-data", "export", "-phone", "+84 905 123 456")
			var got cityops.PersonalData
			if err := json.Unmarshal([]byte(out), &got); st != 0 || err != nil || len(got.Reports) != 1 || got.Reports[0].ReporterPhone != "0905 123 456" {
				t.Fatalf("personal-data export = %d %q %q", st, out, errs)
			}

			sdb, err = storage.Open(context.Background(), dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer sdb.Close()
			for action, n := range map[string]int{"keys.seal": 2, "keys.rotate": 2, "personal.export": 1} {
				list, _, err := sdb.FindAudit(sys, cityops.AuditFilter{Action: &action})
				if err != nil || len(list) != n || list[0].Outcome != cityops.AuditOK {
					t.Errorf("audit %s = %+v, %v", action, list, err)
					continue
				}
				if strings.Contains(list[0].Detail+list[0].Object, "905") {
					t.Errorf("audit %s names the person: %+v", action, list[0])
				}
			}
		})
	}
}

func TestKeysUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no verb", []string{"keys"}, "give one of: new, rotate, seal, status"},
		{"new without a file", []string{"keys", "new"}, "give -file FILE"},
		{"seal without a keyring", []string{"keys", "seal", "-data", dir}, "give -file FILE"},
		{"rotate a missing file", []string{"keys", "rotate", "-file", filepath.Join(dir, "nope"), "-data", dir}, "no such file"},
		{"export without a person", []string{"personal-data", "export", "-data", dir}, "give an e-mail address or a phone number"},
		{"anonymise before reopening ends", []string{"serve", "-anonymise-after", "3d"}, "-anonymise-after 3d: 0 or at least -reopen-days"},
		{"anonymise bad period", []string{"serve", "-anonymise-after", "soon"}, "want a number of days"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, out, errs := run(t, "", tt.args...)
			if st != exitUsage || !strings.Contains(out+errs, tt.want) {
				t.Errorf("status %d, output %q %q; want %d with %q", st, out, errs, exitUsage, tt.want)
			}
		})
	}
}

// TestServeSealsPersonalData: serve with a keyring seals, in the
// background, what was stored in clear before it.
func TestServeSealsPersonalData(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.keys")
	if st, _, errs := run(t, "", "keys", "new", "-file", file); st != 0 {
		t.Fatal(errs)
	}
	sdb, err := storage.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if err := sdb.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Load(system(context.Background()), demo.Services{Areas: sdb, Sectors: sdb, Agencies: sdb, Categories: sdb, Users: sdb, Routing: sdb}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sdb.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác",
		Address: "1 Lê Lợi", Email: "dan@example.vn", Consent: true}); err != nil {
		t.Fatal(err)
	}
	serve(t, "-data", dir, "-data-key-file", file, "-anonymise-after", "180d")
	for i := 0; ; i++ {
		st, err := sdb.PersonalDataStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st[""] == 0 && len(st) == 1 {
			break
		}
		if i == 100 {
			t.Fatalf("status after serve started = %v; want everything sealed", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
