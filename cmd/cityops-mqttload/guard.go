package main

import (
	"fmt"
	"net/url"

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
func checkDSN(dsn string) error { return guard.CheckDSN(dsn, " (leave it empty for SQLite)") }
