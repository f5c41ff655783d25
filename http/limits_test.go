package http_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestSlowHeaders checks that a client trickling its request's headers is
// cut off after ReadHeaderTimeout, however steadily it trickles.
func TestSlowHeaders(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newServerWith(t, db, func(c *cityhttp.Config) { c.ReadHeaderTimeout = 300 * time.Millisecond })
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		go func() {
			io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
			for range 100 { // 5 s of one byte every 50 ms
				if _, err := io.WriteString(conn, "a"); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(make([]byte, 1024))
		if n != 0 || err == nil || errors.Is(err, net.ErrClosed) || isTimeout(err) {
			t.Fatalf("read %d bytes, %v; want the server to close the connection", n, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("cut off after %v; want about 300 ms", d)
		}
		// A prompt client is served.
		if res, _ := ts.do("GET", "/healthz", "", ""); res.StatusCode != 200 {
			t.Errorf("GET /healthz = %d", res.StatusCode)
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// chunkedBody is a body of unknown length, sent with chunked encoding.
type chunkedBody struct{ io.Reader }

// TestChunkedBodyLimit checks that bodies over the limit answer 413 when
// they come without a Content-Length, on every surface in its own format.
func TestChunkedBodyLimit(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db) // MaxBodyBytes 64 KiB
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "app", Scopes: []string{"data:write", "open311:write"}})
		if err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("x", 100<<10)
		for _, tt := range []struct {
			name, path, ctype, body string
			want                    string // in the body
		}{
			{"JSON API", "/api/v1/reports", "application/json", `{"description":"` + big + `"}`, `"code":"too_large"`},
			{"sign-in form", "/login", "application/x-www-form-urlencoded", "email=a%40b.vn&password=" + big, "65536"},
			{"Open311", "/open311/v2/requests.json?api_key=" + key, "application/x-www-form-urlencoded", "description=" + big, `"code":413`},
			{"NGSI-LD", "/ngsi-ld/v1/entities", "application/json", `{"id":"urn:ngsi-ld:X:1","type":"X","note":{"type":"Property","value":"` + big + `"}}`, "RequestEntityTooLarge"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				// The length is unknown (0 with a body): the client sends
				// the body chunked.
				req, _ := http.NewRequest("POST", ts.url+tt.path, chunkedBody{strings.NewReader(tt.body)})
				req.Header.Set("Content-Type", tt.ctype)
				req.Header.Set("Authorization", "Bearer "+key)
				if tt.name == "sign-in form" || tt.name == "Open311" {
					req.Header.Del("Authorization")
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				if req.ContentLength != 0 || res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), tt.want) {
					t.Errorf("sent %d bytes; got %d %s; want 413 with %s", req.ContentLength, res.StatusCode, b, tt.want)
				}
			})
		}
		// A body within the limit is read as before.
		res, body := ts.do("POST", "/api/v1/reports", "", `{"description":"short"}`)
		var e struct{ Error struct{ Code string } }
		json.Unmarshal([]byte(body), &e)
		if res.StatusCode != http.StatusBadRequest || e.Error.Code != cityops.EINVALID {
			t.Errorf("small body = %d %s", res.StatusCode, body)
		}
	})
}
