package http

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRecoverPanics: a panic in a handler becomes a logged 500 whose body
// says "internal error" and nothing of the panic or the stack.
func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret detail in /srv/cityops/storage/report.go:42")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/reports", nil))
	body := rec.Body.String()
	if rec.Code != 500 || !strings.Contains(body, "internal error") || strings.Contains(body, "secret") || strings.Contains(body, ".go") {
		t.Fatalf("%d %s", rec.Code, body)
	}
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("the panic and its stack are not in the log: %s", logs.String())
	}
}
