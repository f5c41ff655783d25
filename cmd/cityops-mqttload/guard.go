package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cityops/cityops/internal/loadtool"
)

// guard keeps the broker and the database hosts on this machine.
var guard = loadtool.Guard{Tool: "cityops-mqttload"}

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
	if !loadtool.IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("refusing -broker %s: host %q is %w", u.Redacted(), u.Hostname(), guard.NotLoopback())
	}
	return nil
}

// checkDSN refuses a -db that is not a postgres:// URL with loopback
// hosts only.
func checkDSN(dsn string) error {
	if dsn == "" {
		return nil
	}
	if !loadtool.IsPostgresURL(dsn) {
		return errors.New("-db: want a postgres:// URL (leave it empty for SQLite)")
	}
	return guard.CheckPostgresDSN(dsn)
}

// commandLine reproduces the command line for the record, quoted for a
// shell, with passwords in URLs hidden (-broker's as well as -db's).
func commandLine(args []string) string {
	out := []string{"cityops-mqttload"}
	for _, a := range args {
		if strings.Contains(a, "://") {
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
				a = k + "=" + loadtool.RedactDSN(v)
			} else {
				a = loadtool.RedactDSN(a)
			}
		}
		out = append(out, loadtool.ShellQuote(a))
	}
	return strings.Join(out, " ")
}
