package http

import (
	"net/http/httptest"
	"testing"

	"github.com/cityops/cityops"
)

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

func TestQueryFloatFinite(t *testing.T) {
	for q, ok := range map[string]bool{"lat=16.46": true, "lat=NaN": false, "lat=Inf": false, "lat=-Infinity": false, "lat=x": false} {
		var v cityops.Validation
		r := httptest.NewRequest("GET", "/api/v1/reports/nearby?"+q, nil)
		queryFloat(r, &v, "lat")
		if (v.Err() == nil) != ok {
			t.Errorf("%s: %v", q, v.Err())
		}
	}
}
