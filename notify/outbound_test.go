package notify_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops/notify"
)

func TestOutboundPolicy(t *testing.T) {
	o, err := notify.ParseOutbound(" 10.20.0.0/16, 192.168.5.7 ")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"203.0.113.9": true, "2001:db8::1": true, "10.20.3.4": true, "192.168.5.7": true,
		"10.21.0.1": false, "192.168.5.8": false, "127.0.0.1": false, "::1": false, "169.254.169.254": false,
		"100.64.1.1": false, "0.0.0.0": false, "fe80::1": false, "fd00::1": false, "224.0.0.1": false, "::ffff:127.0.0.1": false,
	} {
		if got := o.Permits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "intranet", "10.0.0.1/8/8"} {
		if _, err := notify.ParseOutbound(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestOutboundClient: the client refuses a receiver on the loopback unless
// it is allowed — the check is on the address connected to, so a name
// ("localhost") does not get around it.
func TestOutboundClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	strict := notify.Outbound{}.Client(5*time.Second, false)
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := strict.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil || !strings.Contains(err.Error(), "-outbound-allow") {
			t.Fatalf("%s reached: %v", u, err)
		}
	}
	o, _ := notify.ParseOutbound("127.0.0.1")
	res, err := o.Client(5*time.Second, false).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("allowed receiver: %v", err)
	}
	res.Body.Close()
}
