package main

// The loopback guard. It repeats cmd/cityops-load/guard.go (and
// cmd/cityops-mqttload's): commands cannot import each other, and moving
// it into a shared package would mean editing those commands too.

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
	"cityops-dataload only sends traffic to this machine")

// isLoopbackHost reports whether a host name or literal address is on this
// machine. Only the literal name "localhost" is trusted by name; the dialer
// checks the address it really connects to as well.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkTargetURL refuses a target that is not an http URL on a loopback
// address, before any request is made.
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

// checkDSN accepts an empty -db (SQLite) or a postgres:// URL whose hosts
// are all on this machine: the server's database traffic counts too.
func checkDSN(dsn string) error {
	if dsn == "" {
		return nil
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return errors.New("-db: want a postgres:// URL on 127.0.0.1 (leave it empty for SQLite in a fresh temporary directory)")
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

// redactDSN hides a database password, which must not end up in a report.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
