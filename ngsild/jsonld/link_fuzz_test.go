package jsonld

import (
	"strings"
	"testing"
)

// FuzzParseLink reads Link headers: a context it finds is an absolute URL
// that LinkHeader writes back to the same, and links of other relations
// around it change nothing.
func FuzzParseLink(f *testing.F) {
	for _, s := range []string{
		LinkHeader(CoreURL),
		`<https://ctx.example/sdm.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`,
		`<https://ctx.example/a.jsonld>;rel=http://www.w3.org/ns/json-ld#context`,
		`<https://a.example/next>; rel="next", <https://ctx.example/a.jsonld>; rel="preload http://www.w3.org/ns/json-ld#context"`,
		`<https://ctx.example/a.jsonld>; rel="http://www.w3.org/ns/json-ld#context", <https://ctx.example/b.jsonld>; rel="http://www.w3.org/ns/json-ld#context"`,
		`<https://ctx.example/a.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="text/html"`,
		`<relative.jsonld>; rel="http://www.w3.org/ns/json-ld#context"`,
		`<https://ctx.example/a b>; rel="http://www.w3.org/ns/json-ld#context"`,
		`<https://ctx.example/a.jsonld>; rel="http://www.w3.org/ns/json-ld#context\"; title="x"`,
		`<https://ctx.example/a.jsonld`, `https://ctx.example/a.jsonld`, `<>`, `, ,`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		u, ok, err := ParseLink(header)
		if err != nil {
			if u != "" || ok || !strings.HasPrefix(err.Error(), "jsonld: ") {
				t.Fatalf("ParseLink(%q) = %q, %v, %v", header, u, ok, err)
			}
			return
		}
		if !ok {
			if u != "" {
				t.Fatalf("ParseLink(%q) = %q without a context", header, u)
			}
			return
		}
		if !isAbsoluteIRI(u) || strings.ContainsAny(u, " <>\"") {
			t.Fatalf("ParseLink(%q) = %q, not an absolute URL", header, u)
		}
		if u2, ok2, err := ParseLink(LinkHeader(u)); err != nil || !ok2 || u2 != u {
			t.Fatalf("ParseLink(LinkHeader(%q)) = %q, %v, %v", u, u2, ok2, err)
		}
		other := `<https://a.example/next>; rel="next"`
		for _, h := range []string{other + ", " + header, header + ", " + other} {
			if u2, ok2, err := ParseLink(h); err != nil || !ok2 || u2 != u {
				t.Fatalf("ParseLink(%q) = %q, %v, %v; want %q", h, u2, ok2, err, u)
			}
		}
	})
}
