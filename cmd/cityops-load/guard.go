package main

import "github.com/cityops/cityops/internal/loadtool"

// guard keeps every target, dial and database host on this machine.
var guard = loadtool.Guard{Tool: "cityops-load"}

// checkDSN refuses a -db value that would make cityops connect to a
// database on another machine: the server's traffic counts too.
func checkDSN(dsn string) error {
	if dsn == "" || !loadtool.IsPostgresURL(dsn) {
		return nil // SQLite (cityops itself rejects anything else)
	}
	return guard.CheckPostgresDSN(dsn)
}
