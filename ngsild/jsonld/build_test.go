package jsonld

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// decode parses a JSON test value.
func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func TestBuildExpandTerm(t *testing.T) {
	tests := []struct {
		name    string
		context string // the @context value, as JSON
		term    string
		want    string
	}{
		{"string term", `{"temperature": "https://example.org/temp"}`, "temperature", "https://example.org/temp"},
		{"@id term", `{"temperature": {"@id": "https://example.org/temp"}}`, "temperature", "https://example.org/temp"},
		{"@id term with @type", `{"speed": {"@id": "https://example.org/speed", "@type": "https://example.org/kmh"}}`, "speed", "https://example.org/speed"},
		{"term via core prefix", `{"foo": "ngsi-ld:foo"}`, "foo", ngsi + "foo"},
		{"other terms still default", `{"temperature": "https://example.org/temp"}`, "humidity", dflt + "humidity"},
		{"core terms still apply", `{"temperature": "https://example.org/temp"}`, "Property", ngsi + "Property"},
		{"user prefix (ends in /)", `{"ex": "https://example.org/ns/"}`, "ex:speed", "https://example.org/ns/speed"},
		{"user prefix (ends in #)", `{"ex": "https://example.org/ns#"}`, "ex:speed", "https://example.org/ns#speed"},
		{"prefix defined after its use", `{"speed": "ex:speed", "ex": "https://example.org/ns/"}`, "speed", "https://example.org/ns/speed"},
		{"prefix chain", `{"a": "b:a", "b": "c:b/", "c": "https://c.example/"}`, "a", "https://c.example/b/a"},
		{"simple term not ending in gen-delim is no prefix", `{"ex": "https://example.org/ns"}`, "ex:speed", "ex:speed"},
		{"expanded term is no prefix by default", `{"ex": {"@id": "https://example.org/ns/"}}`, "ex:speed", "ex:speed"},
		{"@prefix true", `{"ex": {"@id": "https://example.org/ns", "@prefix": true}}`, "ex:speed", "https://example.org/nsspeed"},
		{"@prefix false", `{"ex": {"@id": "https://example.org/ns/", "@prefix": false}}`, "ex:speed", "ex:speed"},
		{"prefix // is an IRI", `{"http": "https://evil.example/"}`, "http://example.org/x", "http://example.org/x"},
		{"compact IRI term without @id", `{"ex": "https://example.org/ns/", "ex:speed": {"@type": "@id"}}`, "ex:speed", "https://example.org/ns/speed"},
		{"IRI term mapping to itself", `{"https://example.org/a": {"@type": "@id"}}`, "https://example.org/a", "https://example.org/a"},
		{"term equal to its @id uses vocab", `{"attr": "attr"}`, "attr", dflt + "attr"},
		{"relative IRI term uses vocab", `{"a/b": {"@type": "@id"}}`, "a/b", dflt + "a/b"},
		{"@vocab", `{"@vocab": "https://example.org/vocab/"}`, "temperature", "https://example.org/vocab/temperature"},
		{"@vocab keeps core terms", `{"@vocab": "https://example.org/vocab/"}`, "Property", ngsi + "Property"},
		{"@vocab as compact IRI", `[{"ex": "https://example.org/"}, {"@vocab": "ex:v/"}]`, "t", "https://example.org/v/t"},
		{"@vocab relative to vocab", `{"@vocab": "sub/"}`, "t", dflt + "sub/t"},
		{"@vocab blank node", `{"@vocab": "_:"}`, "t", "_:t"},
		{"@vocab null", `{"@vocab": null}`, "temperature", ""},
		{"@vocab null keeps terms", `{"@vocab": null, "t": "https://example.org/t"}`, "t", "https://example.org/t"},
		{"term mapped to null", `{"secret": null}`, "secret", ""},
		{"term @id null", `{"secret": {"@id": null}}`, "secret", ""},
		{"keyword alias", `{"myId": "@id"}`, "myId", "@id"},
		{"keyword-like term ignored", `{"@foo": "https://example.org/foo"}`, "@foo", "@foo"},
		{"keyword-like @id ignores term", `{"foo": "@bar"}`, "foo", dflt + "foo"},
		{"@type container set allowed", `{"@type": {"@container": "@set"}}`, "t", dflt + "t"},
		{"reverse property", `{"isChildOf": {"@reverse": "https://example.org/parent"}}`, "isChildOf", "https://example.org/parent"},
		{"scoped context kept, not applied", `{"t": {"@id": "https://example.org/t", "@context": {"x": "https://example.org/x"}}}`, "x", dflt + "x"},
		// Arrays: later entries override earlier ones.
		{"array later overrides", `[{"t": "https://a.example/t"}, {"t": "https://b.example/t"}]`, "t", "https://b.example/t"},
		{"array earlier kept", `[{"t": "https://a.example/t"}, {"u": "https://b.example/u"}]`, "t", "https://a.example/t"},
		{"array later @vocab", `[{"@vocab": "https://a.example/"}, {"@vocab": "https://b.example/"}]`, "t", "https://b.example/t"},
		{"array prefix from earlier", `[{"ex": "https://example.org/"}, {"t": "ex:t"}]`, "t", "https://example.org/t"},
		{"nested arrays flattened", `[[{"t": "https://a.example/t"}], [[{"u": "https://b.example/u"}]]]`, "u", "https://b.example/u"},
		// null resets to the core context.
		{"null resets terms", `[{"t": "https://a.example/t"}, null]`, "t", dflt + "t"},
		{"null resets @vocab", `[{"@vocab": "https://a.example/"}, null]`, "t", dflt + "t"},
		{"after null new terms apply", `[{"t": "https://a.example/t"}, null, {"u": "https://b.example/u"}]`, "u", "https://b.example/u"},
		{"null alone", `null`, "Property", ngsi + "Property"},
		{"empty array", `[]`, "t", dflt + "t"},
		{"empty object", `{}`, "t", dflt + "t"},
		// The core context cannot be overridden.
		{"core term redefinition ignored", `{"Property": "https://evil.example/Property"}`, "Property", ngsi + "Property"},
		{"core prefix redefinition ignored", `{"ngsi-ld": "https://evil.example/"}`, "ngsi-ld:x", ngsi + "x"},
		{"core term null ignored", `{"Property": null}`, "Property", ngsi + "Property"},
		{"core term same definition", `{"Property": "ngsi-ld:Property", "id": "@id"}`, "Property", ngsi + "Property"},
		{"core URL re-applies @vocab", `[{"@vocab": "https://a.example/"}, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"]`, "t", dflt + "t"},
		{"core URL keeps user terms", `[{"t": "https://a.example/t"}, "` + CoreURL + `"]`, "t", "https://a.example/t"},
		{"context keywords accepted", `{"@version": 1.1, "@base": "https://example.org/", "@language": "en", "@direction": "ltr", "@propagate": true, "@protected": false, "t": "https://e.example/t"}`, "t", "https://e.example/t"},
		{"full term definition", `{"t": {"@id": "https://e.example/t", "@type": "@vocab", "@container": ["@set", "@index"], "@index": "p", "@language": "en", "@direction": "rtl", "@nest": "@nest", "@protected": true}}`, "t", "https://e.example/t"},
		// Reserved names are never expanded, whatever the context says.
		{"reserved stays", `{"value": "https://evil.example/value"}`, "value", "value"},
		{"user reserved-like name stays", `{"observedAt": "https://e.example/o"}`, "observedAt", "observedAt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Build(decode(t, tc.context), nil)
			if err != nil {
				t.Fatalf("Build(%s): %v", tc.context, err)
			}
			if got := c.ExpandTerm(tc.term); got != tc.want {
				t.Errorf("ExpandTerm(%q) = %q, want %q", tc.term, got, tc.want)
			}
			got, ok := c.Expand(tc.term)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("Expand(%q) = %q, %v", tc.term, got, ok)
			}
		})
	}
}

func TestBuildRawAndTypes(t *testing.T) {
	c, err := Build(json.RawMessage(`{"t": "https://e.example/t"}`), nil)
	if err != nil || c.ExpandTerm("t") != "https://e.example/t" {
		t.Fatalf("RawMessage: %v %v", c, err)
	}
	c, err = Build([]byte(`[{"t": "https://e.example/t"}]`), nil)
	if err != nil || c.ExpandTerm("t") != "https://e.example/t" {
		t.Fatalf("[]byte: %v %v", c, err)
	}
	if _, err := Build([]byte(`{`), nil); !errors.Is(err, ErrInvalidContext) {
		t.Errorf("bad JSON: %v", err)
	}
	// A context that changes nothing is the shared core context.
	for _, v := range []any{nil, []any{}, map[string]any{}, CoreURL} {
		c, err := Build(v, nil)
		if err != nil || c != Core() {
			t.Errorf("Build(%v) = %p, %v; want Core()", v, c, err)
		}
	}
	c, _ = Build(decode(t, `{"b": "https://e.example/b", "a": "https://e.example/a"}`), nil)
	if got := strings.Join(c.Terms(), ","); got != "a,b" {
		t.Errorf("Terms() = %s", got)
	}
	if got := Core().Terms(); len(got) != 0 {
		t.Errorf("Core().Terms() = %v", got)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		context string
		code    string
		inText  string // must appear in the error text
	}{
		{"number context", `42`, CodeInvalidLocalContext, "not a number"},
		{"boolean in array", `[{"a": "https://e.example/a"}, true]`, CodeInvalidLocalContext, "boolean"},
		{"number term", `{"t": 5}`, CodeInvalidTermDefinition, `"t"`},
		{"array term", `{"t": ["https://e.example/t"]}`, CodeInvalidTermDefinition, "an array"},
		{"empty term", `{"": "https://e.example/t"}`, CodeInvalidTermDefinition, "empty"},
		{"@id number", `{"t": {"@id": 5}}`, CodeInvalidIRIMapping, "@id must be"},
		{"@id relative without vocab", `[{"@vocab": null}, {"t": {"@id": "rel"}}]`, CodeInvalidIRIMapping, `"rel"`},
		{"no @id no vocab", `{"@vocab": null, "t": {"@type": "@id"}}`, CodeInvalidIRIMapping, "no @vocab"},
		{"unknown entry", `{"t": {"@id": "https://e.example/t", "label": "x"}}`, CodeInvalidTermDefinition, `"label"`},
		{"keyword redefinition", `{"@id": "https://e.example/id"}`, CodeKeywordRedefinition, `"@id"`},
		{"@context redefinition", `{"@context": "https://e.example/c"}`, CodeKeywordRedefinition, ""},
		{"bad @type term", `{"@type": "https://e.example/type"}`, CodeKeywordRedefinition, ""},
		{"@context alias", `{"ctx": "@context"}`, CodeInvalidKeywordAlias, `"ctx"`},
		{"cyclic prefixes", `{"a": "b:x", "b": "a:y"}`, CodeCyclicIRIMapping, ""},
		{"self cycle", `{"a": {"@id": "a:x"}}`, CodeCyclicIRIMapping, `"a"`},
		{"IRI term mismatch", `{"https://a.example/x": "https://b.example/y"}`, CodeInvalidIRIMapping, "form of an IRI"},
		{"compact IRI term mismatch", `{"ex": "https://e.example/", "ex:a": "https://other.example/a"}`, CodeInvalidIRIMapping, ""},
		{"@version 1.0", `{"@version": 1.0}`, CodeInvalidVersion, "1.1"},
		{"@version string", `{"@version": "1.1"}`, CodeInvalidVersion, ""},
		{"@vocab number", `{"@vocab": 3}`, CodeInvalidVocabMapping, ""},
		{"@vocab relative without vocab", `[{"@vocab": null}, {"@vocab": "relative"}]`, CodeInvalidVocabMapping, `"relative"`},
		{"@base number", `{"@base": 1}`, CodeInvalidBaseIRI, ""},
		{"@language number", `{"@language": 1}`, CodeInvalidDefaultLanguage, ""},
		{"@direction bad", `{"@direction": "up"}`, CodeInvalidBaseDirection, ""},
		{"@propagate string", `{"@propagate": "yes"}`, CodeInvalidPropagate, ""},
		{"@protected string", `{"@protected": "yes"}`, CodeInvalidProtected, ""},
		{"term @protected string", `{"t": {"@id": "https://e.example/t", "@protected": 1}}`, CodeInvalidProtected, ""},
		{"@type number", `{"t": {"@id": "https://e.example/t", "@type": 1}}`, CodeInvalidTypeMapping, ""},
		{"@type relative", `[{"@vocab": null}, {"t": {"@id": "https://e.example/t", "@type": "rel"}}]`, CodeInvalidTypeMapping, ""},
		{"@container bad", `{"t": {"@id": "https://e.example/t", "@container": "@bag"}}`, CodeInvalidContainer, "@bag"},
		{"@container number", `{"t": {"@id": "https://e.example/t", "@container": [1]}}`, CodeInvalidContainer, ""},
		{"@index without container", `{"t": {"@id": "https://e.example/t", "@index": "p"}}`, CodeInvalidTermDefinition, "@index"},
		{"@language mapping number", `{"t": {"@id": "https://e.example/t", "@language": 1}}`, CodeInvalidLanguageMapping, ""},
		{"@nest keyword", `{"t": {"@id": "https://e.example/t", "@nest": "@id"}}`, CodeInvalidNest, ""},
		{"@prefix string", `{"t": {"@id": "https://e.example/", "@prefix": "yes"}}`, CodeInvalidPrefix, ""},
		{"@prefix on compact IRI", `{"ex": "https://e.example/", "ex:t": {"@prefix": true}}`, CodeInvalidTermDefinition, "@prefix"},
		{"@prefix on alias", `{"t": {"@id": "@id", "@prefix": true}}`, CodeInvalidTermDefinition, "alias"},
		{"@reverse with @id", `{"t": {"@id": "https://e.example/t", "@reverse": "https://e.example/r"}}`, CodeInvalidReverseProperty, ""},
		{"@reverse number", `{"t": {"@reverse": 1}}`, CodeInvalidIRIMapping, ""},
		{"@reverse list", `{"t": {"@reverse": "https://e.example/r", "@container": "@list"}}`, CodeInvalidReverseProperty, ""},
		{"protected user term redefined", `[{"@protected": true, "t": "https://a.example/t"}, {"t": "https://b.example/t"}]`, CodeProtectedRedefinition, `"t"`},
		{"protected term then null", `[{"t": {"@id": "https://a.example/t", "@protected": true}}, null]`, CodeInvalidNullification, ""},
		{"relative URL", `"context.jsonld"`, CodeInvalidLocalContext, "absolute"},
		{"@import number", `{"@import": 1}`, CodeInvalidImport, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Build(decode(t, tc.context), nil)
			if err == nil {
				t.Fatalf("Build(%s) succeeded (%v), want %s", tc.context, c, tc.code)
			}
			if !errors.Is(err, ErrInvalidContext) || errors.Is(err, ErrNotAvailable) {
				t.Errorf("error %v does not wrap ErrInvalidContext only", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Errorf("error %v: code %q, want %q", err, e.Code, tc.code)
			}
			if !strings.Contains(err.Error(), tc.code) || !strings.Contains(err.Error(), tc.inText) {
				t.Errorf("error text %q should name %q and %q", err, tc.code, tc.inText)
			}
		})
	}
	// Identical redefinition of a protected user term is fine.
	if _, err := Build(decode(t, `[{"@protected": true, "t": "https://a.example/t"}, {"t": "https://a.example/t"}]`), nil); err != nil {
		t.Errorf("identical redefinition of a protected term: %v", err)
	}
	// A non-JSON Go value does not panic.
	if _, err := Build(make(chan int), nil); !errors.Is(err, ErrInvalidContext) {
		t.Errorf("chan: %v", err)
	}
	if _, err := Build(map[string]any{"t": map[string]any{"@id": "https://e.example/t", "@context": func() {}}}, nil); !errors.Is(err, ErrInvalidContext) {
		t.Errorf("func in scoped context: %v", err)
	}
}

// memCache returns a Cache holding the given documents (URL → JSON).
func memCache(t testing.TB, docs map[string]string) *Cache {
	t.Helper()
	c := NewCache()
	for u, d := range docs {
		if err := c.Add(u, []byte(d)); err != nil {
			t.Fatalf("Add(%s): %v", u, err)
		}
	}
	return c
}

func TestBuildRemote(t *testing.T) {
	cache := memCache(t, map[string]string{
		"https://ctx.example/a.jsonld":      `{"@context": {"a": "https://a.example/a", "shared": "https://a.example/shared"}}`,
		"https://ctx.example/b.jsonld":      `{"@context": ["https://ctx.example/a.jsonld", {"b": "https://b.example/b", "shared": "https://b.example/shared"}]}`,
		"https://ctx.example/core+x.jsonld": `{"@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld", {"x": "https://x.example/x"}]}`,
		"https://ctx.example/import.jsonld": `{"@context": {"@import": "https://ctx.example/a.jsonld", "a": "https://i.example/a"}}`,
		"https://ctx.example/array.jsonld":  `{"@context": [{"z": "https://z.example/z"}]}`,
		"https://ctx.example/noctx.jsonld":  `{"@context": {}, "other": 1}`,
	})
	tests := []struct {
		context string
		term    string
		want    string
	}{
		{`"https://ctx.example/a.jsonld"`, "a", "https://a.example/a"},
		{`"https://ctx.example/b.jsonld"`, "a", "https://a.example/a"},
		{`"https://ctx.example/b.jsonld"`, "shared", "https://b.example/shared"},
		{`["https://ctx.example/b.jsonld", "https://ctx.example/a.jsonld"]`, "shared", "https://a.example/shared"},
		{`["https://ctx.example/a.jsonld", "https://ctx.example/a.jsonld"]`, "a", "https://a.example/a"},
		{`"https://ctx.example/core+x.jsonld"`, "x", "https://x.example/x"},
		{`"https://ctx.example/import.jsonld"`, "a", "https://i.example/a"},
		{`"https://ctx.example/import.jsonld"`, "shared", "https://a.example/shared"},
		{`{"@import": "` + CoreURL + `", "t": "https://t.example/t"}`, "t", "https://t.example/t"},
		{`["https://ctx.example/a.jsonld", {"a2": "https://a.example/a"}]`, "a2", "https://a.example/a"},
		{`["https://ctx.example/array.jsonld", null]`, "z", dflt + "z"},
	}
	for _, tc := range tests {
		c, err := Build(decode(t, tc.context), cache)
		if err != nil {
			t.Errorf("Build(%s): %v", tc.context, err)
			continue
		}
		if got := c.ExpandTerm(tc.term); got != tc.want {
			t.Errorf("Build(%s).ExpandTerm(%q) = %q, want %q", tc.context, tc.term, got, tc.want)
		}
	}
}

func TestBuildNotAvailable(t *testing.T) {
	const unknown = "https://unknown.example/ctx.jsonld"
	var nilCache *Cache
	for name, l := range map[string]Loader{
		"nil loader": nil,
		"nil *Cache": nilCache,
		"empty":      NewCache(),
		"other URLs": memCache(t, map[string]string{"https://known.example/c.jsonld": `{"@context": {}}`}),
	} {
		for _, local := range []any{unknown, []any{map[string]any{"t": "https://e.example/t"}, unknown}} {
			_, err := Build(local, l)
			if !errors.Is(err, ErrNotAvailable) || errors.Is(err, ErrInvalidContext) {
				t.Errorf("%s: Build(%v) = %v, want ErrNotAvailable", name, local, err)
				continue
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeLoadingFailed || e.URL != unknown || !strings.Contains(err.Error(), unknown) {
				t.Errorf("%s: error %v should name %s", name, err, unknown)
			}
		}
	}
	// The error of a custom loader is kept.
	boom := errors.New("disk on fire")
	_, err := Build(unknown, loaderFunc(func(string) (json.RawMessage, error) { return nil, boom }))
	if !errors.Is(err, ErrNotAvailable) || !errors.Is(err, boom) {
		t.Errorf("custom loader error: %v", err)
	}
	// Core URLs never reach the loader.
	_, err = Build([]any{"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld", CoreURL}, loaderFunc(func(u string) (json.RawMessage, error) {
		t.Errorf("loader asked for %s", u)
		return nil, boom
	}))
	if err != nil {
		t.Errorf("core URLs: %v", err)
	}
}

type loaderFunc func(string) (json.RawMessage, error)

func (f loaderFunc) Load(u string) (json.RawMessage, error) { return f(u) }

func TestBuildBadRemote(t *testing.T) {
	docs := map[string]string{
		"https://ctx.example/array.jsonld":    `[{"@context": {}}]`,
		"https://ctx.example/string.jsonld":   `"https://ctx.example/x"`,
		"https://ctx.example/notjson.jsonld":  `{"@context": `,
		"https://ctx.example/noctx.jsonld":    `{"context": {}}`,
		"https://ctx.example/badterm.jsonld":  `{"@context": {"t": 1}}`,
		"https://ctx.example/imparray.jsonld": `{"@context": [{}]}`,
		"https://ctx.example/impimp.jsonld":   `{"@context": {"@import": "https://ctx.example/x"}}`,
	}
	loader := loaderFunc(func(u string) (json.RawMessage, error) {
		if d, ok := docs[u]; ok {
			return json.RawMessage(d), nil
		}
		return nil, ErrNotAvailable
	})
	tests := []struct{ context, code string }{
		{`"https://ctx.example/array.jsonld"`, CodeInvalidRemoteContext},
		{`"https://ctx.example/string.jsonld"`, CodeInvalidRemoteContext},
		{`"https://ctx.example/notjson.jsonld"`, CodeInvalidRemoteContext},
		{`"https://ctx.example/noctx.jsonld"`, CodeInvalidRemoteContext},
		{`"https://ctx.example/badterm.jsonld"`, CodeInvalidTermDefinition},
		{`{"@import": "https://ctx.example/imparray.jsonld"}`, CodeInvalidRemoteContext},
		{`{"@import": "https://ctx.example/impimp.jsonld"}`, CodeInvalidContextEntry},
	}
	for _, tc := range tests {
		_, err := Build(decode(t, tc.context), loader)
		var e *Error
		if !errors.Is(err, ErrInvalidContext) || !errors.As(err, &e) || e.Code != tc.code {
			t.Errorf("Build(%s) = %v, want %s", tc.context, err, tc.code)
			continue
		}
		if !strings.Contains(err.Error(), "https://ctx.example/") {
			t.Errorf("error %q does not name the remote context", err)
		}
	}
}

func TestBuildLimits(t *testing.T) {
	docs := map[string]string{
		// Cycles.
		"https://c.example/self.jsonld": `{"@context": "https://c.example/self.jsonld"}`,
		"https://c.example/a.jsonld":    `{"@context": ["https://c.example/b.jsonld"]}`,
		"https://c.example/b.jsonld":    `{"@context": [{"b": "https://b.example/b"}, "https://c.example/a.jsonld"]}`,
	}
	// A chain d0 → d1 → … → d11.
	for i := 0; i < 12; i++ {
		docs[fmt.Sprintf("https://c.example/d%d.jsonld", i)] = fmt.Sprintf(`{"@context": ["https://c.example/d%d.jsonld", {"t%d": "https://t.example/%d"}]}`, i+1, i, i)
	}
	docs["https://c.example/d12.jsonld"] = `{"@context": {}}`
	// 25 independent documents.
	var many []string
	for i := 0; i < 25; i++ {
		u := fmt.Sprintf("https://c.example/m%d.jsonld", i)
		docs[u] = fmt.Sprintf(`{"@context": {"m%d": "https://m.example/%d"}}`, i, i)
		many = append(many, `"`+u+`"`)
	}
	cache := memCache(t, docs)

	// Depth: d3 … d12 is a chain of 10 documents, d2 … d12 one of 11.
	if c, err := Build("https://c.example/d3.jsonld", cache); err != nil {
		t.Errorf("10 nested remote contexts: %v", err)
	} else if got := c.ExpandTerm("t11"); got != "https://t.example/11" {
		t.Errorf("deepest term: %q", got)
	}
	// Remote count: 20 is fine, 21 is not.
	if _, err := Build(decode(t, "["+strings.Join(many[:20], ",")+"]"), cache); err != nil {
		t.Errorf("20 remote contexts: %v", err)
	}
	// Nested arrays: 10 levels are fine.
	deep := strings.Repeat("[", 11) + `{"t": "https://e.example/t"}` + strings.Repeat("]", 11)
	if _, err := Build(decode(t, deep), nil); err != nil {
		t.Errorf("10 nested arrays: %v", err)
	}

	tests := []struct {
		name    string
		context string
		code    string
	}{
		{"self cycle", `"https://c.example/self.jsonld"`, CodeRecursiveInclusion},
		{"two-step cycle", `"https://c.example/a.jsonld"`, CodeRecursiveInclusion},
		{"cycle entered in the middle", `[{"x": "https://x.example/"}, "https://c.example/b.jsonld"]`, CodeRecursiveInclusion},
		{"too deep", `"https://c.example/d2.jsonld"`, CodeContextOverflow},
		{"too many", "[" + strings.Join(many[:21], ",") + "]", CodeContextOverflow},
		{"arrays too deep", strings.Repeat("[", 12) + "{}" + strings.Repeat("]", 12), CodeContextOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(decode(t, tc.context), cache)
			var e *Error
			if !errors.Is(err, ErrInvalidContext) || !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("Build = %v, want %s", err, tc.code)
			}
		})
	}
	// Term dependency chains are bounded too: p000 needs p001, which
	// needs p002 …
	chain := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, `"p%03d": "p%03d:x/", `, i, i+1)
		}
		fmt.Fprintf(&b, `"p%03d": "https://p.example/"}`, n)
		return b.String()
	}
	if c, err := Build(decode(t, chain(200)), nil); err != nil {
		t.Errorf("200-deep prefix chain: %v", err)
	} else if got := c.ExpandTerm("p000"); got != "https://p.example/"+strings.Repeat("x/", 200) {
		t.Errorf("200-deep prefix chain: p000 = %q", got)
	}
	_, err := Build(decode(t, chain(400)), nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidTermDefinition {
		t.Errorf("400-deep prefix chain: %v", err)
	}
}

func TestCompactIRI(t *testing.T) {
	c, err := Build(decode(t, `[
		{"ex": "https://example.org/ns/", "exlong": "https://example.org/ns/long/"},
		{"temperature": "https://example.org/ns/temperature", "temp": "https://example.org/ns/temperature",
		 "speed": {"@id": "ex:speed", "@type": "@id"},
		 "reading": {"@reverse": "https://example.org/ns/reading"},
		 "myId": "@id",
		 "ex:colon": {"@type": "@id"}},
		{"@vocab": "https://vocab.example/"}
	]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ iri, want string }{
		{"https://example.org/ns/temperature", "temp"}, // shortest of two terms
		{"https://example.org/ns/speed", "speed"},
		{"https://example.org/ns/other", "ex:other"},
		{"https://example.org/ns/long/x", "exlong:x"}, // shorter than ex:long/x
		{"https://example.org/ns/reading", "ex:reading"},
		{"https://example.org/ns/colon", "ex:colon"}, // a term that is a compact IRI
		{"https://vocab.example/humidity", "humidity"},
		{"https://vocab.example/temp", "https://vocab.example/temp"},             // "temp" is another term
		{"https://vocab.example/ex:y", "https://vocab.example/ex:y"},             // "ex:y" would expand with ex
		{"https://vocab.example/value", "https://vocab.example/value"},           // reserved name
		{dflt + "temperature", "ngsi-ld:default-context/temperature"},            // not the vocab any more
		{ngsi + "Property", "Property"},                                          // core term
		{"@id", "@id"},                                                           // aliases are not used
		{"https://example.org/ns/", "ex"},                                        // the prefix term itself
		{"https://elsewhere.example/x", "https://elsewhere.example/x"},           // nothing fits
		{"urn:ngsi-ld:AirQualityObserved:1", "urn:ngsi-ld:AirQualityObserved:1"}, // entity ids untouched
	}
	for _, tc := range tests {
		got := c.CompactIRI(tc.iri)
		if got != tc.want {
			t.Errorf("CompactIRI(%q) = %q, want %q", tc.iri, got, tc.want)
		}
		if got != tc.iri && c.ExpandTerm(got) != tc.iri {
			t.Errorf("ExpandTerm(%q) = %q, want %q", got, c.ExpandTerm(got), tc.iri)
		}
	}
	// Compact(Expand(x)) == x for every defined term with a unique IRI.
	for _, term := range []string{"speed", "temp", "ex:colon", "ex", "exlong"} {
		if got := c.CompactIRI(c.ExpandTerm(term)); got != term {
			t.Errorf("CompactIRI(ExpandTerm(%q)) = %q", term, got)
		}
	}
	// And for undefined names, through @vocab.
	for _, term := range []string{"humidity", "NO2", "pm2.5"} {
		if got := c.CompactIRI(c.ExpandTerm(term)); got != term {
			t.Errorf("CompactIRI(ExpandTerm(%q)) = %q", term, got)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	cache := memCache(t, map[string]string{
		"https://ctx.example/a.jsonld": `{"@context": {"ex": "https://example.org/", "a": "ex:a"}}`,
	})
	shared, err := Build("https://ctx.example/a.jsonld", cache)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				c, err := Build([]any{"https://ctx.example/a.jsonld", map[string]any{"b": "ex:b"}}, cache)
				if err != nil {
					t.Error(err)
					return
				}
				for _, ctx := range []*Context{c, shared, Core()} {
					if got := ctx.CompactIRI(ctx.ExpandTerm("a")); got != "a" && ctx != Core() {
						t.Errorf("round trip: %q", got)
						return
					}
					ctx.CompactIRI("https://example.org/zz")
				}
			}
		}()
	}
	wg.Wait()
}
