package http

import "testing"

func TestTileOrigin(t *testing.T) {
	for tmpl, want := range map[string]string{
		"https://tiles.hue.gov.vn/{z}/{x}/{y}.png":     "https://tiles.hue.gov.vn",
		"http://127.0.0.1:8081/osm/{z}/{x}/{y}.png":    "http://127.0.0.1:8081",
		"https://{s}.tile.example.org/{z}/{x}/{y}.png": "https://*.tile.example.org",
		"":                        "",
		"javascript:alert(1)":     "",
		"/relative/{z}/{x}/{y}":   "",
		"ftp://files.example/{z}": "",
	} {
		if got := tileOrigin(tmpl); got != want {
			t.Errorf("tileOrigin(%q) = %q; want %q", tmpl, got, want)
		}
	}
}
