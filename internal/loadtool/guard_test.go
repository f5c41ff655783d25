package loadtool

import (
	"errors"
	"strings"
	"testing"
)

var testGuard = Guard{Tool: "cityops-test"}

// TestCheckTargetURL checks that targets off this machine are refused.
func TestCheckTargetURL(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:8080/", "http://127.9.9.9/", "http://[::1]:80/x", "http://localhost:1/", "https://LOCALHOST./",
	} {
		if err := testGuard.CheckTargetURL(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{
		"http://192.0.2.1/", "http://example.com/", "http://10.0.0.1:8080/", "http://[2001:db8::1]/",
		"http://0.0.0.0:8080/", "http://127.1/", "http://localhost.example.com/", "ftp://127.0.0.1/",
	} {
		if err := testGuard.CheckTargetURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	err := testGuard.CheckTargetURL("http://192.0.2.1/")
	want := "refusing target http://192.0.2.1/: host \"192.0.2.1\" is not a loopback address (127.0.0.0/8, ::1 or localhost); " +
		"cityops-test only sends traffic to this machine"
	if !errors.Is(err, ErrNotLoopback) || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestDialer checks that the dialer checks the resolved address.
func TestDialer(t *testing.T) {
	ctl := testGuard.Dialer().Control
	if ctl("tcp", "127.0.0.1:80", nil) != nil || ctl("tcp6", "[::1]:80", nil) != nil {
		t.Error("loopback dial refused")
	}
	if err := ctl("tcp", "192.0.2.1:80", nil); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("dial 192.0.2.1: %v", err)
	}
}

// TestCheckPostgresDSN checks the database hosts the server would use.
func TestCheckPostgresDSN(t *testing.T) {
	t.Setenv("PGHOST", "")
	t.Setenv("PGSERVICE", "")
	for dsn, ok := range map[string]bool{
		"postgres://u:p@127.0.0.1:5432/db":    true,
		"postgres://u@localhost/db":           true,
		"postgresql://u@[::1]:5432/db":        true,
		"postgres:///db?host=/run/postgres":   true,
		"postgres:///db":                      true,
		"postgres://u@db.example.com/db":      false,
		"postgres://u@127.0.0.1,10.0.0.2/d":   false,
		"postgres:///db?host=10.1.1.1":        false,
		"postgres:///db?hostaddr=10.1.1.1":    false,
		"postgres://u@127.0.0.1/db?service=x": false,
	} {
		if err := testGuard.CheckPostgresDSN(dsn); (err == nil) != ok {
			t.Errorf("CheckPostgresDSN(%q) = %v", dsn, err)
		}
	}
	t.Setenv("PGHOST", "10.1.1.1")
	if err := testGuard.CheckPostgresDSN("postgres:///db"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("PGHOST off this machine: %v", err)
	}
	if err := testGuard.CheckPostgresDSN("postgres://127.0.0.1/db"); err != nil {
		t.Errorf("host in the URL and PGHOST elsewhere: %v", err)
	}
	t.Setenv("PGHOST", "")
	t.Setenv("PGSERVICE", "x")
	if err := testGuard.CheckPostgresDSN("postgres://127.0.0.1/db"); err == nil || !strings.Contains(err.Error(), "pg_service") {
		t.Errorf("PGSERVICE: %v", err)
	}
}

// TestCheckDSN checks the -db values a server-running tool accepts: none
// (SQLite), or a postgres:// URL on this machine.
func TestCheckDSN(t *testing.T) {
	t.Setenv("PGHOST", "")
	t.Setenv("PGSERVICE", "")
	for dsn, ok := range map[string]bool{
		"":                                  true,
		"postgres://u:p@127.0.0.1:5432/db":  true,
		"postgresql://u@[::1]:5432/db":      true,
		"postgres:///db?host=/run/postgres": true,
		"/tmp/x.db":                         false,
		"postgres://u@db.example.com/db":    false,
		"postgres://u@127.0.0.1,10.0.0.2/d": false,
		"postgres:///db?host=10.1.1.1":      false,
	} {
		if err := testGuard.CheckDSN(dsn, " (hint)"); (err == nil) != ok {
			t.Errorf("CheckDSN(%q) = %v", dsn, err)
		}
	}
	if err := testGuard.CheckDSN("/tmp/x.db", " (hint)"); err == nil || err.Error() != "-db: want a postgres:// URL (hint)" {
		t.Errorf("CheckDSN(/tmp/x.db) = %v", err)
	}
}

// TestRedactDSN checks that passwords in the user info and the query are
// hidden and that what is not a URL is left alone.
func TestRedactDSN(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://u:secret@127.0.0.1/x", "postgres://u:xxxxx@127.0.0.1/x"},
		{"postgres://u@127.0.0.1/x?password=secret", "postgres://u@127.0.0.1/x?password=xxxxx"},
		{"/tmp/x.db", "/tmp/x.db"},
	} {
		if got := RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCommandLine checks the recorded command line hides a -db password.
func TestCommandLine(t *testing.T) {
	got := CommandLine("cityops-test", []string{"-db", "postgres://u:secret@127.0.0.1/x", "--db=postgres://v:pw@[::1]/y", "a b", "it's"})
	want := `cityops-test -db postgres://u:xxxxx@127.0.0.1/x '--db=postgres://v:xxxxx@[::1]/y' 'a b' 'it'\''s'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = CommandLine("cityops-test", []string{"-broker=tcp://a:b@127.0.0.1:1883", "-broker", "tcp://c:d@[::1]:1883", "-rate", "1e4"})
	want = "cityops-test -broker=tcp://a:xxxxx@127.0.0.1:1883 -broker 'tcp://c:xxxxx@[::1]:1883' -rate 1e4"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
