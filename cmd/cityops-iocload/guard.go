package main

import "github.com/cityops/cityops/internal/loadtool"

// guard keeps every target, dial and database host on this machine.
var guard = loadtool.Guard{Tool: "cityops-iocload"}

// checkDSN accepts an empty -db (SQLite) or a postgres:// URL whose hosts
// are all on this machine: the server's database traffic counts too.
func checkDSN(dsn string) error {
	return guard.CheckDSN(dsn, " on 127.0.0.1 (leave it empty for SQLite in a fresh temporary directory)")
}
