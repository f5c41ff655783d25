package http

import "testing"

func TestPlainJSON(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"name": "Huế"}`:          true,
		`{"name": "a\\u0000b"}`:    true, // a backslash, then "u0000": no NUL
		`{"name": "a\u0000b"}`:     false,
		`{"name": "a\\\u0000b"}`:   false, // an escaped backslash, then a NUL
		"{\"name\": \"\xff\xfe\"}": false,
		`{"u0000": "\\\\u0000"}`:   true,
		`["\u0041", "x\u0000"]`:    false,
	} {
		if err := plainJSON([]byte(body)); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", body, err, ok)
		}
	}
}
