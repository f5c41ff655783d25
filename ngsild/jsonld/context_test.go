package jsonld

import (
	"bytes"
	"encoding/json"
	"testing"
)

const (
	ngsi = "https://uri.etsi.org/ngsi-ld/"
	dflt = "https://uri.etsi.org/ngsi-ld/default-context/"
	gj   = "https://purl.org/geojson/vocab#"
)

func TestCoreDocument(t *testing.T) {
	var doc map[string]map[string]any
	if err := json.Unmarshal(CoreDocument(), &doc); err != nil {
		t.Fatalf("embedded core context: %v", err)
	}
	if got := len(doc["@context"]); got != 206 {
		t.Errorf("core @context has %d entries, want 206 (GS CIM 009 V1.9.1 Annex B)", got)
	}
	c := Core()
	if got := len(c.terms); got != 203 {
		t.Errorf("core context defines %d terms, want 203", got)
	}
	if c.Vocab() != DefaultVocab || DefaultVocab != dflt {
		t.Errorf("core @vocab = %q", c.Vocab())
	}
	// CoreDocument returns a copy.
	d := CoreDocument()
	d[0] = 'X'
	if !bytes.Equal(CoreDocument()[:1], []byte("{")) {
		t.Error("CoreDocument exposes the embedded bytes")
	}

	checks := []struct {
		term              string
		iri, typ, contain string
		prefix            bool
	}{
		{"ngsi-ld", ngsi, "", "", true},
		{"geojson", gj, "", "", true},
		{"id", "@id", "", "", false},
		{"type", "@type", "", "", false},
		{"object", ngsi + "hasObject", "@id", "", false},
		{"observedAt", ngsi + "observedAt", ngsi + "DateTime", "", false},
		{"coordinates", gj + "coordinates", "", "@list", false},
		{"languageMap", ngsi + "hasLanguageMap", "", "@language", false},
		{"attributeCount", dflt + "attributeCount", "", "", false},
		{"description", "http://purl.org/dc/terms/description", "", "", false},
		{"problemDetails", ngsi + "problemDetails", "@json", "", false},
	}
	for _, tc := range checks {
		d := c.lookup(tc.term)
		if d == nil {
			t.Errorf("core term %q missing", tc.term)
			continue
		}
		if d.iri != tc.iri || d.typ != tc.typ || d.container != tc.contain || d.prefix != tc.prefix || !d.protected || !d.core {
			t.Errorf("core %q = %+v, want iri %q type %q container %q prefix %v, protected", tc.term, *d, tc.iri, tc.typ, tc.contain, tc.prefix)
		}
	}
}

func TestIsCoreURL(t *testing.T) {
	for u, want := range map[string]bool{
		"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld":       true,
		"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld":  true,
		"http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld":   true,
		"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.10.jsonld": true,
		CoreURL: true,
		"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.jsonld":   false,
		"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-vx.y.jsonld": false,
		"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.json":        false,
		"https://example.org/ngsi-ld-core-context.jsonld":                  false,
		"ftp://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld":        false,
		"": false,
	} {
		if got := IsCoreURL(u); got != want {
			t.Errorf("IsCoreURL(%q) = %v, want %v", u, got, want)
		}
	}
}

func TestCoreExpandTerm(t *testing.T) {
	c := Core()
	tests := []struct{ term, want string }{
		// Core terms.
		{"Property", ngsi + "Property"},
		{"Relationship", ngsi + "Relationship"},
		{"GeoProperty", ngsi + "GeoProperty"},
		{"Point", gj + "Point"},
		{"DateTime", ngsi + "DateTime"},
		{"description", "http://purl.org/dc/terms/description"},
		{"containedBy", ngsi + "isContainedBy"},
		// Reserved NGSI-LD member names and keywords are left alone.
		{"id", "id"},
		{"type", "type"},
		{"value", "value"},
		{"object", "object"},
		{"observedAt", "observedAt"},
		{"unitCode", "unitCode"},
		{"datasetId", "datasetId"},
		{"location", "location"},
		{"createdAt", "createdAt"},
		{"modifiedAt", "modifiedAt"},
		{"languageMap", "languageMap"},
		{"@context", "@context"},
		{"@id", "@id"},
		// Terms no context defines: the default vocab.
		{"temperature", dflt + "temperature"},
		{"AirQualityObserved", dflt + "AirQualityObserved"},
		{"attributeCount", dflt + "attributeCount"}, // core defines it as itself
		{"Location", dflt + "Location"},             // case matters
		{"a b", dflt + "a b"},
		// Compact IRIs with core prefixes.
		{"ngsi-ld:foo", ngsi + "foo"},
		{"geojson:Point", gj + "Point"},
		// Absolute IRIs and blank nodes are kept.
		{"urn:ngsi-ld:Vehicle:A1", "urn:ngsi-ld:Vehicle:A1"},
		{"https://example.org/ns#speed", "https://example.org/ns#speed"},
		{"http://schema.org/name", "http://schema.org/name"},
		{"_:b0", "_:b0"},
		// Not a valid scheme: vocab-relative.
		{"1x:y", dflt + "1x:y"},
		{":x", dflt + ":x"},
		// Empty.
		{"", ""},
	}
	for _, tc := range tests {
		if got := c.ExpandTerm(tc.term); got != tc.want {
			t.Errorf("ExpandTerm(%q) = %q, want %q", tc.term, got, tc.want)
		}
	}
	// A nil *Context is the core context.
	var nilCtx *Context
	if got := nilCtx.ExpandTerm("Property"); got != ngsi+"Property" {
		t.Errorf("nil context: %q", got)
	}
}

func TestCoreCompactIRI(t *testing.T) {
	c := Core()
	tests := []struct{ iri, want string }{
		{ngsi + "Property", "Property"},
		{gj + "Point", "Point"},
		{"http://purl.org/dc/terms/description", "description"},
		{dflt + "temperature", "temperature"},
		{dflt + "attributeCount", "attributeCount"},
		// Not a term: compact IRI with a core prefix.
		{ngsi + "foo", "ngsi-ld:foo"},
		{gj + "Foo", "geojson:Foo"},
		// The default-context IRI of a reserved name must not compact to
		// the reserved name, which would expand to something else.
		{dflt + "location", "ngsi-ld:default-context/location"},
		// Terms of core that are reserved stay as they are.
		{"location", "location"},
		{"value", "value"},
		{"@context", "@context"},
		{"@id", "@id"},
		// Unknown IRIs stay.
		{"urn:ngsi-ld:Vehicle:A1", "urn:ngsi-ld:Vehicle:A1"},
		{"https://example.org/x", "https://example.org/x"},
		{"", ""},
	}
	for _, tc := range tests {
		got := c.CompactIRI(tc.iri)
		if got != tc.want {
			t.Errorf("CompactIRI(%q) = %q, want %q", tc.iri, got, tc.want)
		}
		if got != tc.iri {
			if back := c.ExpandTerm(got); back != tc.iri {
				t.Errorf("ExpandTerm(CompactIRI(%q)) = %q", tc.iri, back)
			}
		}
	}
}

// Every core term that is not a reserved member name round-trips.
func TestCoreRoundTrip(t *testing.T) {
	c := Core()
	n := 0
	for term, d := range c.terms {
		if IsReserved(term) || d.iri == "" || d.iri[0] == '@' {
			continue
		}
		n++
		if got := c.CompactIRI(c.ExpandTerm(term)); got != term {
			t.Errorf("CompactIRI(ExpandTerm(%q)) = %q", term, got)
		}
	}
	if n < 150 {
		t.Errorf("only %d core terms checked", n)
	}
}

func TestIsAbsoluteIRI(t *testing.T) {
	for s, want := range map[string]bool{
		"https://a.b/c": true, "urn:x": true, "a+b.c-d:x": true, "mailto:x@y": true,
		"": false, ":x": false, "1a:x": false, "a_b:x": false, "noscheme": false,
		"https://a b": false, "urn:x\n": false,
	} {
		if got := isAbsoluteIRI(s); got != want {
			t.Errorf("isAbsoluteIRI(%q) = %v, want %v", s, got, want)
		}
	}
}
