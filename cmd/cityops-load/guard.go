package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// errNotLoopback marks every refusal to send traffic off this machine, so
// that callers and tests can recognise it whatever the wrapping.
var errNotLoopback = errors.New("not a loopback address (127.0.0.0/8, ::1 or localhost); " +
	"cityops-load only sends traffic to this machine")

// isLoopbackHost reports whether a host name or literal address is on
// this machine. Only the literal name "localhost" is trusted by name; the
// dialer checks the address it really connects to as well.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkTargetURL refuses a load or verification target that is not an
// http(s) URL on a loopback address, before any request is made.
func checkTargetURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: want an http:// or https:// URL", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("refusing target %s: host %q is %w", u.Redacted(), u.Hostname(), errNotLoopback)
	}
	return nil
}

// checkDSN refuses a -db value that would make cityops connect to a
// database on another machine: the server's traffic counts too.
func checkDSN(dsn string) error {
	if dsn == "" || !(strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")) {
		return nil // SQLite (cityops itself rejects anything else)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("-db: %w", err)
	}
	q := u.Query()
	if q.Has("service") || os.Getenv("PGSERVICE") != "" {
		return errors.New("-db: give the host in the URL, not through a pg_service file, so that it can be checked to be this machine")
	}
	var hosts []string
	if u.Host != "" {
		for _, hp := range strings.Split(u.Host, ",") {
			if h, _, err := net.SplitHostPort(hp); err == nil {
				hp = h
			}
			hosts = append(hosts, strings.Trim(hp, "[]"))
		}
	}
	for _, key := range []string{"host", "hostaddr"} {
		if v := q.Get(key); v != "" {
			hosts = append(hosts, strings.Split(v, ",")...)
		}
	}
	if len(hosts) == 0 && os.Getenv("PGHOST") != "" {
		hosts = strings.Split(os.Getenv("PGHOST"), ",")
	}
	for _, h := range hosts {
		if h == "" || strings.HasPrefix(h, "/") { // a Unix socket directory
			continue
		}
		if !isLoopbackHost(h) {
			return fmt.Errorf("refusing -db %s: database host %q is %w", u.Redacted(), h, errNotLoopback)
		}
	}
	return nil
}

// loopbackDialer connects only to loopback addresses, checked after name
// resolution, so that neither a surprising "localhost" entry nor a
// redirect can send traffic elsewhere.
func loopbackDialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("dial %s %s: %w", network, address, errNotLoopback)
			}
			return nil
		},
	}
}
