package http

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/notify"
)

// LiveSource hands out the operations centre's live events (notify.LiveHub).
type LiveSource interface {
	Subscribe() (<-chan notify.LiveEvent, func())
}

// The dashboard's view of the live data: which entity types belong to
// which sector, the attribute that stands for each on the map, the key
// figures of each sector and its charts. Names are short (core context).

// sensorKind says how one kind of sensor is shown.
type sensorKind struct {
	Sector string
	Type   string
	// Category, when set, keeps only entities whose category lists it
	// (hospitals and schools are both Buildings).
	Category string
	Attr     string // the value shown on the map
	Unit     string
}

var sensorKinds = []sensorKind{
	{cityops.SectorEnvironment, "AirQualityObserved", "", "pm25", "µg/m³"},
	{cityops.SectorEnvironment, "FloodMonitoring", "", "currentLevel", "m"},
	{cityops.SectorTransport, "TrafficFlowObserved", "", "averageVehicleSpeed", "km/h"},
	{cityops.SectorTransport, "OffStreetParking", "", "availableSpotNumber", ""},
	{cityops.SectorTourism, "TourismPresenceObserved", "", "visitorCount", ""},
	{cityops.SectorHealth, "Building", "hospital", "bedOccupancyRate", "%"},
	{cityops.SectorEducation, "Building", "school", "attendanceRate", "%"},
}

// sectorFigure is one key figure of a sector: an aggregate of one
// attribute over the sector's entities of one type.
type sectorFigure struct {
	Sector   string
	Key      string // message "ioc.fig.<key>"
	Type     string
	Category string
	Attr     string
	Agg      string // avg, sum, max, min
	Scale    float64
	Unit     string
}

var sectorFigures = []sectorFigure{
	{cityops.SectorEnvironment, "pm25_avg", "AirQualityObserved", "", "pm25", "avg", 1, "µg/m³"},
	{cityops.SectorEnvironment, "pm25_max", "AirQualityObserved", "", "pm25", "max", 1, "µg/m³"},
	{cityops.SectorEnvironment, "river_max", "FloodMonitoring", "", "currentLevel", "max", 1, "m"},
	{cityops.SectorTransport, "speed_avg", "TrafficFlowObserved", "", "averageVehicleSpeed", "avg", 1, "km/h"},
	{cityops.SectorTransport, "vehicles", "TrafficFlowObserved", "", "intensity", "sum", 1, ""},
	{cityops.SectorTransport, "parking_free", "OffStreetParking", "", "availableSpotNumber", "sum", 1, ""},
	{cityops.SectorTourism, "visitors", "TourismPresenceObserved", "", "visitorCount", "sum", 1, ""},
	{cityops.SectorTourism, "visitors_max", "TourismPresenceObserved", "", "visitorCount", "max", 1, ""},
	{cityops.SectorHealth, "beds_free", "Building", "hospital", "bedsAvailable", "sum", 1, ""},
	{cityops.SectorHealth, "bed_occupancy", "Building", "hospital", "bedOccupancyRate", "avg", 1, "%"},
	{cityops.SectorEducation, "students_present", "Building", "school", "studentsPresent", "sum", 1, ""},
	{cityops.SectorEducation, "attendance", "Building", "school", "attendanceRate", "avg", 1, "%"},
}

// sectorChart is a time-series chart: one line per entity.
type sectorChart struct {
	Sector   string `json:"sector"`
	Key      string `json:"key"`
	Label    string `json:"label"`
	Type     string `json:"type"`
	Category string `json:"category,omitempty"`
	Attr     string `json:"attr"`
	Unit     string `json:"unit"`
}

var sectorCharts = []sectorChart{
	{Sector: cityops.SectorEnvironment, Key: "air", Type: "AirQualityObserved", Attr: "pm25", Unit: "µg/m³"},
	{Sector: cityops.SectorEnvironment, Key: "river", Type: "FloodMonitoring", Attr: "currentLevel", Unit: "m"},
	{Sector: cityops.SectorTransport, Key: "traffic", Type: "TrafficFlowObserved", Attr: "averageVehicleSpeed", Unit: "km/h"},
	{Sector: cityops.SectorTourism, Key: "visitors", Type: "TourismPresenceObserved", Attr: "visitorCount"},
	{Sector: cityops.SectorHealth, Key: "beds", Type: "Building", Category: "hospital", Attr: "bedOccupancyRate", Unit: "%"},
	{Sector: cityops.SectorEducation, Key: "attendance", Type: "Building", Category: "school", Attr: "attendanceRate", Unit: "%"},
}

// liveSnapshot caches the latest state of the sector entities for a couple
// of seconds: every screen of a video wall asks at once.
type liveSnapshot struct {
	mu       sync.Mutex
	at       time.Time
	entities []*cityops.Entity
}

const snapshotTTL = 2 * time.Second

func (s *Server) sectorEntities(ctx context.Context) ([]*cityops.Entity, error) {
	s.snapshot.mu.Lock()
	defer s.snapshot.mu.Unlock()
	if time.Since(s.snapshot.at) < snapshotTTL && s.snapshot.entities != nil {
		return s.snapshot.entities, nil
	}
	core := jsonld.Core()
	var types []string
	for _, k := range sensorKinds {
		if t := core.ExpandTerm(k.Type); !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	es, _, err := s.Entities.FindEntities(ctx, cityops.EntityFilter{Types: types, Limit: 20000})
	if err != nil {
		return nil, err
	}
	s.snapshot.entities, s.snapshot.at = es, time.Now()
	return es, nil
}

// kindOf finds how an entity is shown, or nil when it belongs to no sector.
func kindOf(e *cityops.Entity) *sensorKind {
	core := jsonld.Core()
	for i := range sensorKinds {
		k := &sensorKinds[i]
		if core.ExpandTerm(k.Type) != e.Type {
			continue
		}
		if k.Category != "" && !hasCategory(e, k.Category) {
			continue
		}
		return k
	}
	return nil
}

func hasCategory(e *cityops.Entity, c string) bool {
	for _, a := range e.Attrs[jsonld.Core().ExpandTerm("category")] {
		switch v := a["value"].(type) {
		case string:
			if v == c {
				return true
			}
		case []any:
			for _, x := range v {
				if x == c {
					return true
				}
			}
		}
	}
	return false
}

func entityName(e *cityops.Entity) string {
	for _, a := range e.Attrs[jsonld.Core().ExpandTerm("name")] {
		if s, ok := a["value"].(string); ok {
			return s
		}
	}
	return e.ID
}

func entityNumber(e *cityops.Entity, attr string) (float64, bool) {
	for _, a := range e.Attrs[jsonld.Core().ExpandTerm(attr)] {
		if a.DatasetID() == "" {
			return a.Number()
		}
	}
	return 0, false
}

// iocFilter reads sector, area and the period (since/until, or days back
// from now; 30 days by default).
func iocFilter(r *http.Request) (cityops.IOCFilter, error) {
	var v cityops.Validation
	f := cityops.IOCFilter{Sector: r.URL.Query().Get("sector"), Area: r.URL.Query().Get("area")}
	days := queryInt(r, &v, "days", 30, 1, 3660)
	until := time.Now()
	if t := queryTime(r, &v, "until"); t != nil {
		until = *t
	}
	since := until.AddDate(0, 0, -days)
	if t := queryTime(r, &v, "since"); t != nil {
		since = *t
	}
	v.Check(until.After(since), "until", "must be after since")
	f.Since, f.Until = since, until
	return f, v.Err()
}

// openAlarmLevels returns the worst open alarm per entity id. A caller
// who may see the dashboard but not alarms (an API key with ioc:view
// alone) gets none: the figures without the alarms.
func (s *Server) openAlarmLevels(ctx context.Context, f cityops.IOCFilter) (map[string]string, []*cityops.Alarm, error) {
	if !cityops.ActorFromContext(ctx).Can(cityops.PermAlarmsRead) {
		return map[string]string{}, nil, nil
	}
	af := cityops.AlarmFilter{Open: true, Limit: 1000}
	if f.Sector != "" {
		af.Sector = &f.Sector
	}
	if f.Area != "" {
		af.Area = &f.Area
	}
	alarms, _, err := s.Alarms.FindAlarms(ctx, af)
	if err != nil {
		return nil, nil, err
	}
	worst := map[string]string{}
	for _, l := range alarms {
		if cityops.SeverityRank(l.Severity) > cityops.SeverityRank(worst[l.EntityID]) {
			worst[l.EntityID] = l.Severity
		}
	}
	return worst, alarms, nil
}

type iocSummary struct {
	*cityops.HandlingSummary
	Alarms   map[string]int `json:"alarms"` // open alarms by severity
	Warnings int            `json:"warnings"`
	Since    time.Time      `json:"since"`
	Until    time.Time      `json:"until"`
}

func (s *Server) handleIOCSummary(w http.ResponseWriter, r *http.Request) error {
	f, err := iocFilter(r)
	if err != nil {
		return err
	}
	sum, err := s.IOC.HandlingSummary(r.Context(), f)
	if err != nil {
		return err
	}
	_, alarms, err := s.openAlarmLevels(r.Context(), f)
	if err != nil {
		return err
	}
	out := iocSummary{HandlingSummary: sum, Alarms: map[string]int{}, Since: f.Since, Until: f.Until}
	for _, sv := range cityops.Severities {
		out.Alarms[sv] = 0
	}
	for _, l := range alarms {
		out.Alarms[l.Severity]++
	}
	ws, err := s.Warnings.FindWarnings(r.Context(), true, 500)
	if err != nil {
		return err
	}
	out.Warnings = len(ws)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleIOCBreakdown(w http.ResponseWriter, r *http.Request) error {
	f, err := iocFilter(r)
	if err != nil {
		return err
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = cityops.ByAgency
	}
	rows, err := s.namedBreakdown(r, by, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.HandlingRow]{Items: rows, Total: len(rows)})
	return nil
}

// namedBreakdown is HandlingBreakdown with display names.
func (s *Server) namedBreakdown(r *http.Request, by string, f cityops.IOCFilter) ([]*cityops.HandlingRow, error) {
	rows, err := s.IOC.HandlingBreakdown(r.Context(), by, f)
	if err != nil {
		return nil, err
	}
	names, err := s.groupNames(r, by)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		row.Name = names[row.Key]
		if row.Key == "" {
			row.Name = s.Catalog.T(langFrom(r.Context()), "stats.none")
		}
	}
	return rows, nil
}

func (s *Server) groupNames(r *http.Request, by string) (map[string]string, error) {
	lang := langFrom(r.Context())
	names := map[string]string{}
	switch by {
	case cityops.ByAgency:
		_, agencies, err := s.names(r)
		return agencies, err
	case cityops.ByArea:
		areas, _, err := s.Areas.FindAreas(r.Context(), cityops.AreaFilter{})
		if err != nil {
			return nil, err
		}
		for _, a := range areas {
			names[a.Code] = a.Names.In(lang, a.Name)
		}
	case cityops.BySector:
		sectors, err := s.Sectors.FindSectors(r.Context())
		if err != nil {
			return nil, err
		}
		for _, sec := range sectors {
			names[sec.Code] = sec.Names.In(lang, sec.Name)
		}
	}
	return names, nil
}

type feature struct {
	Type       string         `json:"type"`
	Geometry   map[string]any `json:"geometry"`
	Properties any            `json:"properties"`
}

type featureCollection struct {
	Type     string    `json:"type"`
	Features []feature `json:"features"`
}

func point(lat, lon float64) map[string]any {
	return map[string]any{"type": "Point", "coordinates": []float64{lon, lat}}
}

func writeGeoJSON(w http.ResponseWriter, fc featureCollection) {
	if fc.Features == nil {
		fc.Features = []feature{}
	}
	fc.Type = "FeatureCollection"
	w.Header().Set("Content-Type", "application/geo+json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(fc)
}

// handleIOCCases is the open cases layer: GeoJSON points with status,
// deadline and whether they are overdue.
func (s *Server) handleIOCCases(w http.ResponseWriter, r *http.Request) error {
	f, err := iocFilter(r)
	if err != nil {
		return err
	}
	var v cityops.Validation
	limit := queryInt(r, &v, "limit", 2000, 1, 5000)
	if err := v.Err(); err != nil {
		return err
	}
	cases, err := s.IOC.OpenCases(r.Context(), f, limit)
	if err != nil {
		return err
	}
	fc := featureCollection{}
	for _, c := range cases {
		fc.Features = append(fc.Features, feature{Type: "Feature", Geometry: point(c.Lat, c.Lon), Properties: c})
	}
	writeGeoJSON(w, fc)
	return nil
}

// handleIOCHeat counts the period's reports per grid cell.
func (s *Server) handleIOCHeat(w http.ResponseWriter, r *http.Request) error {
	f, err := iocFilter(r)
	if err != nil {
		return err
	}
	cell := 0.005
	if c := r.URL.Query().Get("cell"); c != "" {
		if _, err := fmt.Sscanf(c, "%g", &cell); err != nil {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"cell": "must be a number of degrees"}}
		}
	}
	cells, err := s.IOC.ReportHeat(r.Context(), f, cell)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[cityops.HeatCell]{Items: cells, Total: len(cells)})
	return nil
}

type sensorProps struct {
	ID     string   `json:"id"`
	Type   string   `json:"type"`
	Name   string   `json:"name"`
	Sector string   `json:"sector"`
	Attr   string   `json:"attr"`
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit,omitempty"`
	// Level is the severity of the worst open alarm on the sensor, or
	// "normal".
	Level      string    `json:"level"`
	ModifiedAt time.Time `json:"modified_at"`
}

// handleIOCSensors is the sensors layer: each sector entity with a point,
// its main value, and its level from the open alarms.
func (s *Server) handleIOCSensors(w http.ResponseWriter, r *http.Request) error {
	f, err := iocFilter(r)
	if err != nil {
		return err
	}
	es, err := s.sectorEntities(r.Context())
	if err != nil {
		return err
	}
	worst, _, err := s.openAlarmLevels(r.Context(), cityops.IOCFilter{})
	if err != nil {
		return err
	}
	fc := featureCollection{}
	for _, e := range es {
		k := kindOf(e)
		if k == nil || (f.Sector != "" && k.Sector != f.Sector) {
			continue
		}
		lat, lon, ok := e.Point()
		if !ok || (f.Area != "" && !s.inArea(r.Context(), lat, lon, f.Area)) {
			continue
		}
		p := sensorProps{ID: e.ID, Type: k.Type, Name: entityName(e), Sector: k.Sector, Attr: k.Attr, Unit: k.Unit,
			Level: "normal", ModifiedAt: e.ModifiedAt}
		if v, ok := entityNumber(e, k.Attr); ok {
			p.Value = &v
		}
		if l := worst[e.ID]; l != "" {
			p.Level = l
		}
		fc.Features = append(fc.Features, feature{Type: "Feature", Geometry: point(lat, lon), Properties: p})
	}
	writeGeoJSON(w, fc)
	return nil
}

// inArea reports whether a point lies in the area or below it.
func (s *Server) inArea(ctx context.Context, lat, lon float64, area string) bool {
	ok, err := s.Areas.InArea(ctx, lat, lon, area)
	return err == nil && ok
}

type figure struct {
	Key   string   `json:"key"`
	Label string   `json:"label"`
	Value *float64 `json:"value"` // nil when no entity reports it
	Unit  string   `json:"unit,omitempty"`
	Count int      `json:"count"` // entities behind the figure
}

type sectorView struct {
	Sector  string        `json:"sector"`
	Name    string        `json:"name"`
	Figures []figure      `json:"figures"`
	Charts  []sectorChart `json:"charts"`
	Alarms  int           `json:"alarms"` // open alarms in the sector
}

// handleIOCSectors gives each of the five sectors its key figures from
// the latest readings, its charts and its open alarms.
func (s *Server) handleIOCSectors(w http.ResponseWriter, r *http.Request) error {
	lang := langFrom(r.Context())
	es, err := s.sectorEntities(r.Context())
	if err != nil {
		return err
	}
	_, alarms, err := s.openAlarmLevels(r.Context(), cityops.IOCFilter{})
	if err != nil {
		return err
	}
	sectors, err := s.Sectors.FindSectors(r.Context())
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, sec := range sectors {
		names[sec.Code] = sec.Names.In(lang, sec.Name)
	}
	want := r.URL.Query().Get("sector")
	var out []sectorView
	for _, code := range []string{cityops.SectorEnvironment, cityops.SectorTransport, cityops.SectorTourism, cityops.SectorHealth, cityops.SectorEducation} {
		if want != "" && want != code {
			continue
		}
		sv := sectorView{Sector: code, Name: names[code], Figures: []figure{}, Charts: []sectorChart{}}
		if sv.Name == "" {
			sv.Name = code
		}
		for _, sf := range sectorFigures {
			if sf.Sector != code {
				continue
			}
			fig := figure{Key: sf.Key, Label: s.Catalog.T(lang, "ioc.fig."+sf.Key), Unit: sf.Unit}
			var vals []float64
			core := jsonld.Core()
			for _, e := range es {
				if e.Type != core.ExpandTerm(sf.Type) || (sf.Category != "" && !hasCategory(e, sf.Category)) {
					continue
				}
				if v, ok := entityNumber(e, sf.Attr); ok {
					vals = append(vals, v*sf.Scale)
				}
			}
			fig.Count = len(vals)
			if v, ok := aggregate(sf.Agg, vals); ok {
				fig.Value = &v
			}
			sv.Figures = append(sv.Figures, fig)
		}
		for _, c := range sectorCharts {
			if c.Sector == code {
				c.Label = s.Catalog.T(lang, "ioc.chart."+c.Key)
				sv.Charts = append(sv.Charts, c)
			}
		}
		for _, l := range alarms {
			if l.Sector == code {
				sv.Alarms++
			}
		}
		out = append(out, sv)
	}
	writeJSON(w, http.StatusOK, list[sectorView]{Items: out, Total: len(out)})
	return nil
}

func aggregate(agg string, vals []float64) (float64, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	var out float64
	switch agg {
	case "sum", "avg":
		for _, v := range vals {
			out += v
		}
		if agg == "avg" {
			out /= float64(len(vals))
		}
	case "max":
		out = slices.Max(vals)
	case "min":
		out = slices.Min(vals)
	}
	return math.Round(out*10) / 10, true
}

type seriesLine struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Points [][2]float64 `json:"points"` // unix seconds, average in the period
}

// handleIOCSeries gives a chart's lines: one per entity of the chart's
// type, the hourly (or ?step=minutes) average of its attribute over the
// last ?hours (24 by default), read from the roll-ups.
func (s *Server) handleIOCSeries(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	key := r.URL.Query().Get("chart")
	var chart *sectorChart
	for i := range sectorCharts {
		if sectorCharts[i].Key == key {
			chart = &sectorCharts[i]
		}
	}
	if chart == nil {
		v.Add("chart", "unknown chart %q", key)
	}
	hours := queryInt(r, &v, "hours", 24, 1, 24*366)
	step := queryInt(r, &v, "step", 60, 1, 24*60)
	if err := v.Err(); err != nil {
		return err
	}
	if hours*60/step > 2000 {
		return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"step": "gives more than 2000 points; choose a longer step"}}
	}
	es, err := s.sectorEntities(r.Context())
	if err != nil {
		return err
	}
	core := jsonld.Core()
	period := time.Duration(step) * time.Minute
	to := time.Now().Truncate(period).Add(period)
	from := to.Add(-time.Duration(hours) * time.Hour)
	lines := []seriesLine{}
	for _, e := range es {
		if e.Type != core.ExpandTerm(chart.Type) || (chart.Category != "" && !hasCategory(e, chart.Category)) {
			continue
		}
		if len(lines) >= 24 {
			break // a chart stays readable
		}
		ps, err := s.Entities.Aggregate(r.Context(), e.Tenant, e.ID, core.ExpandTerm(chart.Attr), from, to, period, false)
		if err != nil {
			if cityops.ErrorCode(err) == cityops.ENOTFOUND {
				continue
			}
			return err
		}
		line := seriesLine{ID: e.ID, Name: entityName(e), Points: [][2]float64{}}
		for _, p := range ps {
			if p.Numbers > 0 {
				line.Points = append(line.Points, [2]float64{float64(p.From.Unix()), math.Round(p.Sum/float64(p.Numbers)*100) / 100})
			}
		}
		lines = append(lines, line)
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].Name < lines[j].Name })
	writeJSON(w, http.StatusOK, struct {
		Chart sectorChart  `json:"chart"`
		From  time.Time    `json:"from"`
		To    time.Time    `json:"to"`
		Items []seriesLine `json:"items"`
	}{*chart, from, to, lines})
	return nil
}
