package jsonld

import (
	"strings"
	"testing"
)

func TestParseLink(t *testing.T) {
	const u = "https://contexts.example.org/ctx.jsonld"
	const rel = `rel="http://www.w3.org/ns/json-ld#context"`
	tests := []struct {
		name   string
		header string
		want   string
		ok     bool
		err    string // substring of the error; "" for none
	}{
		{"canonical", `<` + u + `>; ` + rel + `; type="application/ld+json"`, u, true, ""},
		{"no spaces", `<` + u + `>;` + rel + `;type="application/ld+json"`, u, true, ""},
		{"lots of spaces", "  <" + u + ">  ;\t" + `rel = "http://www.w3.org/ns/json-ld#context"` + " ; type=application/ld+json  ", u, true, ""},
		{"no type", `<` + u + `>; ` + rel, u, true, ""},
		{"type first", `<` + u + `>; type="application/ld+json"; ` + rel, u, true, ""},
		{"unquoted rel", `<` + u + `>; rel=http://www.w3.org/ns/json-ld#context; type="application/ld+json"`, u, true, ""},
		{"upper-case names", `<` + u + `>; REL="HTTP://WWW.W3.ORG/ns/json-ld#context"; Type="Application/LD+JSON"`, u, true, ""},
		{"several relations", `<` + u + `>; rel="alternate http://www.w3.org/ns/json-ld#context"`, u, true, ""},
		{"after another link", `<https://example.org/next>; rel="next", <` + u + `>; ` + rel, u, true, ""},
		{"before another link", `<` + u + `>; ` + rel + `, <https://example.org/next>; rel="next"`, u, true, ""},
		{"comma in URL", `<https://example.org/a,b.jsonld>; ` + rel, "https://example.org/a,b.jsonld", true, ""},
		{"semicolon in quoted title", `<` + u + `>; title="a; b, c"; ` + rel, u, true, ""},
		{"escaped quote", `<` + u + `>; title="say \"hi\""; ` + rel, u, true, ""},
		{"extra params", `<` + u + `>; ` + rel + `; type="application/ld+json"; profile="x"; anchor="#a"`, u, true, ""},
		{"empty list elements", `, ,<` + u + `>; ` + rel + `,`, u, true, ""},
		{"trailing semicolon", `<` + u + `>; ` + rel + `;`, u, true, ""},
		{"only first rel counts", `<` + u + `>; rel="next"; ` + rel, "", false, ""},
		{"core context", `<` + CoreURL + `>; ` + rel, CoreURL, true, ""},
		// Not a JSON-LD context.
		{"empty", ``, "", false, ""},
		{"blank", `   `, "", false, ""},
		{"wrong rel", `<` + u + `>; rel="next"; type="application/ld+json"`, "", false, ""},
		{"similar rel", `<` + u + `>; rel="http://www.w3.org/ns/json-ld#contexts"`, "", false, ""},
		{"no rel", `<` + u + `>; type="application/ld+json"`, "", false, ""},
		{"rel without value", `<` + u + `>; rel`, "", false, ""},
		// Malformed.
		{"garbage", `garbage`, "", false, "expected '<'"},
		{"bare URL", u + `; ` + rel, "", false, "expected '<'"},
		{"unterminated <", `<` + u + `; ` + rel, "", false, "closing '>'"},
		{"empty target", `<>; ` + rel, "", false, "empty link target"},
		{"space in target", `<https://a b>; ` + rel, "", false, "link target contains"},
		{"unterminated quote", `<` + u + `>; rel="http://www.w3.org/ns/json-ld#context`, "", false, "unterminated"},
		{"backslash at end", `<` + u + `>; rel="abc\`, "", false, "unterminated"},
		{"no semicolon", `<` + u + `> rel="next"`, "", false, "expected ';'"},
		{"missing param name", `<` + u + `>; ="x"`, "", false, "parameter name"},
		{"missing value", `<` + u + `>; rel=`, "", false, "missing parameter value"},
		{"missing value before ;", `<` + u + `>; rel=; type=x`, "", false, "missing parameter value"},
		{"control char", "<" + u + ">; title=\"a\x01b\"; " + rel, "", false, "control character"},
		{"junk after link", `<` + u + `>; ` + rel + ` junk`, "", false, "expected ';'"},
		// Wrong for a JSON-LD context.
		{"two contexts", `<` + u + `>; ` + rel + `, <https://example.org/b.jsonld>; ` + rel, "", false, "more than one"},
		{"wrong type", `<` + u + `>; ` + rel + `; type="application/json"`, "", false, "type"},
		{"relative target", `<ctx.jsonld>; ` + rel, "", false, "not an absolute URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := ParseLink(tc.header)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseLink(%q) error = %v, want one containing %q", tc.header, err, tc.err)
				}
				if got != "" || ok {
					t.Errorf("ParseLink(%q) = %q, %v with an error", tc.header, got, ok)
				}
				return
			}
			if err != nil || got != tc.want || ok != tc.ok {
				t.Errorf("ParseLink(%q) = %q, %v, %v; want %q, %v", tc.header, got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

func TestLinkHeaderRoundTrip(t *testing.T) {
	for _, u := range []string{CoreURL, "https://example.org/a,b;c.jsonld"} {
		got, ok, err := ParseLink(LinkHeader(u))
		if err != nil || !ok || got != u {
			t.Errorf("ParseLink(LinkHeader(%q)) = %q, %v, %v", u, got, ok, err)
		}
	}
}
