// Command cityops is the smart-city operations platform in one binary.
// Run `cityops help` for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, env *Env) int
}

// Env is what a command may touch besides its arguments, so tests can run
// the real program in-process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Ready, when set, receives the server's base URL once it listens.
	Ready func(url string)
}

var commands []command

func init() {
	commands = []command{
		{"serve", "[flags]", "run the HTTP server (applies migrations first)", runServe},
		{"migrate", "[flags]", "apply database migrations and exit", runMigrate},
		{"user", "add -email E -role R [-agency CODE] [-area CODE] [-name N] | enable -email E | reset-mfa -email E", "create a staff account (the password is read from stdin); enable one again or turn off its two-step sign-in from the console", runUser},
		{"apikey", "create -name N -scopes S1,S2 | list | revoke -id N", "manage API keys for machine clients; create prints only the new key", runAPIKey},
		{"areas", "import [flags] FILE.geojson", "import or update administrative areas from GeoJSON, all or nothing", runAreas},
		{"simulate", "-key KEY [-url URL] [-speed N] [-flood IN,RISE,PEAK]", "send live Huế sensor data to a running cityops (NGSI-LD)", runSimulate},
		{"audit", "verify | export [-since T] [-until T] | seal [-audit-key-file FILE]", "check the audit trail's hash chain and seals, export it as JSON lines, or seal it", runAudit},
		{"keys", "new | rotate | seal | status  -file FILE", "make the data keyring that seals reporters' personal data, add a key and seal everything with it, or count the values each key sealed", runKeys},
		{"personal-data", "export -email E | -phone P", "export everything held about one reporter as JSON (audited)", runPersonalData},
		{"backup", "-to FILE [-encrypt] [-data-key-file FILE]", "write a consistent copy of the database while serve runs; -encrypt seals it with the data keyring", runBackup},
		{"restore", "-from FILE -to TARGET [-data-key-file FILE]", "check a backup and restore it to a new SQLite file or an empty PostgreSQL database", runRestore},
		{"version", "", "print the version", runVersion},
		{"help", "[command]", "show this help, or a command's flags", nil},
	}
}

// Run runs the command line args and returns the exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunEnv(ctx, args, &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// RunEnv is Run with the whole environment given.
func RunEnv(ctx context.Context, args []string, env *Env) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		if len(args) > 1 {
			return RunEnv(ctx, []string{args[1], "-h"}, env)
		}
		usage(env.Stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == name && c.run != nil {
			return c.run(ctx, args[1:], env)
		}
	}
	fmt.Fprintf(env.Stderr, "cityops: unknown command %q; run 'cityops help'\n", name)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `cityops — smart-city operations platform (field reports, city data, operations centre)

Usage: cityops COMMAND [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprint(w, `
Every flag can also be set in the environment as CITYOPS_<FLAG> (for example
-db as CITYOPS_DB), and secrets as CITYOPS_<FLAG>_FILE naming a file that
holds the value. Flags on the command line win.

Run 'cityops help COMMAND' or 'cityops COMMAND -h' for a command's flags.
`)
}
