package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// fakeOpen311 answers like cityops in a deterministic pattern: every 10th
// request 500, every 10th (offset 5) 201 without an id, the rest 201 with
// an id; every request takes 2 ms and every 50th 30 ms more.
type fakeOpen311 struct {
	n, c500, cNoID, bad atomic.Int64
	mu                  sync.Mutex
	ids                 []string
	conns               atomic.Int64
	inFlight, maxFlight atomic.Int64
}

// ServeHTTP checks the form is what cityops would get, then answers by the
// request's number.
func (f *fakeOpen311) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.maxFlight.Load(); cur > m && !f.maxFlight.CompareAndSwap(m, cur); m = f.maxFlight.Load() {
	}
	n := f.n.Add(1)
	r.ParseForm()
	lat, _ := strconv.ParseFloat(r.PostForm.Get("lat"), 64)
	lon, _ := strconv.ParseFloat(r.PostForm.Get("long"), 64)
	if r.Method != http.MethodPost || r.PostForm.Get("api_key") != "k&y" || r.PostForm.Get("service_code") != serviceCode ||
		lat < latMin || lat > latMax || lon < lonMin || lon > lonMax ||
		!strings.HasPrefix(r.PostForm.Get("description"), "Rác chưa thu gom #") {
		f.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	time.Sleep(2 * time.Millisecond)
	if n%50 == 1 {
		time.Sleep(30 * time.Millisecond)
	}
	switch n % 10 {
	case 0:
		f.c500.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	case 5:
		f.cNoID.Add(1)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("[]\n"))
	default:
		id := fmt.Sprintf("T%07d", n)
		f.mu.Lock()
		f.ids = append(f.ids, id)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "[{\"service_request_id\":%q,\"service_notice\":\"x\"}]\n", id)
	}
}

// startFake serves f on 127.0.0.1 and counts new connections.
func startFake(t *testing.T, f *fakeOpen311) string {
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/open311/v2/requests.json"
}

// TestLoadClosedLoop runs the load for 2 s and checks every count against
// the server's own, the latencies against what it waited, and that the
// workers reuse their connections.
func TestLoadClosedLoop(t *testing.T) {
	f := &fakeOpen311{}
	u := startFake(t, f)
	measured := make(chan struct{})
	r, err := runLoad(context.Background(), loadSpec{URL: u, APIKey: "k&y", Check: checkCreated,
		Concurrency: 4, Duration: 2 * time.Second, OnMeasure: func() { close(measured) }})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-measured:
	default:
		t.Error("OnMeasure was not called")
	}
	// Without a warm-up every request the server saw was measured.
	if f.bad.Load() != 0 {
		t.Fatalf("%d malformed requests", f.bad.Load())
	}
	if r.Sent != f.n.Load() || r.WarmupSent != 0 {
		t.Errorf("sent %d (+%d warm-up), server saw %d", r.Sent, r.WarmupSent, f.n.Load())
	}
	if r.Accepted != int64(len(f.ids)) || r.Errors["HTTP 500"] != f.c500.Load() ||
		r.Errors["201 without service_request_id"] != f.cNoID.Load() || len(r.Errors) != 2 {
		t.Errorf("accepted %d, errors %v; server: %d ids, %d 500s, %d without id", r.Accepted, r.Errors, len(f.ids), f.c500.Load(), f.cNoID.Load())
	}
	if sum := r.Accepted + r.Errors["HTTP 500"] + r.Errors["201 without service_request_id"]; sum != r.Sent {
		t.Errorf("accepted + errors = %d, sent %d", sum, r.Sent)
	}
	if r.Sent < 100 {
		t.Errorf("only %d requests in 2 s", r.Sent)
	}
	// Every id the server issued was recorded, once.
	var got []string
	for i := range r.IDs.Len() {
		got = append(got, r.IDs.At(i))
	}
	slices.Sort(got)
	slices.Sort(f.ids)
	if !slices.Equal(got, f.ids) {
		t.Errorf("recorded %d ids, server issued %d", len(got), len(f.ids))
	}
	// Latencies: one per accepted request, sorted, and bounded below by
	// what the server waited; >1% of them waited 30 ms more.
	l := r.Latency
	if int64(len(l)) != r.Accepted || !slices.IsSorted(l) {
		t.Fatalf("%d latencies (sorted %v) for %d accepted", len(l), slices.IsSorted(l), r.Accepted)
	}
	p50, p90, p99, p999, mx := loadtool.Quantile(l, 500), loadtool.Quantile(l, 900), loadtool.Quantile(l, 990), loadtool.Quantile(l, 999), loadtool.Quantile(l, 1000)
	if !(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= mx && mx == l[len(l)-1]) {
		t.Errorf("quantiles out of order: %d %d %d %d %d", p50, p90, p99, p999, mx)
	}
	if l[0] < 2000 || p50 >= 30000 || p99 < 32000 {
		t.Errorf("latency min %dµs p50 %dµs p99 %dµs; want min ≥ 2 ms, p50 < 30 ms, p99 ≥ 32 ms", l[0], p50, p99)
	}
	// Closed loop: exactly the workers in flight, over reused connections.
	// net/http hands a connection back to the idle pool on its own
	// goroutine after the body's EOF, so a worker's next request can race
	// it and dial once more: a loaded machine sees a spare connection or
	// two, never one per request.
	if f.maxFlight.Load() != 4 || f.conns.Load() > 4+2 {
		t.Errorf("max in flight %d, %d connections; want 4 and at most 6", f.maxFlight.Load(), f.conns.Load())
	}
	if r.Elapsed < 2*time.Second || r.Throughput() <= 0 || r.Throughput() > float64(r.Accepted)/2 {
		t.Errorf("elapsed %s, throughput %.1f for %d accepted", r.Elapsed, r.Throughput(), r.Accepted)
	}
	var perSec int64
	for _, v := range r.PerSecond {
		perSec += v
	}
	if len(r.PerSecond) != 2 || perSec > r.Accepted || perSec < r.Accepted*3/4 {
		t.Errorf("per second %v for %d accepted", r.PerSecond, r.Accepted)
	}
}

// TestLoadOpenLoop checks that the open-loop schedule sends exactly
// rate × time requests and splits warm-up from measurement by schedule.
func TestLoadOpenLoop(t *testing.T) {
	f := &fakeOpen311{}
	u := startFake(t, f)
	// 200 req/s over 0.5 s warm-up + 1 s: slots 0..299, the first 100 in
	// the warm-up. The schedule is fixed, so the counts are exact.
	r, err := runLoad(context.Background(), loadSpec{URL: u, APIKey: "k&y", Check: checkCreated,
		Concurrency: 16, Rate: 200, Warmup: 500 * time.Millisecond, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.WarmupSent != 100 || r.Sent != 200 || f.n.Load() != 300 {
		t.Errorf("warm-up %d, measured %d, server saw %d; want 100, 200, 300", r.WarmupSent, r.Sent, f.n.Load())
	}
	var errs int64
	for _, v := range r.Errors {
		errs += v
	}
	if r.Accepted+errs != r.Sent || int64(len(r.Latency)) != r.Accepted {
		t.Errorf("accepted %d + errors %d != sent %d, or %d latencies", r.Accepted, errs, r.Sent, len(r.Latency))
	}
	// Warm-up ids count for durability too.
	if int64(r.IDs.Len()) != r.Accepted+r.WarmupAccepted || r.IDs.Len() != len(f.ids) {
		t.Errorf("%d ids for %d+%d accepted, server issued %d", r.IDs.Len(), r.Accepted, r.WarmupAccepted, len(f.ids))
	}
	if r.Latency[0] < 2000 {
		t.Errorf("latency %dµs below the server's 2 ms", r.Latency[0])
	}
}

// TestRefuseNonLoopback checks that targets, dials and databases off this
// machine are refused before any traffic.
func TestRefuseNonLoopback(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:8080/", "http://127.9.9.9/", "http://[::1]:80/x", "http://localhost:1/", "https://LOCALHOST./",
	} {
		if err := guard.CheckTargetURL(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{
		"http://192.0.2.1/", "http://example.com/", "http://10.0.0.1:8080/", "http://[2001:db8::1]/",
		"http://0.0.0.0:8080/", "http://127.1/", "http://localhost.example.com/", "ftp://127.0.0.1/",
	} {
		if err := guard.CheckTargetURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	// The load function refuses before sending anything.
	_, err := runLoad(context.Background(), loadSpec{URL: "http://192.0.2.1/open311/v2/requests.json",
		Check: checkCreated, Concurrency: 1, Duration: time.Second})
	if !errors.Is(err, loadtool.ErrNotLoopback) || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("runLoad to 192.0.2.1: %v", err)
	}
	_, err = verifyDurable(context.Background(), "http://example.com", &idList{})
	if !errors.Is(err, loadtool.ErrNotLoopback) {
		t.Errorf("verifyDurable to example.com: %v", err)
	}
	// The dialer checks the resolved address as well.
	ctl := guard.Dialer().Control
	if ctl("tcp", "127.0.0.1:80", nil) != nil || ctl("tcp6", "[::1]:80", nil) != nil || ctl("tcp", "192.0.2.1:80", nil) == nil {
		t.Error("dialer control wrong")
	}
	// And the database the server would connect to.
	t.Setenv("PGHOST", "")
	t.Setenv("PGSERVICE", "")
	for dsn, ok := range map[string]bool{
		"":                                    true,
		"/tmp/x.db":                           true,
		"postgres://u:p@127.0.0.1:5432/db":    true,
		"postgres://u@localhost/db":           true,
		"postgresql://u@[::1]:5432/db":        true,
		"postgres:///db?host=/run/postgres":   true,
		"postgres://u@db.example.com/db":      false,
		"postgres://u@127.0.0.1,10.0.0.2/d":   false,
		"postgres:///db?host=10.1.1.1":        false,
		"postgres://u@127.0.0.1/db?service=x": false,
	} {
		if err := checkDSN(dsn); (err == nil) != ok {
			t.Errorf("checkDSN(%q) = %v", dsn, err)
		}
	}
}

// TestVerifyDurable checks chunking, duplicate ids and the missing count.
func TestVerifyDurable(t *testing.T) {
	stored := map[string]bool{}
	var ids idList
	for i := range 250 {
		id := fmt.Sprintf("ID%05d", i)
		ids.add(id)
		if i != 17 && i != 201 {
			stored[id] = true
		}
	}
	ids.add("ID00003") // handed out twice
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		asked := strings.Split(r.URL.Query().Get("service_request_id"), ",")
		if r.URL.Path != "/open311/v2/requests.json" || len(asked) > verifyChunk {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		var out []string
		for _, id := range asked {
			if stored[id] {
				out = append(out, fmt.Sprintf("{\"service_request_id\":%q}", id))
			}
		}
		fmt.Fprintf(w, "[%s]", strings.Join(out, ","))
	}))
	defer srv.Close()
	d, err := verifyDurable(context.Background(), srv.URL, &ids)
	if err != nil {
		t.Fatal(err)
	}
	if d.Unique != 250 || d.Duplicates != 1 || d.Found != 248 || d.Missing != 2 ||
		!slices.Equal(d.Sample, []string{"ID00017", "ID00201"}) || calls.Load() != 3 {
		t.Errorf("got %+v after %d calls", d, calls.Load())
	}
}

// TestCommandLine checks the recorded command line hides a -db password.
func TestCommandLine(t *testing.T) {
	got := loadtool.CommandLine("cityops-load", []string{"-cityops", "/tmp/cityops", "-db", "postgres://u:secret@127.0.0.1/x", "-duration", "20s", "a b"})
	want := "cityops-load -cityops /tmp/cityops -db postgres://u:xxxxx@127.0.0.1/x -duration 20s 'a b'"
	if got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
}
