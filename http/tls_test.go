package http_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a client
// that trusts it (and follows no redirects).
func selfSigned(t *testing.T) (tls.Certificate, *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cityops test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	t.Cleanup(client.CloseIdleConnections)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, client
}

func TestTLS(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		cert, client := selfSigned(t)
		ts := newServerWith(t, db, func(c *cityhttp.Config) {
			c.Certificate = &cert
			c.RedirectAddr = "127.0.0.1:0"
		})
		if !strings.HasPrefix(ts.URL(), "https://127.0.0.1:") {
			t.Fatalf("URL() = %s; want https://127.0.0.1:…", ts.URL())
		}

		// Every answer carries HSTS.
		res, err := client.Get(ts.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") != "max-age=31536000; includeSubDomains" {
			t.Errorf("GET /healthz = %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
		}
		if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
			t.Errorf("TLS state = %+v", res.TLS)
		}

		// Sign-in sets a Secure session cookie.
		if err := db.CreateUser(sysCtx(), &cityops.User{Email: "tls@hue.gov.vn", Role: cityops.RoleAdmin}, "a long enough password"); err != nil {
			t.Fatal(err)
		}
		res, err = client.PostForm(ts.URL()+"/login", url.Values{"email": {"tls@hue.gov.vn"}, "password": {"a long enough password"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var session *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == "cityops_session" {
				session = c
			}
		}
		if res.StatusCode != http.StatusSeeOther || session == nil || !session.Secure || !session.HttpOnly {
			t.Errorf("sign-in = %d, session cookie %+v; want 303 with a Secure, HttpOnly cookie", res.StatusCode, session)
		}

		// TLS older than 1.2 is refused.
		conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.URL(), "https://"), &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Error("a TLS 1.1 handshake succeeded")
		}

		// The plain-HTTP listener only redirects: 301 for GET, 308 (which
		// keeps the method and body) for the rest, to the HTTPS port.
		if !strings.HasPrefix(ts.RedirectURL(), "http://127.0.0.1:") {
			t.Fatalf("RedirectURL() = %q", ts.RedirectURL())
		}
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL(), "https://"))
		plain := &http.Client{CheckRedirect: client.CheckRedirect, Timeout: 10 * time.Second}
		for _, tt := range []struct {
			method, path, host string
			status             int
			location           string
		}{
			{"GET", "/reports?area=P10", "", http.StatusMovedPermanently, ts.URL() + "/reports?area=P10"},
			{"HEAD", "/", "", http.StatusMovedPermanently, ts.URL() + "/"},
			{"POST", "/api/v1/reports", "", http.StatusPermanentRedirect, ts.URL() + "/api/v1/reports"},
			{"GET", "/staff", "city.example.vn:80", http.StatusMovedPermanently, "https://city.example.vn:" + port + "/staff"},
		} {
			req, _ := http.NewRequest(tt.method, ts.RedirectURL()+tt.path, strings.NewReader(""))
			if tt.host != "" {
				req.Host = tt.host
			}
			res, err := plain.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status || res.Header.Get("Location") != tt.location {
				t.Errorf("%s %s (Host %q) = %d to %q; want %d to %q", tt.method, tt.path, tt.host, res.StatusCode,
					res.Header.Get("Location"), tt.status, tt.location)
			}
		}
	})
}
