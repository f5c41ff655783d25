package main

// The dashboard scenario's readings: the Huế demo's sector sensors
// (simulate.HueSites), one reading a minute per attribute the dashboard
// reads, going back from now, sent to the bulk observation path in
// temporal representation. Bodies are built with appends, not
// encoding/json, so that the load tool takes as little as possible of
// the cores it shares with cityops. Values stay within every demo alarm
// rule's normal range, so that the history raises no alarm and opens no
// case.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/simulate"
)

// readingAttr is how one attribute of a site moves: a daily cycle around
// base plus uniform noise, rounded to a sensor's precision. With
// perCapacity the three are fractions of the site's capacity (spots,
// beds, students, vehicles an hour).
type readingAttr struct {
	name               string
	base, cycle, noise float64
	digits             int
	perCapacity        bool
}

// readingShapes are the attributes of each kind of site that the
// dashboard's map, key figures and charts read (http/ioc.go), by type or
// type/category.
var readingShapes = map[string][]readingAttr{
	"AirQualityObserved": {{"pm25", 7, 3, 3, 1, false}, {"pm10", 15, 5, 5, 1, false}, {"no2", 20, 8, 5, 1, false},
		{"o3", 40, 15, 10, 1, false}},
	"FloodMonitoring":         {{"currentLevel", 0.5, 0.2, 0.05, 2, false}},
	"TrafficFlowObserved":     {{"averageVehicleSpeed", 35, 10, 5, 1, false}, {"intensity", 0.2, 0.08, 0.03, 0, true}},
	"OffStreetParking":        {{"availableSpotNumber", 0.45, 0.15, 0.1, 0, true}, {"occupancy", 0.55, 0.15, 0.1, 3, false}},
	"TourismPresenceObserved": {{"visitorCount", 300, 200, 100, 0, false}},
	"Building/hospital":       {{"bedOccupancyRate", 72, 6, 5, 1, false}, {"bedsAvailable", 0.25, 0.05, 0.05, 0, true}},
	"Building/school":         {{"attendanceRate", 92, 3, 3, 1, false}, {"studentsPresent", 0.9, 0.03, 0.03, 0, true}},
}

// readingSite is one site with readings.
type readingSite struct {
	id, typ  string
	capacity float64
	phase    float64 // of its daily cycle, so that sites differ
	attrs    []readingAttr
}

// perLine is how many minutes one NDJSON line carries per attribute.
const perLine = 60

// readingStream is every site's readings, minute m at start + m minutes.
type readingStream struct {
	sites   []readingSite
	series  int // attributes over all sites
	start   time.Time
	minutes int64 // how many minutes, the last one just before now
}

// newReadingStream covers the demo's sector sensors with at least total
// readings, ending at the minute before now.
func newReadingStream(total int64, now time.Time) *readingStream {
	st := &readingStream{}
	for i, s := range simulate.HueSites() {
		attrs := readingShapes[shapeKey(s)]
		if attrs == nil {
			continue // the KPIs: no sensor readings
		}
		st.sites = append(st.sites, readingSite{id: s.EntityID(), typ: s.Type, capacity: float64(max(s.Capacity, 1)),
			phase: 2 * math.Pi * unit(uint64(i)<<50), attrs: attrs})
		st.series += len(attrs)
	}
	st.minutes = (total + int64(st.series) - 1) / int64(st.series)
	st.start = now.UTC().Truncate(time.Minute).Add(-time.Duration(st.minutes) * time.Minute)
	return st
}

// at is minute m's time.
func (st *readingStream) at(m int64) time.Time { return st.start.Add(time.Duration(m) * time.Minute) }

// value is site s's attribute a at minute m.
func (st *readingStream) value(s, a int, m int64) float64 {
	site, x := &st.sites[s], &st.sites[s].attrs[a]
	day := math.Sin(2*math.Pi*float64(m%1440)/1440 + site.phase)
	v := x.base + x.cycle*day + x.noise*(unit(uint64(s)<<48^uint64(a)<<40^uint64(m))-0.5)
	if x.perCapacity {
		v *= site.capacity
	}
	p := math.Pow(10, float64(x.digits))
	return max(0, math.Round(v*p)/p)
}

// appendMinutes appends the NDJSON lines of minutes [m0, m1): per site
// and up to perLine minutes one line, each attribute an array of
// instances (the temporal representation).
func (st *readingStream) appendMinutes(b []byte, m0, m1 int64) []byte {
	var at []byte
	stamps := make([][]byte, 0, perLine)
	for k0 := m0; k0 < m1; k0 += perLine {
		k1 := min(k0+perLine, m1)
		stamps = stamps[:0]
		for m := k0; m < k1; m++ {
			at = st.at(m).AppendFormat(at[:0], time.RFC3339)
			stamps = append(stamps, append([]byte(nil), at...))
		}
		for s := range st.sites {
			site := &st.sites[s]
			b = append(b, `{"id":"`...)
			b = append(b, site.id...)
			b = append(b, `","type":"`...)
			b = append(b, site.typ...)
			b = append(b, '"')
			for a, x := range site.attrs {
				b = append(b, `,"`...)
				b = append(b, x.name...)
				b = append(b, `":[`...)
				for m := k0; m < k1; m++ {
					if m > k0 {
						b = append(b, ',')
					}
					b = append(b, `{"type":"Property","value":`...)
					b = strconv.AppendFloat(b, st.value(s, a, m), 'f', -1, 64)
					b = append(b, `,"observedAt":"`...)
					b = append(b, stamps[m-k0]...)
					b = append(b, `"}`...)
				}
				b = append(b, ']')
			}
			b = append(b, "}\n"...)
		}
	}
	return b
}

// mix is SplitMix64's finaliser: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unit returns a deterministic number in [0, 1) for a seed.
func unit(seed uint64) float64 { return float64(mix(seed)>>11) / (1 << 53) }

// shapeKey is the key of a site's readingShapes.
func shapeKey(s simulate.Site) string {
	if s.Type == simulate.TypeBuilding {
		return s.Type + "/" + s.Category
	}
	return s.Type
}

// upsertSites creates the demo's sites as NGSI-LD entities (name,
// location, category and the rest, as the simulator makes them as of at)
// in one batch upsert. The attributes the readings carry are left out:
// the simulator's values might meet a demo alarm rule.
func upsertSites(ctx context.Context, api *loadtool.Client, at time.Time) (int, error) {
	sites := simulate.HueSites()
	gen, err := simulate.New(1, sites, simulate.Options{})
	if err != nil {
		return 0, err
	}
	ents := gen.At(at)
	for i, s := range sites {
		for _, a := range readingShapes[shapeKey(s)] {
			delete(ents[i], a.name)
		}
	}
	body, err := json.Marshal(ents)
	if err != nil {
		return 0, err
	}
	rep, err := api.Do(ctx, http.MethodPost, "/ngsi-ld/v1/entityOperations/upsert", "application/json", body)
	if err != nil {
		return 0, err
	}
	if rep.Status != http.StatusCreated && rep.Status != http.StatusNoContent {
		return 0, fmt.Errorf("batch upsert of the sites: %s", loadtool.StatusKind(rep))
	}
	return len(ents), nil
}

// ingestAnswer is the bulk path's answer.
type ingestAnswer struct {
	Accepted int `json:"accepted"`
	Lines    int `json:"lines"`
	Rejected []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	} `json:"rejected"`
}

// postObservations sends one NDJSON body and returns how many
// observations the server says it stored; an error when it stored fewer
// than want.
func postObservations(ctx context.Context, api *loadtool.Client, body []byte, want int64) (int64, error) {
	rep, err := api.Do(ctx, http.MethodPost, "/api/v1/observations", "application/x-ndjson", body)
	if err != nil {
		return 0, errors.New(loadtool.ErrorKind(err))
	}
	var ans ingestAnswer
	if rep.Status != http.StatusOK && rep.Status != http.StatusMultiStatus && rep.Status != http.StatusBadRequest ||
		json.Unmarshal(rep.Body, &ans) != nil || ans.Lines == 0 {
		return 0, errors.New(loadtool.StatusKind(rep))
	}
	if n := int64(ans.Accepted); n < want {
		msg := fmt.Sprintf("HTTP %d: %d of %d observations refused", rep.Status, want-n, want)
		if len(ans.Rejected) > 0 {
			msg += ", the first: " + ans.Rejected[0].Error
		}
		return n, errors.New(msg)
	}
	return int64(ans.Accepted), nil
}

// loadClients is how many clients send the readings, as cityops-dataload's
// bulk scenario.
const loadClients = 2

// requestReadings is about how many observations one request carries.
const requestReadings = 100_000

// loadReadings sends the whole stream, oldest first, from loadClients
// clients, printing progress; it returns how many were stored. It stops
// at the first failed request.
func (s *session) loadReadings(ctx context.Context, st *readingStream) (int64, time.Duration, error) {
	minutes := max(perLine, int64(requestReadings/st.series)/perLine*perLine)
	var (
		next    atomic.Int64
		stored  atomic.Int64
		errOnce sync.Once
		failure error
		stop    = make(chan struct{})
	)
	fail := func(err error) {
		errOnce.Do(func() { failure = err; close(stop) })
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		total := st.minutes * int64(st.series)
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := stored.Load()
				el := time.Since(start)
				s.r.progress("dashboard: readings %s of %s stored, %.0f s, %s/s", thousands(n), thousands(total), el.Seconds(),
					rate(float64(n)/el.Seconds()))
			}
		}
	})
	var workers sync.WaitGroup
	for range loadClients {
		workers.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				select {
				case <-stop:
					return
				case <-s.srv.Exited():
					fail(s.exited())
					return
				default:
				}
				m0 := next.Add(minutes) - minutes
				if m0 >= st.minutes {
					return
				}
				m1 := min(m0+minutes, st.minutes)
				buf = st.appendMinutes(buf[:0], m0, m1)
				n, err := postObservations(ctx, s.api, buf, (m1-m0)*int64(st.series))
				stored.Add(n)
				if err != nil && ctx.Err() == nil {
					fail(fmt.Errorf("readings of minutes %d–%d: %w", m0, m1, err))
					return
				}
			}
		})
	}
	workers.Wait()
	close(done)
	wg.Wait()
	if failure == nil {
		failure = ctx.Err()
	}
	return stored.Load(), time.Since(start), failure
}
