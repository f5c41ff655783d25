package loadtool

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestClient checks that a client sends its key and keeps the answer, and
// that a target off this machine is refused before any request.
func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Header.Get("Authorization")+" "+r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusTeapot)
		w.Write(append([]byte("got "), b...))
	}))
	defer srv.Close()
	c, err := testGuard.NewClient(srv.URL+"/", "k1", 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Do(context.Background(), http.MethodPost, "/x", "text/csv", []byte("a,b"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != http.StatusTeapot || string(rep.Body) != "got a,b" || rep.Header.Get("X-Got") != "Bearer k1 text/csv" {
		t.Errorf("reply %d %q %q", rep.Status, rep.Body, rep.Header.Get("X-Got"))
	}
	if got, want := StatusKind(rep), "HTTP 418: got a,b"; got != want {
		t.Errorf("StatusKind = %q, want %q", got, want)
	}
	if _, err := testGuard.NewClient("http://192.0.2.1:8080", "k", 1, time.Second); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("NewClient to 192.0.2.1: %v", err)
	}
	if got := ErrorKind(context.Canceled); got != "canceled" {
		t.Errorf("ErrorKind(canceled) = %q", got)
	}
}

// TestFormats checks the figures' formats.
func TestFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 50_000_000: "50,000,000"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Rate(19999.5); got != "20,000" {
		t.Errorf("Rate = %q", got)
	}
	if got := Bytes(3 << 30); got != "3.0 GiB" {
		t.Errorf("Bytes = %q", got)
	}
}
