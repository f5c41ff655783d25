package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// errNotLoopback marks every refusal to send traffic off this machine.
var errNotLoopback = errors.New("not a loopback address (127.0.0.0/8, ::1 or localhost); " +
	"cityops-mqttload only sends traffic to this machine")

// isLoopbackHost reports whether a host name or literal address is on
// this machine; only the literal name "localhost" is trusted by name.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkBroker refuses a -broker that is not a tcp:// URL on a loopback
// address.
func checkBroker(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-broker: %w", err)
	}
	if u.Scheme != "tcp" && u.Scheme != "mqtt" {
		return fmt.Errorf("-broker %s: want tcp://HOST:PORT", u.Redacted())
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("refusing -broker %s: host %q is %w", u.Redacted(), u.Hostname(), errNotLoopback)
	}
	return nil
}

// checkDSN refuses a -db that is not a postgres:// URL with loopback
// hosts only.
func checkDSN(dsn string) error {
	if dsn == "" {
		return nil
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return errors.New("-db: want a postgres:// URL (leave it empty for SQLite)")
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
		if !isLoopbackHost(h) {
			return fmt.Errorf("refusing -db %s: database host %q is %w", u.Redacted(), h, errNotLoopback)
		}
	}
	return nil
}

// redactDSN hides a password in a URL, which must not end up in a report.
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

// plainArg matches arguments a shell prints without quotes.
var plainArg = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// commandLine reproduces the command line for the record, quoted for a
// shell, with passwords in URLs hidden.
func commandLine(args []string) string {
	out := []string{"cityops-mqttload"}
	for _, a := range args {
		if strings.Contains(a, "://") {
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
				a = k + "=" + redactDSN(v)
			} else {
				a = redactDSN(a)
			}
		}
		if !plainArg.MatchString(a) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// cpuSeconds returns the CPU time (user + system) this process has used,
// from /proc on Linux; 0 elsewhere.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}
