package q

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that errors are positioned
// *SyntaxErrors, and that the canonical form of every accepted query
// parses back to an equal AST and is a fixed point of String.
func FuzzParse(f *testing.F) {
	for _, tc := range validQueries {
		f.Add(tc.in)
	}
	for _, tc := range invalidQueries {
		if len(tc.in) <= MaxQueryLen {
			f.Add(tc.in)
		}
	}
	get := func(Path) ([]any, bool) {
		return []any{21.5, "Kim Long", []any{true, "2026-01-01T00:00:00Z"}, map[string]any{"a": map[string]any{"b": 1.0}}}, true
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError", s, err)
			}
			if se.Pos < 0 || se.Pos > len(s) || se.Msg == "" {
				t.Fatalf("Parse(%q): bad error %+v", s, se)
			}
			return
		}
		canon := e.String()
		// Respelled numbers can make the canonical form of a query near
		// MaxQueryLen slightly longer than the limit; check those with
		// the unlimited parser.
		e2, err := parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String() %q does not parse: %v", s, canon, err)
		}
		if !exprEqual(e, e2) {
			t.Fatalf("Parse(%q).String() = %q parses to a different AST", s, canon)
		}
		if again := e2.String(); again != canon {
			t.Fatalf("String not canonical for %q: %q then %q", s, canon, again)
		}
		Eval(e, get)
		Attrs(e)
	})
}
