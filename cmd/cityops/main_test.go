package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestMain lets the test binary act as the cityops program when asked, so
// that tests can start real server processes (and kill them).
func TestMain(m *testing.M) {
	if os.Getenv("CITYOPS_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// run runs a command in-process and returns its status and output.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	st := Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return st, out.String(), errb.String()
}

// serve starts `cityops serve` in-process on a free port and returns its
// URL; the server stops when the test ends.
func serve(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		// "-night off": reports made in Huế's night would wait for the
		// morning, and tests that expect them assigned would fail when
		// run at that hour (a test may still give -night itself).
		done <- RunEnv(ctx, append([]string{"serve", "-addr", "127.0.0.1:0", "-night", "off"}, args...),
			&Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Ready: func(u string) { ready <- u }})
	}()
	select {
	case u := <-ready:
		t.Cleanup(func() {
			cancel()
			if st := <-done; st != 0 {
				t.Errorf("serve exited with %d: %s", st, errb.String())
			}
		})
		return u, &out
	case st := <-done:
		cancel()
		t.Fatalf("serve exited with %d before listening: %s", st, errb.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not start in 60 s")
	}
	return "", nil
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	readonly := filepath.Join(dir, "ro")
	os.Mkdir(readonly, 0o500)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, tt := range []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"no command", nil, exitUsage, "Usage: cityops COMMAND"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "-colour", "red"}, exitUsage, "flag provided but not defined: -colour"},
		{"bad addr and level", []string{"serve", "-addr", "nowhere", "-log-level", "loud"}, exitUsage, "-log-level"},
		{"bad night", []string{"serve", "-night", "25:00-07:00"}, exitUsage, "-night"},
		{"bad calendar", []string{"serve", "-calendar", file}, exitUsage, "-calendar"},
		{"bad radius", []string{"serve", "-duplicate-radius", "0"}, exitUsage, "-duplicate-radius"},
		{"bad db url", []string{"migrate", "-db", "mysql://root@localhost/x", "-data", dir}, exitError, `want empty (SQLite in the data directory), a path ending in .db, or a postgres:// URL`},
		{"unreachable postgres", []string{"migrate", "-db", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", "-data", dir}, exitError, "connect to postgres database"},
		{"data dir is a file", []string{"migrate", "-data", file}, exitError, "data directory"},
		{"user without password", []string{"user", "add", "-email", "a@b.vn", "-role", "admin", "-data", dir}, exitUsage, "password on standard input"},
		{"apikey no verb", []string{"apikey"}, exitUsage, "give one of: create, list, revoke"},
		{"backup without -to", []string{"backup", "-data", dir}, exitUsage, "give -to FILE"},
		{"backup postgres", []string{"backup", "-to", "x", "-db", "postgres://x@127.0.0.1/y"}, exitUsage, "pg_dump"},
		{"areas import no file", []string{"areas", "import", "-data", dir}, exitUsage, "exactly one GeoJSON file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, out, errs := run(t, "", tt.args...)
			if st != tt.status || !strings.Contains(out+errs, tt.want) {
				t.Errorf("status %d, output %q %q; want %d with %q", st, out, errs, tt.status, tt.want)
			}
		})
	}
	if os.Getuid() != 0 { // root writes anywhere
		st, _, errs := run(t, "", "migrate", "-data", readonly)
		if st == 0 || !strings.Contains(errs, "not writable") {
			t.Errorf("read-only data dir: %d %q", st, errs)
		}
	}
	// Environment fallback, and _FILE for secrets.
	t.Setenv("CITYOPS_LOG_LEVEL", "loud")
	if st, _, errs := run(t, "", "serve"); st != exitUsage || !strings.Contains(errs, "-log-level") {
		t.Errorf("CITYOPS_LOG_LEVEL=loud: %d %q", st, errs)
	}
	t.Setenv("CITYOPS_LOG_LEVEL", "")
	os.Unsetenv("CITYOPS_LOG_LEVEL")
	t.Setenv("CITYOPS_DB_FILE", filepath.Join(dir, "missing"))
	if st, _, errs := run(t, "", "migrate", "-data", dir); st != exitUsage || !strings.Contains(errs, "CITYOPS_DB_FILE") {
		t.Errorf("missing CITYOPS_DB_FILE: %d %q", st, errs)
	}
}

func TestHelp(t *testing.T) {
	st, out, _ := run(t, "", "help")
	if st != 0 {
		t.Fatalf("help = %d", st)
	}
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	for _, c := range []string{"serve", "migrate", "backup"} {
		st, _, errs := run(t, "", c, "-h")
		if st != 0 || !strings.Contains(errs, "-data") || !strings.Contains(errs, "CITYOPS_") {
			t.Errorf("%s -h = %d %q", c, st, errs)
		}
	}
	if st, _, errs := run(t, "", "serve", "-h"); st != 0 || !strings.Contains(errs, "-demo") {
		t.Errorf("serve -h = %d %q", st, errs)
	}
}

// TestCommands runs the one-shot commands against each database.
func TestCommands(t *testing.T) {
	for _, dialect := range storagetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			dsn := storagetest.DSN(t, dialect)
			db := []string{"-data", dir, "-db", dsn}
			if st, out, errs := run(t, "", append([]string{"migrate"}, db...)...); st != 0 || !strings.Contains(out, "up to date") {
				t.Fatalf("migrate = %d %q %q", st, out, errs)
			}
			// Areas from GeoJSON: a good file, then bad ones that change nothing.
			good := filepath.Join(dir, "areas.geojson")
			os.WriteFile(good, []byte(`{"type":"FeatureCollection","features":[
				{"type":"Feature","properties":{"code":"HUE","name":"Huế","kind":"city"},"geometry":{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,17],[107,16]]]}},
				{"type":"Feature","properties":{"code":"P01","name":"Thuận An","parent":"HUE"},"geometry":{"type":"Polygon","coordinates":[[[107.6,16.5],[107.7,16.5],[107.7,16.6],[107.6,16.6],[107.6,16.5]]]}}]}`), 0o600)
			st, out, errs := run(t, "", append([]string{"areas", "import", "-kind", "ward"}, append(db, good)...)...)
			if st != 0 || !strings.Contains(out, "2 areas created, 0 updated") {
				t.Fatalf("areas import = %d %q %q", st, out, errs)
			}
			st, out, _ = run(t, "", append([]string{"areas", "import", "-kind", "ward"}, append(db, good)...)...)
			if st != 0 || !strings.Contains(out, "0 areas created, 2 updated") {
				t.Fatalf("second import = %d %q", st, out)
			}
			for name, body := range map[string]string{
				"open.geojson": `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"P02","name":"x","kind":"ward"},"geometry":{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,17]]]}}]}`,
				"json.geojson": `{"type":"FeatureCollection","features":[`,
				"kind.geojson": `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"P03","name":"ok","kind":"ward"},"geometry":{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,16]]]}},{"type":"Feature","properties":{"code":"P04","name":"x","kind":"planet"},"geometry":{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,16]]]}}]}`,
			} {
				path := filepath.Join(dir, name)
				os.WriteFile(path, []byte(body), 0o600)
				st, _, errs := run(t, "", append([]string{"areas", "import"}, append(db, path)...)...)
				lines := strings.Split(strings.TrimSpace(errs), "\n")
				if st != exitUsage || len(lines) != 1 || !strings.Contains(errs, name) {
					t.Errorf("import %s = %d %q; want one line naming the file", name, st, errs)
				}
			}
			// P03 came before the bad P04 in the same file: nothing of it stayed.
			sdb, err := storage.Open(context.Background(), dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			_, n, err := sdb.FindAreas(context.Background(), storageFilter())
			sdb.Close()
			if err != nil || n != 2 {
				t.Fatalf("areas after failed imports = %d, %v; want 2", n, err)
			}

			st, out, errs = run(t, "a long enough password\n", append([]string{"user", "add", "-email", "Lan@hue.gov.vn", "-role", "ward_officer", "-area", "P01"}, db...)...)
			if st != 0 || !strings.Contains(out, "lan@hue.gov.vn") {
				t.Fatalf("user add = %d %q %q", st, out, errs)
			}
			st, _, errs = run(t, "short\n", append([]string{"user", "add", "-email", "x@hue.gov.vn", "-role", "king"}, db...)...)
			if st != exitUsage || !strings.Contains(errs, "role") || !strings.Contains(errs, "password") {
				t.Errorf("bad user add = %d %q", st, errs)
			}
			st, out, errs = run(t, "", append([]string{"apikey", "create", "-name", "HEPCO", "-scopes", "org:read, org:write"}, db...)...)
			key := strings.TrimSpace(out)
			if st != 0 || !strings.HasPrefix(key, "cok_") || strings.Count(out, "\n") != 1 {
				t.Fatalf("apikey create = %d %q %q; want only the key on stdout", st, out, errs)
			}
			st, _, errs = run(t, "", append([]string{"apikey", "create", "-name", "x", "-scopes", "root"}, db...)...)
			if st != exitUsage || !strings.Contains(errs, "unknown scope") {
				t.Errorf("bad scope = %d %q", st, errs)
			}
			st, out, _ = run(t, "", append([]string{"apikey", "list"}, db...)...)
			if st != 0 || !strings.Contains(out, "HEPCO") || strings.Contains(out, key) {
				t.Errorf("apikey list = %d %q (must not show the secret)", st, out)
			}
			if st, _, errs := run(t, "", append([]string{"apikey", "revoke", "-id", "1"}, db...)...); st != 0 {
				t.Errorf("revoke = %d %q", st, errs)
			}

			if dialect == storage.SQLite {
				backup := filepath.Join(t.TempDir(), "b.db")
				if st, out, errs := run(t, "", append([]string{"backup", "-to", backup}, db...)...); st != 0 || !strings.Contains(out, backup) {
					t.Fatalf("backup = %d %q %q", st, out, errs)
				}
				if st, _, errs := run(t, "", append([]string{"backup", "-to", backup}, db...)...); st == 0 || !strings.Contains(errs, "exists") {
					t.Errorf("backup over an existing file = %d %q", st, errs)
				}
				b, err := storage.Open(context.Background(), backup, "")
				if err != nil {
					t.Fatal(err)
				}
				_, n, err := b.FindAreas(context.Background(), storageFilter())
				b.Close()
				if err != nil || n != 2 {
					t.Errorf("areas in backup = %d, %v", n, err)
				}
			}
		})
	}
}

// TestServeDemo boots the real program with -demo and checks what a new user
// sees: the URL and logins printed, the sign-in working, the organisation
// served.
func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	base, out := serve(t, "-demo", "-data", dir)
	text := out.String()
	if !strings.Contains(text, "cityops is running at "+base) || !strings.Contains(text, "admin@hue.demo") {
		t.Fatalf("serve -demo printed %q", text)
	}
	// An administrator must set up two-step sign-in at the first sign-in
	// (serve's default -mfa-roles); until then nothing staff may see is
	// served, and afterwards the code is asked for at every sign-in.
	email, pw := demoLogin(t, dir, "admin")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(base+"/login", url.Values{"email": {email}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/login/verify") {
		t.Fatalf("sign-in = %d to %q, want the second step", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := client.Get(base + "/api/v1/me"); res.StatusCode != 401 {
		t.Fatalf("half signed in, /api/v1/me = %d, want 401", res.StatusCode)
	}
	res, err = client.Get(base + "/login/verify")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no authenticator key on the set-up page:\n%s", page)
	}
	secret := strings.ReplaceAll(string(m[1]), " ", "")
	code, _ := auth.TOTPCode(secret, auth.TOTPStep(time.Now()))
	res, err = client.PostForm(base+"/login/verify", url.Values{"code": {code}, "next": {"/staff"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.Count(string(page), "<li><code>") != 10 {
		t.Fatalf("set-up = %d, want the 10 recovery codes:\n%s", res.StatusCode, page)
	}
	if res, _ := client.Get(base + "/api/v1/me"); res.StatusCode != 200 {
		t.Fatalf("signed in, /api/v1/me = %d", res.StatusCode)
	}
	client.Jar, _ = cookiejar.New(nil)
	res, _ = client.PostForm(base+"/login", url.Values{"email": {email}, "password": {pw}})
	res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Location"), "/login/verify") {
		t.Fatalf("second sign-in goes to %q, want the code", res.Header.Get("Location"))
	}
	res, _ = client.PostForm(base+"/login/verify", url.Values{"code": {"000000"}, "next": {"/staff"}})
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("a wrong code = %d, want 401", res.StatusCode)
	}
	res, err = http.Get(base + "/api/v1/areas.geojson")
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Features []json.RawMessage `json:"features"`
	}
	json.NewDecoder(res.Body).Decode(&fc)
	res.Body.Close()
	if len(fc.Features) != 41 {
		t.Errorf("demo map has %d areas, want 41", len(fc.Features))
	}
}

func demoLogin(t *testing.T, dir, role string) (string, string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "demo-logins.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[0] == role {
			return fields[1], fields[2]
		}
	}
	t.Fatalf("no %s in demo logins", role)
	return "", ""
}

// TestKillDuringWrites kills a serving process with SIGKILL while clients
// create areas, then checks that every create that was answered 201 is in
// the database and that the database is intact.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, dialect := range storagetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			dsn := storagetest.DSN(t, dialect)
			key := func() string {
				st, out, errs := run(t, "", "apikey", "create", "-name", "w", "-scopes", "org:write", "-data", dir, "-db", dsn)
				if st != 0 {
					t.Fatalf("apikey: %s", errs)
				}
				return strings.TrimSpace(out)
			}()
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-data", dir, "-db", dsn)
			cmd.Env = append(os.Environ(), "CITYOPS_TEST_AS_MAIN=1")
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = io.Discard
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("no start line: %v", err)
			}
			base := strings.TrimSpace(strings.TrimPrefix(line, "cityops is running at "))
			go io.Copy(io.Discard, stdout)

			var acked []string
			deadline := time.Now().Add(10 * time.Second)
			killed := false
			for i := 0; time.Now().Before(deadline); i++ {
				if i == 150 {
					cmd.Process.Kill() // SIGKILL, mid-stream
					killed = true
				}
				code := fmt.Sprintf("A%04d", i)
				req, _ := http.NewRequest("POST", base+"/api/v1/areas",
					strings.NewReader(`{"code":"`+code+`","name":"Khu `+code+`","kind":"zone"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					if killed {
						break
					}
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode == 201 {
					acked = append(acked, code)
				}
			}
			cmd.Wait()
			if len(acked) < 100 {
				t.Fatalf("only %d writes acknowledged before the kill", len(acked))
			}
			db, err := storage.Open(context.Background(), dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.Dialect() == storage.SQLite {
				var res string
				if err := db.SQL().QueryRow(`pragma integrity_check`).Scan(&res); err != nil || res != "ok" {
					t.Fatalf("integrity_check = %q, %v", res, err)
				}
			}
			for _, code := range acked {
				if _, err := db.FindAreaByCode(context.Background(), code); err != nil {
					t.Errorf("acknowledged area %s lost: %v", code, err)
				}
			}
		})
	}
}

// TestSimulate feeds a running cityops through its NGSI-LD API and checks
// the city data arrived; serve -demo does the same in-process.
func TestSimulate(t *testing.T) {
	dir := t.TempDir()
	base, _ := serve(t, "-demo", "-data", dir)
	st, out, errs := run(t, "", "apikey", "create", "-name", "sim", "-scopes", "data:write,data:read", "-data", dir)
	if st != 0 {
		t.Fatalf("apikey: %s", errs)
	}
	key := strings.TrimSpace(out)
	count := func(typ string) int {
		req, _ := http.NewRequest("GET", base+"/ngsi-ld/v1/entities?type="+typ+"&count=true&limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		n, _ := strconv.Atoi(res.Header.Get("NGSILD-Results-Count"))
		return n
	}
	// The demo's own simulator has written the sites already or soon.
	deadline := time.Now().Add(10 * time.Second)
	for count("AirQualityObserved") == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := count("FloodMonitoring"); n != 2 {
		t.Errorf("demo river gauges = %d, want Kim Long and Phú Ốc", n)
	}
	st, out, errs = run(t, "", "simulate", "-url", base, "-key", key, "-for", "2s", "-every", "1m", "-speed", "600", "-flood", "0s,1h,4.2")
	if st != 0 || !strings.Contains(out, "sent ") {
		t.Fatalf("simulate = %d %q %q", st, out, errs)
	}
	if n := count("TrafficFlowObserved"); n < 5 {
		t.Errorf("traffic points = %d", n)
	}
	if st, _, errs := run(t, "", "simulate", "-url", base, "-key", "cok_bad_key", "-for", "2s"); st == 0 || !strings.Contains(errs, "401") {
		t.Errorf("bad key: %d %q", st, errs)
	}
	if st, _, errs := run(t, "", "simulate", "-key", "k", "-flood", "soon"); st != exitUsage || !strings.Contains(errs, "-flood") {
		t.Errorf("bad flood: %d %q", st, errs)
	}
}

// TestServeMQTT starts the server with MQTT ingestion against the local
// broker and stops it cleanly.
func TestServeMQTT(t *testing.T) {
	broker := os.Getenv("CITYOPS_TEST_MQTT")
	if broker == "" {
		t.Skip("set CITYOPS_TEST_MQTT to test against a broker")
	}
	base, _ := serve(t, "-data", t.TempDir(), "-mqtt", broker)
	res, err := http.Get(base + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz with MQTT = %v, %v", res, err)
	}
	res.Body.Close()
}
