package simulate

import (
	"fmt"
	"math"
	"time"
)

// Entity is one NGSI-LD entity in normalized form (id, type, and each
// attribute as a Property, GeoProperty or Relationship object), ready for
// encoding/json and for POSTing to a context broker or the cityops API.
type Entity map[string]any

// FloodEvent describes a flood wave for the demo: the reference gauge (Kim
// Long in the Huế set) peaks at PeakLevel metres Peak after Start; every
// other gauge peaks its own FloodLag later at the level of the same alarm
// stage on its own scale.
type FloodEvent struct {
	// Start is when the water begins to rise above its ordinary level.
	Start time.Time
	// Peak is the rise time from Start to the reference gauge's peak; the
	// recession takes about twice as long.
	Peak time.Duration
	// PeakLevel is the reference gauge's peak water level in metres.
	PeakLevel float64
}

// Options changes what the generator produces beyond the ordinary rhythms.
type Options struct {
	// Flood, when set, adds a flood wave to the river gauges.
	Flood *FloodEvent
}

// Generator computes the state of every site at any instant. It keeps no
// state between calls: the same seed, site and instant always give the same
// values, and consecutive minutes change smoothly. It is safe for
// concurrent use.
type Generator struct {
	sites []Site
	keys  []uint64
	opts  Options
	// floodRise is the metres a gauge's flood wave adds at its peak.
	floodRise []float64
	byType    map[string][]int
	hospitals []int
	schools   []int
}

// hue is Huế's time: ICT, UTC+7 all year (Vietnam has no daylight saving),
// fixed here so that the generator needs no time-zone database.
var hue = time.FixedZone("ICT", 7*60*60)

// New returns a generator for the sites, or an error naming the first site
// that is inconsistent.
func New(seed int64, sites []Site, opts Options) (*Generator, error) {
	if len(sites) == 0 {
		return nil, errNoSites
	}
	g := &Generator{
		sites:     append([]Site(nil), sites...),
		keys:      make([]uint64, len(sites)),
		opts:      opts,
		floodRise: make([]float64, len(sites)),
		byType:    map[string][]int{},
	}
	seen := map[string]bool{}
	for i, s := range g.sites {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		id := s.EntityID()
		if seen[id] {
			return nil, fmt.Errorf("site %q: duplicate entity id %s", s.ID, id)
		}
		seen[id] = true
		g.keys[i] = keyOf(seed, s.Type, s.ID)
		g.byType[s.Type] = append(g.byType[s.Type], i)
		if s.Type == TypeBuilding {
			if s.Category == CategoryHospital {
				g.hospitals = append(g.hospitals, i)
			} else {
				g.schools = append(g.schools, i)
			}
		}
	}
	if f := opts.Flood; f != nil {
		if !(f.Peak > 0) || !(f.PeakLevel > 0) || f.Start.IsZero() {
			return nil, fmt.Errorf("simulate: flood needs a start, a positive rise time and a positive peak level")
		}
		g.prepareFlood(f)
	}
	return g, nil
}

// Sites returns a copy of the generator's sites, in the order At returns
// their entities.
func (g *Generator) Sites() []Site { return append([]Site(nil), g.sites...) }

// instant is a moment broken down the ways the models need it.
type instant struct {
	t     time.Time
	stamp string  // RFC 3339 UTC, whole seconds; set by At only
	hours float64 // hours since the Unix epoch
	h     float64 // local hour of the day, fractional
	local time.Time
	wd    time.Weekday
	prev  time.Weekday // yesterday
	blend float64      // weight of today against yesterday: 0 at midnight, 1 from 01:00
	y     float64      // fraction of the year, 0 on 1 January
}

var epoch2000 = time.Date(2000, 1, 1, 0, 0, 0, 0, hue)

func newInstant(t time.Time) instant {
	t = t.Truncate(time.Second)
	l := t.In(hue)
	h := float64(l.Hour()) + float64(l.Minute())/60 + float64(l.Second())/3600
	days := float64(l.Sub(epoch2000)) / float64(24*time.Hour)
	y := math.Mod(days/365.2425, 1)
	if y < 0 {
		y++
	}
	return instant{
		t:     t,
		hours: float64(t.Unix()) / 3600,
		h:     h,
		local: l,
		wd:    l.Weekday(),
		prev:  (l.Weekday() + 6) % 7,
		blend: smoothstep(h),
		y:     y,
	}
}

// byDay blends a per-weekday value across midnight so that nothing jumps
// when the date changes.
func (c instant) byDay(f func(time.Weekday) float64) float64 {
	return lerp(f(c.prev), f(c.wd), c.blend)
}

// ---- Models ---------------------------------------------------------------

// tourSeason is Huế's tourist season: busiest in late winter and spring
// (Tết, festivals, foreign visitors), a second summer peak of domestic
// travel, quietest in the October–November rains.
func tourSeason(y float64) float64 {
	return 1 + 0.2*math.Cos(2*math.Pi*(y-0.17)) + 0.12*math.Cos(4*math.Pi*(y-0.55))
}

// dayShape scales the parts of the daily traffic profile for a weekday.
type dayShape struct{ peaks, midday, evening float64 }

func shapeOf(d time.Weekday) dayShape {
	switch d {
	case time.Saturday:
		return dayShape{0.7, 0.6, 0.45}
	case time.Sunday:
		return dayShape{0.45, 0.5, 0.4}
	}
	return dayShape{1, 0.55, 0.35}
}

// trafficProfile is the share of a road's saturation flow at local hour h:
// a night trough, peaks at 7:15 and 17:25, a daytime plateau, a short
// lunchtime rush and an evening tail.
func trafficProfile(c instant) float64 {
	s := dayShape{
		peaks:   c.byDay(func(d time.Weekday) float64 { return shapeOf(d).peaks }),
		midday:  c.byDay(func(d time.Weekday) float64 { return shapeOf(d).midday }),
		evening: c.byDay(func(d time.Weekday) float64 { return shapeOf(d).evening }),
	}
	h := c.h
	return 0.06 +
		s.peaks*(0.9*gauss(h, 7.25, 0.85)+0.95*gauss(h, 17.4, 1.0)+0.12*gauss(h, 11.4, 0.4)) +
		s.midday*window(h, 8.5, 16.5, 0.7) +
		s.evening*gauss(h, 20, 1.6)
}

type airState struct{ pm25, pm10, no2, o3 float64 }

// air models an air-quality station: PM2.5 follows a daily cycle (morning
// rush, evening rush with cooking and the night inversion), the station's
// exposure to traffic, the season (highest in the dry late winter and
// spring, lowest when the September–December rains wash the air) and slow
// weather-like noise.
func (g *Generator) air(i int, c instant) airState {
	s, k := g.sites[i], g.keys[i]
	season := 1 + 0.3*math.Cos(2*math.Pi*(c.y-0.17))
	tp := trafficProfile(c)
	diurnal := 0.7 + 0.4*gauss(c.h, 7.5, 1.3) + 0.55*gauss(c.h, 19, 2)
	n := 0.3*smooth(channel(k, 1), c.hours, 8) + 0.1*smooth(channel(k, 2), c.hours, 1)
	pm25 := s.Base * season * (diurnal + 0.35*s.Exposure*tp) * math.Exp(n)
	pm10 := pm25*(1.7+0.15*smooth(channel(k, 3), c.hours, 6)) + 6*s.Exposure*tp
	no2 := (6 + 30*s.Exposure*tp + 8*gauss(c.h, 20, 2)) * math.Sqrt(season) *
		math.Exp(0.2*smooth(channel(k, 4), c.hours, 4))
	sun := gauss(c.h, 14, 2.8)
	o3 := (15 + 70*sun*(1-0.3*math.Min(no2/60, 1))) * (1 + 0.15*math.Cos(2*math.Pi*(c.y-0.35))) *
		math.Exp(0.15*smooth(channel(k, 5), c.hours, 6))
	return airState{pm25: pm25, pm10: pm10, no2: no2, o3: o3}
}

// riverBaseline is a gauge's level without a flood event: the dry-season
// level, a rainy-season rise centred on early November, slow weather
// noise and a tidal ripple (semi-diurnal M2 and diurnal K1 periods).
func (g *Generator) riverBaseline(i int, c instant) float64 {
	s, k := g.sites[i], g.keys[i]
	rainy := 0.55 * s.Alarms[0] * yearBell(c.y, 0.85, 0.07)
	slow := (0.06 + 0.25*rainy) * smooth(channel(k, 1), c.hours, 48)
	p1 := float64(channel(k, 2)%6283) / 1000
	p2 := float64(channel(k, 3)%6283) / 1000
	tide := s.Tide*math.Sin(2*math.Pi*c.hours/12.42+p1) + 0.45*s.Tide*math.Sin(2*math.Pi*c.hours/23.93+p2)
	return math.Max(0.05, s.Base+rainy+slow+tide)
}

// alarmStage maps a level to a continuous alarm stage: 0…1 below level I,
// 1…2 between I and II, 2…3 between II and III, above 3 beyond III.
func alarmStage(h float64, a [3]float64) float64 {
	switch {
	case h <= a[0]:
		return h / a[0]
	case h <= a[1]:
		return 1 + (h-a[0])/(a[1]-a[0])
	case h <= a[2]:
		return 2 + (h-a[1])/(a[2]-a[1])
	}
	return 3 + (h-a[2])/(a[2]-a[1])
}

// stageLevel is the inverse of alarmStage.
func stageLevel(st float64, a [3]float64) float64 {
	switch {
	case st <= 1:
		return st * a[0]
	case st <= 2:
		return a[0] + (st-1)*(a[1]-a[0])
	case st <= 3:
		return a[1] + (st-2)*(a[2]-a[1])
	}
	return a[2] + (st-3)*(a[2]-a[1])
}

// prepareFlood works out how much each gauge must rise so that its peak
// reaches the alarm stage the reference gauge reaches at PeakLevel.
func (g *Generator) prepareFlood(f *FloodEvent) {
	gauges := g.byType[TypeFloodMonitoring]
	if len(gauges) == 0 {
		return
	}
	ref := gauges[0]
	for _, i := range gauges {
		if g.sites[i].FloodLag < g.sites[ref].FloodLag {
			ref = i
		}
	}
	stage := alarmStage(f.PeakLevel, g.sites[ref].Alarms)
	for _, i := range gauges {
		s := g.sites[i]
		target := stageLevel(stage, s.Alarms)
		base := g.riverBaseline(i, newInstant(f.Start.Add(f.Peak+s.FloodLag)))
		g.floodRise[i] = math.Max(0, target-base)
	}
}

// floodShape is the flood hydrograph, 0 before the start, 1 at the peak
// (x = 1), then receding; smooth everywhere.
func floodShape(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return math.Pow(x*math.Exp(1-x), 3)
}

func (g *Generator) level(i int, c instant) float64 {
	lv := g.riverBaseline(i, c)
	if f := g.opts.Flood; f != nil && g.floodRise[i] > 0 {
		x := float64(c.t.Sub(f.Start)-g.sites[i].FloodLag) / float64(f.Peak)
		lv += g.floodRise[i] * floodShape(x)
	}
	return lv
}

type roadState struct {
	intensity, speed, occupancy float64
	congested                   bool
}

// road models a traffic counting point: flow follows the daily profile,
// weekdays busier than weekends; speed falls and lane occupancy rises as
// the flow approaches the road's capacity.
func (g *Generator) road(i int, c instant) roadState {
	s, k := g.sites[i], g.keys[i]
	capacity := float64(s.Capacity)
	season := 1 + 0.05*math.Cos(2*math.Pi*(c.y-0.2))
	flow := capacity * 0.85 * trafficProfile(c) * season * math.Exp(0.12*smooth(channel(k, 1), c.hours, 3))
	q := flow / capacity
	v := s.Base * (1 - 0.6*q*q) * (1 + 0.05*smooth(channel(k, 2), c.hours, 1))
	v = math.Max(v, 0.15*s.Base)
	return roadState{
		intensity: flow,
		speed:     v,
		occupancy: clamp(0.03+0.5*math.Pow(q, 1.6), 0, 0.95),
		congested: v < 0.45*s.Base,
	}
}

// parking models a car park near the Citadel: nearly empty at night,
// filling with visitors from 8:00 to 17:00, fuller at weekends and in the
// tourist season, with a smaller evening peak.
func (g *Generator) parking(i int, c instant) (occupied int) {
	s, k := g.sites[i], g.keys[i]
	fill := c.byDay(func(d time.Weekday) float64 {
		switch d {
		case time.Saturday:
			return 0.8
		case time.Sunday:
			return 0.88
		}
		return 0.55
	})
	eve := c.byDay(func(d time.Weekday) float64 {
		if d == time.Friday || d == time.Saturday || d == time.Sunday {
			return 1
		}
		return 0.7
	})
	x := 0.06 + s.Base*tourSeason(c.y)*fill*window(c.h, 7.8, 17.3, 0.5) +
		0.18*s.Base*eve*gauss(c.h, 20, 1.3) + 0.07*smooth(channel(k, 1), c.hours, 2)
	return int(math.Round(clamp(x, 0, 1) * float64(s.Capacity)))
}

func hoursOf(d time.Duration) float64 { return float64(d) / float64(time.Hour) }

func (s Site) nightOpen(d time.Weekday) bool {
	for _, n := range s.NightDays {
		if n == d {
			return true
		}
	}
	return false
}

// visitors models a monument's hourly visitor count: zero outside opening
// hours, a morning peak around 9:30 and an afternoon one around 15:00,
// more at weekends and in the tourist season, plus night openings.
func (g *Generator) visitors(i int, c instant) (count int, open bool) {
	s, k := g.sites[i], g.keys[i]
	o, cl := hoursOf(s.Opens), hoursOf(s.Closes)
	season := tourSeason(c.y)
	day := 1.0
	switch c.wd {
	case time.Friday:
		day = 1.1
	case time.Saturday:
		day = 1.35
	case time.Sunday:
		day = 1.4
	}
	shape := 0.25 + gauss(c.h, 9.5, 1.4) + 0.75*gauss(c.h, 15, 1.3)
	rate := s.Base * season * day * shape * ramp(c.h, o, cl, 0.5, 0.5)
	open = c.h >= o && c.h < cl
	if s.nightOpen(c.wd) {
		rate += 0.35 * s.Base * season * ramp(c.h, 19, 22, 0.5, 0.5)
		open = open || (c.h >= 19 && c.h < 22)
	}
	rate *= math.Exp(0.15 * smooth(channel(k, 1), c.hours, 2))
	return int(math.Round(rate)), open
}

// beds models a hospital's bed occupancy: a slow drift over days, fewer
// patients at weekends (fewer planned admissions), late-morning discharges
// and evening admissions, a winter respiratory bump; always within 75–95 %.
func (g *Generator) beds(i int, c instant) (occupied int) {
	s, k := g.sites[i], g.keys[i]
	weekly := c.byDay(func(d time.Weekday) float64 {
		switch d {
		case time.Saturday:
			return -0.25
		case time.Sunday:
			return -0.3
		case time.Friday:
			return 0
		}
		return 0.15
	})
	daily := 0.15*gauss(c.h, 21, 4) - 0.1*gauss(c.h, 11, 2.5)
	x := s.Base + 0.7*smooth(channel(k, 1), c.hours, 72) + weekly + daily + 0.2*yearBell(c.y, 0.05, 0.06)
	occ := 0.85 + 0.1*math.Tanh(x)
	beds := float64(s.Capacity)
	// Keep the rounded figure inside the documented 75–95 % band.
	return int(clamp(math.Round(occ*beds), math.Ceil(0.75*beds), math.Floor(0.95*beds)))
}

// schoolDay tells whether there are classes: not in the June–August summer
// holiday, not on Sundays, only the morning session on Saturdays.
func schoolDay(l time.Time) (morning, afternoon bool) {
	if m := l.Month(); m >= time.June && m <= time.August {
		return false, false
	}
	switch l.Weekday() {
	case time.Sunday:
		return false, false
	case time.Saturday:
		return true, false
	}
	return true, true
}

// attendance models the share of a school's students on the premises: the
// morning session 6:45–11:30 nearly everyone, the afternoon session
// 13:30–17:00 about 60 % (extra classes), nobody otherwise.
func (g *Generator) attendance(i int, c instant) (present int, inSession bool) {
	s, k := g.sites[i], g.keys[i]
	morning, afternoon := schoolDay(c.local)
	if !morning {
		return 0, false
	}
	base := 0.955 + 0.02*smooth(channel(k, 1), c.hours, 24) - 0.03*yearBell(c.y, 0.05, 0.05)
	m := ramp(c.h, 6.75, 11.5, 0.4, 0.4)
	share := base * m
	if !afternoon {
		share *= 0.9
	} else {
		a := ramp(c.h, 13.5, 17, 0.4, 0.4)
		share += 0.6 * base * a
		inSession = a > 0
	}
	inSession = inSession || m > 0
	return int(math.Round(share * float64(s.Capacity))), inSession
}

// state holds the numbers computed for one site at one instant.
type state struct {
	air       airState
	level     float64
	road      roadState
	count     int // occupied spots, visitors, occupied beds or students present
	open      bool
	kpi       float64
	kpiSet    bool
	inSession bool
}

// At returns the state of every site at t as NGSI-LD entities, in the order
// of the sites given to New.
func (g *Generator) At(t time.Time) []Entity {
	c := newInstant(t)
	c.stamp = c.t.UTC().Format(time.RFC3339)
	st := g.compute(c)
	out := make([]Entity, len(g.sites))
	for i := range g.sites {
		out[i] = g.entity(i, c, st)
	}
	return out
}

func (g *Generator) compute(c instant) []state {
	st := make([]state, len(g.sites))
	for i, s := range g.sites {
		switch s.Type {
		case TypeAirQualityObserved:
			st[i].air = g.air(i, c)
		case TypeFloodMonitoring:
			st[i].level = g.level(i, c)
		case TypeTrafficFlowObserved:
			st[i].road = g.road(i, c)
		case TypeOffStreetParking:
			st[i].count = g.parking(i, c)
		case TypeTourismPresenceObserved:
			st[i].count, st[i].open = g.visitors(i, c)
		case TypeBuilding:
			if s.Category == CategoryHospital {
				st[i].count = g.beds(i, c)
			} else {
				st[i].count, st[i].inSession = g.attendance(i, c)
			}
		}
	}
	for i, s := range g.sites {
		if s.Type == TypeKeyPerformanceIndicator {
			st[i].kpi, st[i].kpiSet = g.kpi(s.Category, c, st)
		}
	}
	return st
}

// kpi aggregates the sensors into one city figure; ok is false when the
// city has no site the KPI is computed from.
func (g *Generator) kpi(id string, c instant, st []state) (v float64, ok bool) {
	ratio := func(idx []int) (float64, bool) {
		var num, den float64
		for _, i := range idx {
			num += float64(st[i].count)
			den += float64(g.sites[i].Capacity)
		}
		if den == 0 {
			return 0, false
		}
		return 100 * num / den, true
	}
	switch id {
	case KPIPM25DailyMean:
		aq := g.byType[TypeAirQualityObserved]
		if len(aq) == 0 {
			return 0, false
		}
		var sum float64
		for k := 0; k < 24; k++ {
			ck := c
			if k > 0 {
				ck = newInstant(c.t.Add(-time.Duration(k) * time.Hour))
			}
			for _, i := range aq {
				sum += g.air(i, ck).pm25
			}
		}
		return sum / float64(24*len(aq)), true
	case KPIBedOccupancy:
		return ratio(g.hospitals)
	case KPISchoolAttendance:
		return ratio(g.schools)
	case KPIParkingOccupancy:
		return ratio(g.byType[TypeOffStreetParking])
	case KPIMonumentVisitors:
		idx := g.byType[TypeTourismPresenceObserved]
		for _, i := range idx {
			v += float64(st[i].count)
		}
		return v, len(idx) > 0
	case KPITrafficMeanSpeed:
		idx := g.byType[TypeTrafficFlowObserved]
		for _, i := range idx {
			v += st[i].road.speed
		}
		if len(idx) == 0 {
			return 0, false
		}
		return v / float64(len(idx)), true
	}
	return 0, false
}
