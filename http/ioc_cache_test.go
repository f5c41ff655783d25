package http_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/i18n"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestFigureCache: the dashboard's figures are computed once for the
// screens asking within the cache's time, kept apart by what each viewer
// may see, and computed afresh after a case event.
func TestFigureCache(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		cat, err := i18n.Load("")
		if err != nil {
			t.Fatal(err)
		}
		live := notify.NewLiveHub(50 * time.Millisecond)
		hub := &notify.Hub{Outbox: db, Interval: 20 * time.Millisecond}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hub.Run(ctx)
		go live.Run(ctx, hub)
		srv, err := cityhttp.NewServer(cityhttp.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Auth: db, Ping: db.Ping,
			Reports: db, Routing: db, Outbox: db, Stats: db, Entities: db, Contexts: jsonld.NewCache(), Devices: db, Retention: db,
			Alarms: db, Warnings: db, IOC: db, KPI: db, Live: live},
			cityhttp.Config{Addr: "127.0.0.1:0", FigureCache: time.Hour}, cat, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Open(); err != nil {
			t.Fatal(err)
		}
		defer srv.Close(context.Background())
		ts := &testServer{Server: srv, db: db, url: srv.URL(), t: t}
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		head := ts.signIn(cityops.RoleAgencyHead, "SXD", "")
		report := func() {
			t.Helper()
			if _, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "transport.encroachment", Description: "Lấn chiếm vỉa hè",
				Lat: ptr(16.47), Lon: ptr(107.58)}); err != nil {
				t.Fatal(err)
			}
		}
		received := func(token string) string {
			t.Helper()
			res, body := ts.do("GET", "/api/v1/ioc/summary", token, "")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("summary: %d %s", res.StatusCode, body)
			}
			_, rest, _ := strings.Cut(body, `"received":`)
			n, _, _ := strings.Cut(rest, ",")
			return n
		}
		if got := received(op); got != "0" {
			t.Fatalf("before any report: %s", got)
		}
		// The same question again is answered from the cache.
		if got := received(op); got != "0" {
			t.Fatalf("again: %s", got)
		}
		res, body := ts.do("GET", "/metrics", "", "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `cityops_ioc_figure_requests_total{result="hit"} 1`) ||
			!strings.Contains(body, `cityops_ioc_figure_requests_total{result="miss"} 1`) {
			t.Fatalf("metrics: %d", res.StatusCode)
		}
		// A new case moves the figures on at once, whatever the cache's
		// time; the agency head's scope is an answer of its own.
		report() // routed to the ward's People's Committee, and an outbox event
		deadline := time.Now().Add(5 * time.Second)
		for received(op) != "1" {
			if time.Now().After(deadline) {
				t.Fatal("the case event did not refresh the operator's figures")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := received(head); got != "0" {
			t.Fatalf("the roads department's head sees another agency's case: %s", got)
		}
	})
}

// TestTiles: an online basemap is opt-in, and its origin is the only one
// the Content-Security-Policy adds for images.
func TestTiles(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		op := ts.signIn(cityops.RoleOperator, "", "")
		res, body := ts.do("GET", "/ioc", op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-tiles=""`) ||
			!strings.Contains(res.Header.Get("Content-Security-Policy"), "img-src 'self' data:;") {
			t.Fatalf("offline by default: %d %s", res.StatusCode, res.Header.Get("Content-Security-Policy"))
		}
		ts.Server.TileURL = "https://tiles.hue.gov.vn/{z}/{x}/{y}.png"
		res, body = ts.do("GET", "/ioc", op, "")
		if !strings.Contains(body, `data-tiles="https://tiles.hue.gov.vn/{z}/{x}/{y}.png"`) {
			t.Fatalf("tiles not on the map: %d", res.StatusCode)
		}
	})
}

// TestFigureCacheStale: once its time is up an answer is still served at
// once while it is computed again in the background, and the next
// request has the new one.
func TestFigureCacheStale(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		cat, err := i18n.Load("")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := cityhttp.NewServer(cityhttp.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Auth: db, Ping: db.Ping,
			Reports: db, Routing: db, Outbox: db, Stats: db, Entities: db, Contexts: jsonld.NewCache(), Devices: db, Retention: db,
			Alarms: db, Warnings: db, IOC: db, KPI: db},
			// A cache time long enough that a busy machine (CI runs this
			// under the race detector) still asks again within it.
			cityhttp.Config{Addr: "127.0.0.1:0", FigureCache: 2 * time.Second}, cat, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Open(); err != nil {
			t.Fatal(err)
		}
		defer srv.Close(context.Background())
		ts := &testServer{Server: srv, db: db, url: srv.URL(), t: t}
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		op := ts.signIn(cityops.RoleOperator, "", "")
		received := func() string {
			res, body := ts.do("GET", "/api/v1/ioc/summary", op, "")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("summary: %d %s", res.StatusCode, body)
			}
			_, rest, _ := strings.Cut(body, `"received":`)
			n, _, _ := strings.Cut(rest, ",")
			return n
		}
		if got := received(); got != "0" {
			t.Fatal(got)
		}
		// No live hub here: nothing tells the cache of the new report.
		if _, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "transport.encroachment", Description: "Lấn chiếm",
			Lat: ptr(16.47), Lon: ptr(107.58)}); err != nil {
			t.Fatal(err)
		}
		if got := received(); got != "0" {
			t.Fatalf("within the cache's time: %s", got)
		}
		time.Sleep(2100 * time.Millisecond)
		if got := received(); got != "0" {
			t.Fatalf("the stale answer first: %s", got)
		}
		deadline := time.Now().Add(5 * time.Second)
		for received() != "1" {
			if time.Now().After(deadline) {
				t.Fatal("the background computation never replaced the stale answer")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
