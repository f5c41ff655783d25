package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

var ict = time.FixedZone("ICT", 7*60*60)

// at is a Huế local time.
func at(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, ict) }

func mustNew(t testing.TB, seed int64, sites []Site, opts Options) *Generator {
	t.Helper()
	g, err := New(seed, sites, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func value(t testing.TB, e Entity, attr string) any {
	t.Helper()
	a, ok := e[attr].(map[string]any)
	if !ok {
		t.Fatalf("%v has no attribute %s", e["id"], attr)
	}
	return a["value"]
}

func num(t testing.TB, e Entity, attr string) float64 {
	t.Helper()
	switch v := value(t, e, attr).(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	t.Fatalf("%v.%s is not a number", e["id"], attr)
	return 0
}

func byID(ents []Entity) map[string]Entity {
	m := make(map[string]Entity, len(ents))
	for _, e := range ents {
		m[e["id"].(string)] = e
	}
	return m
}

func sitesOf(typ, category string) []Site {
	var out []Site
	for _, s := range HueSites() {
		if s.Type == typ && (category == "" || s.Category == category) {
			out = append(out, s)
		}
	}
	return out
}

func TestHueSites(t *testing.T) {
	sites := HueSites()
	ids := map[string]bool{}
	sectors := map[string]bool{}
	for _, s := range sites {
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
		if ids[s.EntityID()] {
			t.Errorf("duplicate %s", s.EntityID())
		}
		ids[s.EntityID()] = true
		sectors[s.Sector] = true
		if s.Lat < 16.0 || s.Lat > 16.8 || s.Lon < 107.0 || s.Lon > 108.2 {
			t.Errorf("%s at %v,%v is outside Huế", s.ID, s.Lat, s.Lon)
		}
	}
	if len(sectors) != 5 {
		t.Errorf("sites cover %d sectors, want 5", len(sectors))
	}
	counts := []struct {
		typ, category string
		min, max      int
	}{
		{TypeAirQualityObserved, "", 6, 6},
		{TypeFloodMonitoring, "", 2, 2},
		{TypeTrafficFlowObserved, "", 10, 10},
		{TypeOffStreetParking, "", 5, 5},
		{TypeTourismPresenceObserved, "", 5, 5},
		{TypeBuilding, CategoryHospital, 4, 4},
		{TypeBuilding, CategorySchool, 6, 6},
		{TypeKeyPerformanceIndicator, "", 4, 10},
	}
	for _, c := range counts {
		if n := len(sitesOf(c.typ, c.category)); n < c.min || n > c.max {
			t.Errorf("%s %s: %d sites, want %d–%d", c.typ, c.category, n, c.min, c.max)
		}
	}
	for _, id := range []string{
		"urn:ngsi-ld:FloodMonitoring:hue-kim-long", "urn:ngsi-ld:FloodMonitoring:hue-phu-oc",
		"urn:ngsi-ld:TourismPresenceObserved:hue-dai-noi", "urn:ngsi-ld:TourismPresenceObserved:hue-chua-thien-mu",
		"urn:ngsi-ld:TourismPresenceObserved:hue-lang-tu-duc", "urn:ngsi-ld:TourismPresenceObserved:hue-lang-khai-dinh",
		"urn:ngsi-ld:TourismPresenceObserved:hue-lang-minh-mang", "urn:ngsi-ld:Building:hue-bv-trung-uong-hue",
		"urn:ngsi-ld:TrafficFlowObserved:hue-cau-truong-tien", "urn:ngsi-ld:TrafficFlowObserved:hue-cau-phu-xuan",
	} {
		if !ids[id] {
			t.Errorf("missing %s", id)
		}
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	good := HueSites()
	with := func(f func(*Site)) []Site {
		s := append([]Site(nil), good...)
		f(&s[0])
		return s
	}
	gauge := func(f func(*Site)) []Site {
		s := append([]Site(nil), good...)
		for i := range s {
			if s[i].Type == TypeFloodMonitoring {
				f(&s[i])
				break
			}
		}
		return s
	}
	tests := []struct {
		name  string
		sites []Site
		opts  Options
		want  string
	}{
		{"no sites", nil, Options{}, "no sites"},
		{"bad slug", with(func(s *Site) { s.ID = "Đông Ba" }), Options{}, "lower-case"},
		{"unknown type", with(func(s *Site) { s.Type = "Thing" }), Options{}, "unknown entity type"},
		{"unknown sector", with(func(s *Site) { s.Sector = "sport" }), Options{}, "unknown sector"},
		{"duplicate", append(HueSites(), good[0]), Options{}, "duplicate"},
		{"alarms not increasing", gauge(func(s *Site) { s.Alarms = [3]float64{2, 1, 3} }), Options{}, "increasing"},
		{"flood without rise time", good, Options{Flood: &FloodEvent{Start: at(2026, 11, 1, 0, 0), PeakLevel: 4}}, "flood"},
		{"flood without level", good, Options{Flood: &FloodEvent{Start: at(2026, 11, 1, 0, 0), Peak: time.Hour}}, "flood"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(1, tc.sites, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func encodeAll(t testing.TB, ents []Entity) string {
	t.Helper()
	b, err := json.Marshal(ents)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeterminism(t *testing.T) {
	instants := []time.Time{at(2026, 3, 10, 7, 30), at(2026, 8, 15, 23, 59), at(2027, 1, 1, 0, 0)}
	a := mustNew(t, 7, HueSites(), Options{})
	b := mustNew(t, 7, HueSites(), Options{})
	// b is asked in reverse order and twice: no state may leak between calls.
	for i := len(instants) - 1; i >= 0; i-- {
		b.At(instants[i])
	}
	for _, tt := range instants {
		if x, y := encodeAll(t, a.At(tt)), encodeAll(t, b.At(tt)); x != y {
			t.Fatalf("same seed, same instant %v, different entities", tt)
		}
	}
	other := mustNew(t, 8, HueSites(), Options{})
	if encodeAll(t, a.At(instants[0])) == encodeAll(t, other.At(instants[0])) {
		t.Fatal("a different seed gives the same city")
	}
	// A site's values depend on (seed, site, instant) only, not on the
	// other sites in the catalogue.
	var alone []Site
	for _, s := range HueSites() {
		if s.Type != TypeKeyPerformanceIndicator && s.ID != "dai-noi" && s.ID != "kim-long" {
			alone = append(alone, s)
		}
	}
	small := mustNew(t, 7, alone, Options{})
	full := byID(a.At(instants[0]))
	for _, e := range small.At(instants[0]) {
		id := e["id"].(string)
		if encodeAll(t, []Entity{e}) != encodeAll(t, []Entity{full[id]}) {
			t.Errorf("%s differs when other sites are left out", id)
		}
	}
	// Concurrent use gives the same answers.
	var wg sync.WaitGroup
	want := encodeAll(t, a.At(instants[1]))
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if encodeAll(t, a.At(instants[1])) != want {
				t.Error("concurrent At differs")
			}
		}()
	}
	wg.Wait()
}

// TestSmoothness walks days minute by minute and bounds the change of every
// numeric value from one minute to the next.
func TestSmoothness(t *testing.T) {
	flood := &FloodEvent{Start: at(2026, 11, 1, 0, 0), Peak: 30 * time.Hour, PeakLevel: 4.2}
	// Largest allowed change per minute, by entity type (or KPI) and attribute.
	bounds := map[string]float64{
		"AirQualityObserved.pm25":                        1.5,
		"AirQualityObserved.pm10":                        3,
		"AirQualityObserved.no2":                         1.5,
		"AirQualityObserved.o3":                          1.5,
		"AirQualityObserved.airQualityIndex":             4,
		"FloodMonitoring.currentLevel":                   0.02,
		"TrafficFlowObserved.intensity":                  60,
		"TrafficFlowObserved.occupancy":                  0.015,
		"TrafficFlowObserved.averageVehicleSpeed":        1.0,
		"OffStreetParking.occupancy":                     0.04,
		"TourismPresenceObserved.visitorCount":           40,
		"Building.bedOccupancyRate":                      1.0, // one bed of A Lưới's 120 is 0.83 %
		"Building.attendanceRate":                        8,
		"KeyPerformanceIndicator.pm25-24h-mean":          0.3,
		"KeyPerformanceIndicator.hospital-bed-occupancy": 0.3,
		"KeyPerformanceIndicator.school-attendance":      8,
		"KeyPerformanceIndicator.monument-visitors":      100,
		"KeyPerformanceIndicator.traffic-mean-speed":     0.5,
		"KeyPerformanceIndicator.parking-occupancy":      3,
	}
	days := []struct {
		name string
		day  time.Time
		opts Options
	}{
		{"tuesday in March", at(2026, 3, 10, 0, 0), Options{}},
		{"saturday into sunday", at(2026, 3, 14, 12, 0), Options{}},
		{"flood", at(2026, 11, 1, 18, 0), Options{Flood: flood}},
	}
	for _, tc := range days {
		t.Run(tc.name, func(t *testing.T) {
			g := mustNew(t, 3, HueSites(), tc.opts)
			prev := map[string]float64{}
			worst := map[string]float64{}
			for m := 0; m <= 24*60; m++ {
				for _, e := range g.At(tc.day.Add(time.Duration(m) * time.Minute)) {
					typ := e["type"].(string)
					id := e["id"].(string)
					for attr := range e {
						key := typ + "." + attr
						if typ == TypeKeyPerformanceIndicator {
							if attr != "kpiValue" {
								continue
							}
							key = typ + "." + strings.TrimPrefix(id, "urn:ngsi-ld:KeyPerformanceIndicator:hue-")
						}
						bound, ok := bounds[key]
						if !ok {
							continue
						}
						v := num(t, e, attr)
						if p, seen := prev[id+attr]; seen {
							d := math.Abs(v - p)
							worst[key] = math.Max(worst[key], d)
							if d > bound {
								t.Errorf("%s %s jumped by %.3f (bound %v) at %v", id, attr, d, bound, tc.day.Add(time.Duration(m)*time.Minute))
							}
						}
						prev[id+attr] = v
					}
				}
			}
			for k := range bounds {
				if _, ok := worst[k]; !ok {
					t.Errorf("no values seen for %s", k)
				}
			}
			t.Logf("largest changes per minute: %v", worst)
		})
	}
}

// monthMean is the mean of attr at the given local time of day over the days
// of a month that match the filter.
func monthMean(t *testing.T, g *Generator, id, attr string, year int, month time.Month, hour, minute int, keep func(time.Weekday) bool) float64 {
	t.Helper()
	var sum float64
	n := 0
	for d := at(year, month, 1, hour, minute); d.Month() == month; d = d.AddDate(0, 0, 1) {
		if keep != nil && !keep(d.Weekday()) {
			continue
		}
		sum += num(t, byID(g.At(d))[id], attr)
		n++
	}
	return sum / float64(n)
}

func weekdays(d time.Weekday) bool { return d != time.Saturday && d != time.Sunday }
func weekends(d time.Weekday) bool { return d == time.Saturday || d == time.Sunday }

func TestRhythms(t *testing.T) {
	g := mustNew(t, 11, HueSites(), Options{})
	tuesday, sunday := at(2026, 3, 10, 0, 0), at(2026, 3, 15, 0, 0)
	clock := func(day time.Time, h, m int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}

	t.Run("traffic peaks at rush hour, quieter on Sunday, slower when busy", func(t *testing.T) {
		for _, day := range []time.Time{tuesday, at(2026, 9, 16, 0, 0), at(2026, 12, 3, 0, 0)} {
			rush, night, evening := byID(g.At(clock(day, 7, 30))), byID(g.At(clock(day, 3, 0))), byID(g.At(clock(day, 17, 30)))
			sun := byID(g.At(clock(sunday, 7, 30)))
			for _, s := range sitesOf(TypeTrafficFlowObserved, "") {
				id := s.EntityID()
				if num(t, rush[id], "intensity") <= 2*num(t, night[id], "intensity") {
					t.Errorf("%s %s: 07:30 flow %v not well above 03:00 flow %v", day.Format("Jan 2"), s.ID, num(t, rush[id], "intensity"), num(t, night[id], "intensity"))
				}
				if num(t, evening[id], "averageVehicleSpeed") >= num(t, night[id], "averageVehicleSpeed") {
					t.Errorf("%s: 17:30 speed not below 03:00 speed", s.ID)
				}
				if num(t, evening[id], "occupancy") <= num(t, night[id], "occupancy") {
					t.Errorf("%s: 17:30 occupancy not above 03:00", s.ID)
				}
				if day == tuesday && num(t, sun[id], "intensity") >= num(t, rush[id], "intensity") {
					t.Errorf("%s: Sunday 07:30 flow not below Tuesday's", s.ID)
				}
			}
		}
	})

	t.Run("monuments are empty when closed", func(t *testing.T) {
		for d := 0; d < 7; d++ {
			day := tuesday.AddDate(0, 0, d)
			for _, hm := range [][2]int{{0, 0}, {5, 0}, {6, 59}, {18, 30}, {22, 0}, {23, 30}} {
				for _, s := range sitesOf(TypeTourismPresenceObserved, "") {
					e := byID(g.At(clock(day, hm[0], hm[1])))[s.EntityID()]
					if v := num(t, e, "visitorCount"); v != 0 || value(t, e, "openNow") != false {
						t.Errorf("%s %s %02d:%02d: %v visitors, open=%v", day.Weekday(), s.ID, hm[0], hm[1], v, value(t, e, "openNow"))
					}
				}
			}
		}
		daiNoi := "urn:ngsi-ld:TourismPresenceObserved:hue-dai-noi"
		if v := num(t, byID(g.At(clock(tuesday, 20, 0)))[daiNoi], "visitorCount"); v != 0 {
			t.Errorf("Đại Nội Tuesday 20:00: %v visitors, no night opening that day", v)
		}
		friday := tuesday.AddDate(0, 0, 3)
		if v := num(t, byID(g.At(clock(friday, 20, 0)))[daiNoi], "visitorCount"); v <= 0 {
			t.Errorf("Đại Nội Friday 20:00: no visitors at the night opening")
		}
		for _, s := range sitesOf(TypeTourismPresenceObserved, "") {
			e := byID(g.At(clock(tuesday, 10, 0)))[s.EntityID()]
			if num(t, e, "visitorCount") <= 0 || value(t, e, "openNow") != true {
				t.Errorf("%s Tuesday 10:00 should be open with visitors", s.ID)
			}
		}
	})

	t.Run("weekend visitors and parking exceed weekdays", func(t *testing.T) {
		daiNoi := "urn:ngsi-ld:TourismPresenceObserved:hue-dai-noi"
		if we, wd := monthMean(t, g, daiNoi, "visitorCount", 2026, 4, 10, 0, weekends), monthMean(t, g, daiNoi, "visitorCount", 2026, 4, 10, 0, weekdays); we <= wd {
			t.Errorf("Đại Nội 10:00: weekend mean %v not above weekday mean %v", we, wd)
		}
		ngoMon := "urn:ngsi-ld:OffStreetParking:hue-ngo-mon"
		we := monthMean(t, g, ngoMon, "occupancy", 2026, 4, 11, 0, weekends)
		wd := monthMean(t, g, ngoMon, "occupancy", 2026, 4, 11, 0, weekdays)
		night := monthMean(t, g, ngoMon, "occupancy", 2026, 4, 3, 0, nil)
		if !(we > wd && wd > night+0.2) {
			t.Errorf("Ngọ Môn car park occupancy: weekend 11:00 %.2f, weekday 11:00 %.2f, 03:00 %.2f", we, wd, night)
		}
	})

	t.Run("schools are empty on Sunday, in July and at night", func(t *testing.T) {
		cases := []struct {
			when time.Time
			full bool
		}{
			{clock(sunday, 9, 0), false},
			{at(2026, 7, 7, 9, 0), false}, // a Tuesday in the summer holiday
			{clock(tuesday, 22, 0), false},
			{clock(tuesday.AddDate(0, 0, 4), 15, 0), false}, // Saturday afternoon
			{clock(tuesday, 9, 0), true},
			{clock(tuesday.AddDate(0, 0, 4), 9, 0), true}, // Saturday morning
		}
		for _, c := range cases {
			ents := byID(g.At(c.when))
			for _, s := range sitesOf(TypeBuilding, CategorySchool) {
				e := ents[s.EntityID()]
				rate, present := num(t, e, "attendanceRate"), num(t, e, "studentsPresent")
				if c.full && rate < 80 {
					t.Errorf("%s %v: attendance %v%%, expected classes", s.ID, c.when, rate)
				}
				if !c.full && (rate != 0 || present != 0 || value(t, e, "inSession") != false) {
					t.Errorf("%s %v: attendance %v%% / %v present, expected none", s.ID, c.when, rate, present)
				}
			}
		}
	})

	t.Run("PM2.5 is worse at rush hour and in the dry season", func(t *testing.T) {
		for _, s := range sitesOf(TypeAirQualityObserved, "") {
			id := s.EntityID()
			morning := monthMean(t, g, id, "pm25", 2026, 3, 7, 30, nil)
			evening := monthMean(t, g, id, "pm25", 2026, 3, 19, 0, nil)
			night := monthMean(t, g, id, "pm25", 2026, 3, 3, 0, nil)
			if morning <= night || evening <= night {
				t.Errorf("%s March means: 07:30 %.1f, 19:00 %.1f, 03:00 %.1f", s.ID, morning, evening, night)
			}
			if dry, wet := monthMean(t, g, id, "pm25", 2026, 3, 12, 0, nil), monthMean(t, g, id, "pm25", 2026, 10, 12, 0, nil); dry <= wet {
				t.Errorf("%s: March noon mean %.1f not above October's %.1f", s.ID, dry, wet)
			}
		}
		// Stations by the traffic are worse than rural ones.
		dongBa := monthMean(t, g, "urn:ngsi-ld:AirQualityObserved:hue-dong-ba", "pm25", 2026, 3, 7, 30, nil)
		aLuoi := monthMean(t, g, "urn:ngsi-ld:AirQualityObserved:hue-a-luoi", "pm25", 2026, 3, 7, 30, nil)
		if dongBa <= aLuoi {
			t.Errorf("Đông Ba rush-hour PM2.5 %.1f not above A Lưới's %.1f", dongBa, aLuoi)
		}
	})

	t.Run("hospital beds drift slowly inside 75–95 %", func(t *testing.T) {
		for _, s := range sitesOf(TypeBuilding, CategoryHospital) {
			id := s.EntityID()
			lo, hi := 100.0, 0.0
			for d := 0; d < 60; d++ {
				v := num(t, byID(g.At(at(2026, 1, 1, 12, 0).AddDate(0, 0, d)))[id], "bedOccupancyRate")
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			if lo < 75 || hi > 95 || hi-lo < 1 {
				t.Errorf("%s over 60 days: %.1f–%.1f %%", s.ID, lo, hi)
			}
		}
	})

	t.Run("rivers ripple with the tide", func(t *testing.T) {
		for _, s := range sitesOf(TypeFloodMonitoring, "") {
			lo, hi := 100.0, 0.0
			for m := 0; m < 25*60; m += 10 {
				v := num(t, byID(g.At(tuesday.Add(time.Duration(m) * time.Minute)))[s.EntityID()], "currentLevel")
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			if hi-lo < s.Tide || hi > s.Alarms[0] {
				t.Errorf("%s on a dry-season day: %.2f–%.2f m", s.ID, lo, hi)
			}
		}
	})
}

func TestFlood(t *testing.T) {
	start := at(2026, 11, 1, 0, 0)
	flood := &FloodEvent{Start: start, Peak: 30 * time.Hour, PeakLevel: 4.2}
	g := mustNew(t, 5, HueSites(), Options{Flood: flood})
	calm := mustNew(t, 5, HueSites(), Options{})
	kimLong, phuOc := "urn:ngsi-ld:FloodMonitoring:hue-kim-long", "urn:ngsi-ld:FloodMonitoring:hue-phu-oc"

	peakOf := func(id string) (time.Time, float64) {
		var when time.Time
		best := -1.0
		for tt := start.Add(-6 * time.Hour); tt.Before(start.Add(5 * 24 * time.Hour)); tt = tt.Add(5 * time.Minute) {
			if v := num(t, byID(g.At(tt))[id], "currentLevel"); v > best {
				best, when = v, tt
			}
		}
		return when, best
	}
	klWhen, klPeak := peakOf(kimLong)
	poWhen, poPeak := peakOf(phuOc)

	if d := klWhen.Sub(start.Add(flood.Peak)); d < -2*time.Hour || d > 2*time.Hour {
		t.Errorf("Kim Long peaks at %v, %v from the planned peak", klWhen, d)
	}
	if math.Abs(klPeak-flood.PeakLevel) > 0.15 {
		t.Errorf("Kim Long peak %.2f m, planned %.2f m", klPeak, flood.PeakLevel)
	}
	near := byID(g.At(start.Add(flood.Peak)))[kimLong]
	if lv := num(t, near, "currentLevel"); lv <= 3.5 || value(t, near, "floodLevelStatus") != "alarm3" || num(t, near, "alarmStage") != 3 {
		t.Errorf("Kim Long at the peak: %.2f m, %v, stage %v; want above level III (3.5 m)", lv, value(t, near, "floodLevelStatus"), num(t, near, "alarmStage"))
	}
	if lag := poWhen.Sub(klWhen); lag < time.Hour || lag > 6*time.Hour {
		t.Errorf("Phú Ốc peaks %v after Kim Long, want later by about 3 h", lag)
	}
	if poPeak <= 4.5 {
		t.Errorf("Phú Ốc peak %.2f m does not pass its level III (4.5 m) though Kim Long passed its own", poPeak)
	}
	// Phú Ốc is still rising when Kim Long peaks.
	if a, b := num(t, byID(g.At(klWhen))[phuOc], "currentLevel"), num(t, byID(g.At(klWhen.Add(time.Hour)))[phuOc], "currentLevel"); b <= a {
		t.Errorf("Phú Ốc not rising when Kim Long peaks: %.2f then %.2f", a, b)
	}
	// The flood leaves the time before it alone, and recedes within days.
	for _, tt := range []time.Time{start.Add(-time.Hour), start} {
		if encodeAll(t, g.At(tt)) != encodeAll(t, calm.At(tt)) {
			t.Errorf("flood changes the city at %v, before it starts", tt)
		}
	}
	if lv := num(t, byID(g.At(start.Add(8 * 24 * time.Hour)))[kimLong], "currentLevel"); lv >= 2.0 {
		t.Errorf("Kim Long still at %.2f m eight days later", lv)
	}
	// Without the flood the same days stay below level II.
	if lv := num(t, byID(calm.At(start.Add(flood.Peak)))[kimLong], "currentLevel"); lv >= 2.0 {
		t.Errorf("no flood, yet Kim Long at %.2f m", lv)
	}
}

func TestStream(t *testing.T) {
	g := mustNew(t, 9, HueSites(), Options{})
	from := at(2026, 3, 10, 6, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var batches [][]Entity
	err := g.Stream(ctx, from, time.Minute, 60000, func(es []Entity) error { // one simulated minute per ms
		batches = append(batches, es)
		if len(batches) == 6 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream after cancel: %v", err)
	}
	if len(batches) < 6 {
		t.Fatalf("%d batches", len(batches))
	}
	if len(batches[0]) != len(HueSites()) {
		t.Fatalf("first batch has %d entities, want all %d", len(batches[0]), len(HueSites()))
	}
	last := map[string]string{}
	prevStamp := ""
	for i, b := range batches {
		if len(b) == 0 {
			t.Fatalf("batch %d is empty", i)
		}
		s := stampOf(b[0])
		when, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("batch %d: %v has no observation time", i, b[0]["id"])
		}
		for _, e := range b {
			if stampOf(e) != s {
				t.Errorf("batch %d mixes instants: %v at %s, %v at %s", i, b[0]["id"], s, e["id"], stampOf(e))
			}
		}
		if i == 0 && !when.Equal(from) {
			t.Errorf("first batch at %v, want %v", when, from)
		}
		if when.Sub(from)%time.Minute != 0 || s <= prevStamp {
			t.Errorf("batch %d at %v is not a later whole step", i, s)
		}
		prevStamp = s
		// What is emitted is exactly the generator's state at that instant,
		// and only what changed since it was last emitted.
		want := byID(g.At(when))
		for _, e := range b {
			id := e["id"].(string)
			if encodeAll(t, []Entity{e}) != encodeAll(t, []Entity{want[id]}) {
				t.Errorf("batch %d: %s differs from At", i, id)
			}
			fp, _ := fingerprint(e)
			if last[id] == fp {
				t.Errorf("batch %d: %s emitted unchanged", i, id)
			}
			last[id] = fp
		}
	}
	// At 06:01 the monuments are closed and the schools empty, as at 06:00:
	// those entities must not be sent again.
	if len(batches[1]) >= len(batches[0]) {
		t.Errorf("second batch resends %d of %d entities", len(batches[1]), len(batches[0]))
	}
}

// stampOf is the observation time of an entity: any observedAt will do,
// they are all the same instant.
func stampOf(e Entity) string {
	for _, v := range e {
		if m, ok := v.(map[string]any); ok {
			if s, ok := m["observedAt"].(string); ok {
				return s
			}
		}
	}
	return ""
}

func TestStreamErrors(t *testing.T) {
	g := mustNew(t, 9, HueSites(), Options{})
	from := at(2026, 3, 10, 6, 0)
	boom := errors.New("broker down")
	calls := 0
	err := g.Stream(context.Background(), from, time.Minute, 60000, func([]Entity) error {
		if calls++; calls == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 3 {
		t.Errorf("emit error: Stream returned %v after %d calls", err, calls)
	}
	for _, bad := range []struct {
		every time.Duration
		speed float64
	}{{0, 1}, {time.Minute, 0}, {time.Minute, math.NaN()}} {
		if err := g.Stream(context.Background(), from, bad.every, bad.speed, func([]Entity) error { return nil }); err == nil {
			t.Errorf("Stream(every=%v, speed=%v) accepted", bad.every, bad.speed)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Stream(ctx, from, time.Minute, 1, func([]Entity) error { t.Error("emit after cancel"); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// Real time: at speed 1 nothing beyond the first tick comes in 50 ms.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n := 0
	err = g.Stream(ctx, from, time.Minute, 1, func([]Entity) error { n++; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || n != 1 {
		t.Errorf("speed 1 for 50 ms: %d emits, err %v", n, err)
	}
}

func BenchmarkAt(b *testing.B) {
	g := mustNew(b, 1, HueSites(), Options{Flood: &FloodEvent{Start: at(2026, 11, 1, 0, 0), Peak: 30 * time.Hour, PeakLevel: 4.2}})
	t0 := at(2026, 3, 10, 7, 30)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.At(t0.Add(time.Duration(i) * time.Minute))
		i++
	}
	b.ReportMetric(float64(len(HueSites())), "entities/op")
}
