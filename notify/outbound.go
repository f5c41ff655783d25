package notify

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Outbound decides which addresses cityops's own requests to others —
// webhooks and NGSI-LD notifications, whose targets administrators and
// data:write keys choose — may reach. Public addresses may be reached;
// the loopback, private, link-local (such as a cloud's metadata service
// at 169.254.169.254), shared (100.64/10), multicast and unspecified
// ones only when Allow lists them, so that a subscription cannot be used
// to probe or call the city's internal network (server-side request
// forgery). The check is made on the address actually connected to,
// after name resolution and at every redirect, so a name that resolves
// to an internal address is refused too.
type Outbound struct {
	Allow []netip.Prefix
}

// ParseOutbound reads a comma-separated list of addresses and networks
// ("10.20.0.0/16,192.168.5.7"); "" allows only public addresses.
func ParseOutbound(s string) (Outbound, error) {
	var o Outbound
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return o, fmt.Errorf("-outbound-allow: %q is not an address or a network such as 10.20.0.0/16", f)
			}
			f = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return o, fmt.Errorf("-outbound-allow: %q is not an address or a network such as 10.20.0.0/16", f)
		}
		o.Allow = append(o.Allow, p.Masked())
	}
	return o, nil
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// Permits reports whether a connection to ip may be made.
func (o Outbound) Permits(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range o.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !sharedSpace.Contains(ip)
}

// control refuses a connection to an address the policy does not permit.
func (o Outbound) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: %s: %w", address, err)
	}
	if !o.Permits(ap.Addr()) {
		return fmt.Errorf("outbound: %s is an internal address; list it in -outbound-allow to reach it", ap.Addr())
	}
	return nil
}

// Client returns an HTTP client whose connections follow the policy.
// followRedirects false makes it return redirects as they are.
func (o Outbound) Client(timeout time.Duration, followRedirects bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: o.control}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a proxy would be connected to instead of the target, and the check lost
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	c := &http.Client{Timeout: timeout, Transport: tr}
	if !followRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}
