package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to
// dir, and returns their paths and a client that trusts the certificate.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, client *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	return certFile, keyFile, client
}

// TestServeSecurityUsage checks the TLS, rate limit and CORS flags: all
// their problems are reported at once, as usage errors.
func TestServeSecurityUsage(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"-tls-cert", certFile}, []string{"-tls-cert and -tls-key: give both or neither"}},
		{[]string{"-tls-key", keyFile, "-http-redirect", ":8080"}, []string{"-tls-cert and -tls-key: give both or neither", "-http-redirect: only with -tls-cert"}},
		{[]string{"-tls-cert", keyFile, "-tls-key", certFile}, []string{"-tls-cert, -tls-key: "}},
		{[]string{"-tls-cert", certFile, "-tls-key", keyFile, "-http-redirect", "nowhere"}, []string{`-http-redirect "nowhere"`}},
		{[]string{"-rate-limits", "login=lots", "-cors-origins", "*"}, []string{"-rate-limits login", "-cors-origins \"*\""}},
		{[]string{"-rate-limits", "everything=1/s"}, []string{"-rate-limits \"everything=1/s\""}},
	} {
		st, _, errs := run(t, "", append([]string{"serve", "-data", dir}, tt.args...)...)
		for _, w := range tt.want {
			if st != exitUsage || !strings.Contains(errs, w) {
				t.Errorf("serve %v = %d %q; want %d with %q", tt.args, st, errs, exitUsage, w)
			}
		}
	}
	if st, _, errs := run(t, "", "serve", "-h"); st != 0 || !strings.Contains(errs, "login=10/m") || !strings.Contains(errs, "-cors-origins") {
		t.Errorf("serve -h = %d %q; want the rate limits' defaults and -cors-origins", st, errs)
	}
}

// TestServeTLS starts serve with a certificate: it prints its https://
// URL and answers over TLS with HSTS, rate limits and CORS.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, client := writeCert(t, dir)
	u, out := serve(t, "-data", dir, "-tls-cert", certFile, "-tls-key", keyFile, "-http-redirect", "127.0.0.1:0",
		"-rate-limits", "intake=1/m", "-cors-origins", "https://app.example.vn")
	if !strings.HasPrefix(u, "https://127.0.0.1:") || !strings.Contains(out.String(), "cityops is running at https://127.0.0.1:") {
		t.Fatalf("URL %q, output %q; want https://", u, out.String())
	}
	res, err := client.Get(u + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=31536000") {
		t.Errorf("GET /healthz = %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
	// The flags reach the server: the second report in a minute is refused.
	var codes []int
	for range 2 {
		res, err := client.Post(u+"/api/v1/reports", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		codes = append(codes, res.StatusCode)
	}
	if codes[0] != 400 || codes[1] != 429 {
		t.Errorf("two reports = %v; want [400 429]", codes)
	}
	req, _ := http.NewRequest("GET", u+"/api/v1/areas", nil)
	req.Header.Set("Origin", "https://app.example.vn")
	if res, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.vn" {
		t.Errorf("CORS: %v", res.Header)
	}
}
