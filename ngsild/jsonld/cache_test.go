package jsonld

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	sdmEnv = "https://smartdatamodels.org/dataModel.Environment/"
	sdmURL = "https://contexts.example.org/sdm/environment.jsonld"
	aqURL  = "https://contexts.example.org/sdm/air-quality.jsonld"
)

// A Smart-Data-Models-like context, preloaded from files as an offline
// server does, named in a Link header, round-trips.
func TestSmartDataModelsContext(t *testing.T) {
	cache := NewCache()
	n, err := cache.AddDir("https://contexts.example.org/", "testdata")
	if err != nil || n != 2 {
		t.Fatalf("AddDir = %d, %v", n, err)
	}
	if got := strings.Join(cache.URLs(), " "); got != aqURL+" "+sdmURL {
		t.Errorf("URLs() = %s", got)
	}
	header := `<` + aqURL + `>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`
	u, ok, err := ParseLink(header)
	if err != nil || !ok || u != aqURL {
		t.Fatalf("ParseLink = %q, %v, %v", u, ok, err)
	}
	viaLink, err := Build(u, cache)
	if err != nil {
		t.Fatal(err)
	}
	// The same context inline in an application/ld+json body.
	inline, err := Build(decode(t, `["`+sdmURL+`", "`+CoreURL+`"]`), cache)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ term, iri string }{
		{"AirQualityObserved", sdmEnv + "AirQualityObserved"},
		{"pm25", sdmEnv + "pm25"},
		{"NO2", sdmEnv + "NO2"},
		{"pm10", sdmEnv + "pm10"},
		{"airQualityIndex", sdmEnv + "airQualityIndex"},
		{"dateObserved", "https://smartdatamodels.org/dateObserved"},
		{"name", "https://schema.org/name"},
		{"sdm-env:o3", sdmEnv + "o3"},
		{"Property", ngsi + "Property"},
		{"location", "location"},
		{"observedAt", "observedAt"},
		{"temperature", dflt + "temperature"},
	}
	for _, c := range []*Context{viaLink, inline} {
		for _, tc := range tests {
			iri := c.ExpandTerm(tc.term)
			if iri != tc.iri {
				t.Errorf("ExpandTerm(%q) = %q, want %q", tc.term, iri, tc.iri)
			}
			if back := c.CompactIRI(iri); back != tc.term {
				t.Errorf("CompactIRI(%q) = %q, want %q", iri, back, tc.term)
			}
		}
		// An IRI under the data model's namespace with no term of its own
		// takes the shortest prefix.
		if got := c.CompactIRI(sdmEnv + "SO2"); got != "sdm-env:SO2" {
			t.Errorf("CompactIRI(SO2) = %q", got)
		}
	}
	// A client that names only the core context sees full IRIs for the
	// data model's names, and the data model's names expand differently.
	if got := Core().CompactIRI(sdmEnv + "pm25"); got != sdmEnv+"pm25" {
		t.Errorf("core: CompactIRI(pm25) = %q", got)
	}
	if got := Core().ExpandTerm("pm25"); got != dflt+"pm25" {
		t.Errorf("core: ExpandTerm(pm25) = %q", got)
	}
}

func TestCache(t *testing.T) {
	c := NewCache()
	if err := c.Add("https://c.example/a.jsonld", []byte(`{"@context": {"a": "https://a.example/a"}}`)); err != nil {
		t.Fatal(err)
	}
	doc, err := c.Load("https://c.example/a.jsonld")
	if err != nil || !strings.Contains(string(doc), `"a"`) {
		t.Fatalf("Load = %s, %v", doc, err)
	}
	doc[0] = 'X' // callers cannot damage the cache
	if again, _ := c.Load("https://c.example/a.jsonld"); again[0] != '{' {
		t.Error("Load returned the cached bytes themselves")
	}
	_, err = c.Load("https://c.example/b.jsonld")
	if !errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), "https://c.example/b.jsonld") {
		t.Errorf("unknown URL: %v", err)
	}

	bad := map[string]string{
		"not JSON":      `{"@context": `,
		"array":         `[{"@context": {}}]`,
		"no @context":   `{"context": {}}`,
		"empty":         ``,
		"just a string": `"https://x.example"`,
	}
	for name, d := range bad {
		if err := c.Add("https://c.example/bad.jsonld", []byte(d)); err == nil {
			t.Errorf("Add(%s) accepted", name)
		}
	}
	if err := c.Add("relative.jsonld", []byte(`{"@context": {}}`)); err == nil {
		t.Error("Add accepted a relative URL")
	}

	// AddFile, and its errors naming the file.
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonld")
	os.WriteFile(good, []byte(`{"@context": {"g": "https://g.example/g"}}`), 0o644)
	broken := filepath.Join(dir, "broken.jsonld")
	os.WriteFile(broken, []byte(`{"@context": `), 0o644)
	if err := c.AddFile("https://c.example/g.jsonld", good); err != nil {
		t.Fatal(err)
	}
	if ctx, err := Build("https://c.example/g.jsonld", c); err != nil || ctx.ExpandTerm("g") != "https://g.example/g" {
		t.Errorf("Build from AddFile: %v", err)
	}
	if err := c.AddFile("https://c.example/x.jsonld", broken); err == nil || !strings.Contains(err.Error(), "broken.jsonld") {
		t.Errorf("AddFile(broken) = %v", err)
	}
	if err := c.AddFile("https://c.example/x.jsonld", filepath.Join(dir, "missing.jsonld")); err == nil {
		t.Error("AddFile(missing) succeeded")
	}
	if _, err := c.AddDir("https://c.example", dir); err == nil || !strings.Contains(err.Error(), "broken.jsonld") {
		t.Errorf("AddDir with a broken file = %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "tree", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree", "x", "README.md"), []byte("not a context"), 0o644)
	os.WriteFile(filepath.Join(dir, "tree", "x", "c.json"), []byte(`{"@context": {"h": "https://h.example/h"}}`), 0o644)
	if n, err := c.AddDir("https://h.example/", filepath.Join(dir, "tree")); err != nil || n != 1 {
		t.Errorf("AddDir(tree) = %d, %v", n, err)
	}
	if ctx, err := Build("https://h.example/x/c.json", c); err != nil || ctx.ExpandTerm("h") != "https://h.example/h" {
		t.Errorf("Build from AddDir: %v", err)
	}
	if _, err := c.AddDir("https://c.example", filepath.Join(dir, "nope")); err == nil {
		t.Error("AddDir of a missing directory succeeded")
	}
	if _, err := c.AddDir("relative", filepath.Join(dir, "tree")); err == nil {
		t.Error("AddDir with a relative base URL succeeded")
	}

	// The zero value works; a nil *Cache refuses everything.
	var zero Cache
	if _, err := zero.Load("https://c.example/a.jsonld"); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("zero Cache: %v", err)
	}
	var nilCache *Cache
	if _, err := nilCache.Load("https://c.example/a.jsonld"); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("nil Cache: %v", err)
	}
	if nilCache.URLs() != nil || nilCache.Add("https://c.example/a", []byte(`{"@context":{}}`)) == nil {
		t.Error("nil Cache")
	}
}

func TestCacheFallback(t *testing.T) {
	calls := 0
	c := &Cache{Fallback: loaderFunc(func(u string) (json.RawMessage, error) {
		calls++
		if u == "https://remote.example/r.jsonld" {
			return []byte(`{"@context": {"r": "https://r.example/r"}}`), nil
		}
		if u == "https://remote.example/bad.jsonld" {
			return []byte(`[]`), nil
		}
		return nil, ErrNotAvailable
	})}
	for i := 0; i < 3; i++ {
		ctx, err := Build("https://remote.example/r.jsonld", c)
		if err != nil || ctx.ExpandTerm("r") != "https://r.example/r" {
			t.Fatalf("Build via fallback: %v", err)
		}
	}
	if calls != 1 {
		t.Errorf("fallback called %d times, want 1 (cached)", calls)
	}
	if _, err := Build("https://remote.example/other.jsonld", c); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("fallback miss: %v", err)
	}
	if _, err := c.Load("https://remote.example/bad.jsonld"); err == nil {
		t.Error("fallback's invalid document was accepted")
	}
}
