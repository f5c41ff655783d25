package jsonld

import (
	"encoding/json"
	"errors"
	"testing"
)

// fuzzCache holds remote contexts the fuzzer can reach by URL, including
// cycles and broken documents.
func fuzzCache(t testing.TB) *Cache {
	return memCache(t, map[string]string{
		"https://f.example/a":     `{"@context": {"ex": "https://example.org/", "a": "ex:a"}}`,
		"https://f.example/b":     `{"@context": ["https://f.example/a", {"b": {"@id": "ex:b", "@type": "@id"}}]}`,
		"https://f.example/self":  `{"@context": "https://f.example/self"}`,
		"https://f.example/c1":    `{"@context": ["https://f.example/c2"]}`,
		"https://f.example/c2":    `{"@context": ["https://f.example/c1"]}`,
		"https://f.example/null":  `{"@context": null}`,
		"https://f.example/prot":  `{"@context": {"@protected": true, "p": "https://p.example/p"}}`,
		"https://f.example/vocab": `{"@context": {"@vocab": "https://v.example/"}}`,
		"https://f.example/bad":   `{"@context": 5}`,
		"https://f.example/imp":   `{"@context": {"@import": "https://f.example/a", "z": "ex:z"}}`,
		sdmURL: `{"@context": {"sdm-env": "https://smartdatamodels.org/dataModel.Environment/",
			"AirQualityObserved": "sdm-env:AirQualityObserved", "pm25": "sdm-env:pm25", "NO2": {"@id": "sdm-env:NO2"}}}`,
	})
}

func FuzzBuild(f *testing.F) {
	for _, seed := range []string{
		`null`, `[]`, `{}`, `"https://f.example/a"`, `"` + CoreURL + `"`,
		`["https://f.example/b", {"c": "ex:c"}]`,
		`"https://f.example/self"`, `"https://f.example/c1"`, `["https://f.example/prot", null]`,
		`["https://f.example/prot", {"p": "https://q.example/"}]`,
		`{"@import": "https://f.example/a", "i": "ex:i"}`, `"https://f.example/imp"`,
		`"https://f.example/bad"`, `"https://f.example/missing"`, `"relative"`,
		`{"temperature": "https://example.org/temp", "ex": "https://example.org/ns/"}`,
		`{"ex": {"@id": "https://example.org/ns", "@prefix": true}, "t": "ex:t"}`,
		`{"a": "b:x", "b": "a:y"}`, `{"a": {"@id": "a:x"}}`,
		`{"@vocab": null, "t": {"@type": "@id"}}`, `[{"ex": "https://e/"}, {"@vocab": "ex:v/"}]`,
		`{"myId": "@id", "ctx": "@context"}`, `{"@type": {"@container": "@set"}}`,
		`{"t": {"@reverse": "https://e/r", "@container": "@index"}}`,
		`{"https://a/x": "https://b/y"}`, `{"Property": "https://evil/"}`,
		`[[[[{"t": "https://e/t"}]]]]`, `{"t": {"@id": "https://e/t", "@context": {"x": 1}}}`,
		`["` + sdmURL + `", "` + CoreURL + `"]`,
		`{"t": {"@id": "https://e/t", "@container": ["@set", "@index"], "@index": "p"}}`,
		`{"ngsi-ld:x": {"@type": "@id"}, "_:b": "https://e/b", "a/b": {}}`,
	} {
		f.Add([]byte(seed))
	}
	cache := fuzzCache(f)
	names := []string{"a", "b", "c", "t", "p", "x", "ex", "ex:a", "ex:zz", "temperature", "Property",
		"location", "@id", "ngsi-ld:x", "urn:x:y", "_:b", "pm25", "NO2", "https://e/t", "a/b", ":", "a:b:c"}

	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			if _, err := Build(json.RawMessage(data), cache); !errors.Is(err, ErrInvalidContext) {
				t.Fatalf("invalid JSON %q: Build error %v", data, err)
			}
			return
		}
		c, err := Build(v, cache)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || err.Error() == "" {
				t.Fatalf("error without a code: %v", err)
			}
			if errors.Is(err, ErrInvalidContext) == errors.Is(err, ErrNotAvailable) {
				t.Fatalf("error %v is not exactly one of ErrInvalidContext and ErrNotAvailable", err)
			}
			return
		}
		// The names the context mentions, and some fixed ones.
		all := append([]string(nil), names...)
		collectKeys(v, &all, 0)
		for _, name := range all {
			iri, ok := c.Expand(name)
			if ok != (iri != "") {
				t.Fatalf("Expand(%q) = %q, %v", name, iri, ok)
			}
			if c.ExpandTerm(name) != iri {
				t.Fatalf("ExpandTerm(%q) differs from Expand", name)
			}
			for _, s := range []string{iri, name} {
				back := c.CompactIRI(s)
				if back != s && c.ExpandTerm(back) != s {
					t.Fatalf("CompactIRI(%q) = %q, which expands to %q", s, back, c.ExpandTerm(back))
				}
			}
		}
	})
}

// collectKeys gathers the object keys of a decoded context, a few levels deep.
func collectKeys(v any, out *[]string, depth int) {
	if depth > 4 || len(*out) > 200 {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			*out = append(*out, k)
			if s, ok := sub.(string); ok {
				*out = append(*out, s)
			}
			collectKeys(sub, out, depth+1)
		}
	case []any:
		for _, sub := range x {
			collectKeys(sub, out, depth+1)
		}
	}
}
