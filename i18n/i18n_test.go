package i18n

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	vi := c.Keys("vi")
	if len(vi) < 20 {
		t.Fatalf("vi has %d keys; the catalogue did not load", len(vi))
	}
	for _, l := range c.Languages() {
		got := map[string]bool{}
		for _, k := range c.Keys(l.Tag) {
			got[k] = true
		}
		for _, k := range vi {
			if !got[k] {
				t.Errorf("%s lacks key %q", l.Tag, k)
			}
			delete(got, k)
		}
		for k := range got {
			t.Errorf("%s has key %q that vi lacks", l.Tag, k)
		}
	}
}

func TestMatchAndFallback(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fr.json"), []byte(`{"_name":"Français","login.title":"Connexion"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ choice, accept, want string }{
		{"", "", "vi"},
		{"en", "vi", "en"},
		{"xx", "en-GB,en;q=0.9", "en"},
		{"", "fr-CA", "fr"},
		{"", "de", "vi"},
		{"", ";;;garbage", "vi"},
	} {
		if got := c.Match(tt.choice, tt.accept); got != tt.want {
			t.Errorf("Match(%q, %q) = %q, want %q", tt.choice, tt.accept, got, tt.want)
		}
	}
	if got := c.T("fr", "login.title"); got != "Connexion" {
		t.Errorf("fr login.title = %q", got)
	}
	// A key the third language lacks falls back to Vietnamese.
	if got, want := c.T("fr", "nav.areas"), c.T("vi", "nav.areas"); got != want {
		t.Errorf("fr fallback = %q, want %q", got, want)
	}
	if got := c.T("en", "no.such.key"); got != "no.such.key" {
		t.Errorf("missing key = %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	for name, body := range map[string]string{
		"de.json":        `{"login.title":"Anmelden"}`,
		"es.json":        `{not json`,
		"notalang!.json": `{"_name":"x"}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil {
			t.Errorf("Load with %s = nil error", name)
		}
	}
}
