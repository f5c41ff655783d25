// Package loadtool holds what the load-measuring commands (cityops-load,
// cityops-dataload, cityops-mqttload, cityops-iocload) share: the guard
// that keeps their traffic on this machine, an HTTP client bound to it,
// the names of failures, building cityops and running `cityops serve` and
// `cityops apikey create` as subprocesses, nearest-rank percentiles, CPU
// time and the load average from /proc, the formats of figures and the
// lines that record how a run was made.
package loadtool

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

// ErrNotLoopback marks every refusal to send traffic off this machine, so
// that callers and tests can recognise it whatever the wrapping.
var ErrNotLoopback = errors.New("not a loopback address (127.0.0.0/8, ::1 or localhost)")

// Guard refuses targets, dials and database hosts off this machine. Tool
// names the command in its refusals.
type Guard struct {
	Tool string
}

// NotLoopback is the error a refusal wraps: ErrNotLoopback, with the
// tool's promise to stay on this machine.
func (g Guard) NotLoopback() error {
	return fmt.Errorf("%w; %s only sends traffic to this machine", ErrNotLoopback, g.Tool)
}

// IsLoopbackHost reports whether a host name or literal address is on
// this machine. Only the literal name "localhost" is trusted by name; the
// dialer checks the address it really connects to as well.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// CheckTargetURL refuses a target that is not an http(s) URL on a
// loopback address, before any request is made.
func (g Guard) CheckTargetURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: want an http:// or https:// URL", raw)
	}
	if !IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("refusing target %s: host %q is %w", u.Redacted(), u.Hostname(), g.NotLoopback())
	}
	return nil
}

// CheckPostgresDSN refuses a postgres:// -db URL that would make cityops
// connect to a database on another machine: the server's traffic counts
// too. Which other -db values a command accepts is its own decision.
func (g Guard) CheckPostgresDSN(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("-db: %w", err)
	}
	q := u.Query()
	if q.Has("service") || os.Getenv("PGSERVICE") != "" {
		return errors.New("-db: give the host in the URL, not through a pg_service file, so that it can be checked to be this machine")
	}
	var hosts []string
	for _, hp := range strings.Split(u.Host, ",") {
		if h, _, err := net.SplitHostPort(hp); err == nil {
			hp = h
		}
		if hp != "" {
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
		if !IsLoopbackHost(h) {
			return fmt.Errorf("refusing -db %s: database host %q is %w", u.Redacted(), h, g.NotLoopback())
		}
	}
	return nil
}

// CheckDSN accepts an empty -db (SQLite) or a postgres:// URL whose hosts
// are all on this machine: the server's database traffic counts too.
// Anything else is refused with "-db: want a postgres:// URL" and hint.
func (g Guard) CheckDSN(dsn, hint string) error {
	if dsn == "" {
		return nil
	}
	if !IsPostgresURL(dsn) {
		return errors.New("-db: want a postgres:// URL" + hint)
	}
	return g.CheckPostgresDSN(dsn)
}

// IsPostgresURL reports whether dsn is a postgres:// or postgresql:// URL.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Dialer connects only to loopback addresses, checked after name
// resolution, so that neither a surprising "localhost" entry nor a
// redirect can send traffic elsewhere.
func (g Guard) Dialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("dial %s %s: %w", network, address, g.NotLoopback())
			}
			return nil
		},
	}
}

// RedactDSN hides a password in a URL, which must not end up in a report.
func RedactDSN(dsn string) string {
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
