package http

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/xlsx"
)

// indicatorDef is a city indicator of ISO 37120:2018 ("Sustainable cities
// and communities — Indicators for city services and quality of life")
// that cityops' data supports, with how cityops computes it. The text of
// each definition is in the catalogue under "kpi.def.<key>".
type indicatorDef struct {
	Key   string
	Theme string // the standard's theme: environment, health, safety
	Unit  string
	// For concentrations: the stations' attribute averaged over the period.
	Type, Attr string
}

var indicatorDefs = []indicatorDef{
	{Key: "pm25", Theme: "environment", Unit: "µg/m³", Type: "AirQualityObserved", Attr: "pm25"},
	{Key: "pm10", Theme: "environment", Unit: "µg/m³", Type: "AirQualityObserved", Attr: "pm10"},
	{Key: "no2", Theme: "environment", Unit: "µg/m³", Type: "AirQualityObserved", Attr: "no2"},
	{Key: "so2", Theme: "environment", Unit: "µg/m³", Type: "AirQualityObserved", Attr: "so2"},
	{Key: "o3", Theme: "environment", Unit: "µg/m³", Type: "AirQualityObserved", Attr: "o3"},
	{Key: "beds", Theme: "health", Unit: "/100 000"},
	{Key: "response", Theme: "safety", Unit: "min"},
}

// indicator is one computed value; Value is nil when the data does not
// support it, and Note says why.
type indicator struct {
	Key        string   `json:"key"`
	Theme      string   `json:"theme"`
	Name       string   `json:"name"`
	Definition string   `json:"definition"`
	Value      *float64 `json:"value"`
	Unit       string   `json:"unit"`
	Basis      string   `json:"basis"` // what the value rests on: stations, hospitals, reports
	Note       string   `json:"note,omitempty"`
}

func round1(v float64) *float64 {
	v = math.Round(v*10) / 10
	return &v
}

// indicators computes the ISO 37120 indicators for a period.
func (s *Server) indicators(ctx context.Context, lang string, f cityops.IOCFilter) ([]indicator, error) {
	es, err := s.sectorEntities(ctx)
	if err != nil {
		return nil, err
	}
	core := jsonld.Core()
	var out []indicator
	for _, d := range indicatorDefs {
		in := indicator{Key: d.Key, Theme: d.Theme, Unit: d.Unit, Name: s.Catalog.T(lang, "kpi.name."+d.Key),
			Definition: s.Catalog.T(lang, "kpi.def."+d.Key)}
		switch d.Key {
		case "beds":
			total, n := 0.0, 0
			for _, e := range es {
				if e.Type == core.ExpandTerm("Building") && hasCategory(e, "hospital") {
					if v, ok := entityNumber(e, "bedsTotal"); ok {
						total += v
						n++
					}
				}
			}
			in.Basis = s.Catalog.T(lang, "kpi.basis.hospitals", n)
			switch {
			case s.Population <= 0:
				in.Note = s.Catalog.T(lang, "kpi.note.population")
			case n == 0:
				in.Note = s.Catalog.T(lang, "kpi.note.nodata")
			default:
				in.Value = round1(total / float64(s.Population) * 100000)
			}
		case "response":
			rt, err := s.KPI.UrgentResponse(ctx, f)
			if err != nil {
				return nil, err
			}
			in.Basis = s.Catalog.T(lang, "kpi.basis.reports", rt.Reports)
			if rt.Reports == 0 {
				in.Note = s.Catalog.T(lang, "kpi.note.nodata")
			} else {
				in.Value = round1(rt.MedianMinutes)
			}
		default: // a concentration: the mean of the stations' period means
			var sum float64
			n := 0
			for _, e := range es {
				if e.Type != core.ExpandTerm(d.Type) {
					continue
				}
				ps, err := s.Entities.Aggregate(ctx, e.Tenant, e.ID, core.ExpandTerm(d.Attr), f.Since, f.Until, f.Until.Sub(f.Since), false)
				if cityops.ErrorCode(err) == cityops.ENOTFOUND {
					continue
				}
				if err != nil {
					return nil, err
				}
				var psum float64
				var pn int64
				for _, p := range ps {
					psum += p.Sum
					pn += p.Numbers
				}
				if pn > 0 {
					sum += psum / float64(pn)
					n++
				}
			}
			in.Basis = s.Catalog.T(lang, "kpi.basis.stations", n)
			if n == 0 {
				in.Note = s.Catalog.T(lang, "kpi.note.nodata")
			} else {
				in.Value = round1(sum / float64(n))
			}
		}
		out = append(out, in)
	}
	return out, nil
}

type kpiPage struct {
	Filter     cityops.IOCFilter
	Days       int
	Choices    []int
	Sector     string
	Area       string
	Summary    *cityops.HandlingSummary
	Indicators []indicator
	Tables     []kpiTable
	Query      string // the filter, for the export links
}

type kpiTable struct {
	By   string
	Rows []*cityops.HandlingRow
}

// kpiData gathers the figures of the KPI page and its exports.
func (s *Server) kpiData(r *http.Request) (*kpiPage, error) {
	f, err := iocFilter(r)
	if err != nil {
		return nil, err
	}
	days := int(math.Round(f.Until.Sub(f.Since).Hours() / 24))
	p := &kpiPage{Filter: f, Days: days, Choices: []int{7, 30, 90, 365}, Sector: f.Sector, Area: f.Area, Query: r.URL.RawQuery}
	if p.Summary, err = s.IOC.HandlingSummary(r.Context(), f); err != nil {
		return nil, err
	}
	if p.Indicators, err = s.indicators(r.Context(), langFrom(r.Context()), f); err != nil {
		return nil, err
	}
	for _, by := range []string{cityops.ByAgency, cityops.ByArea, cityops.BySector} {
		rows, err := s.namedBreakdown(r, by, f)
		if err != nil {
			return nil, err
		}
		p.Tables = append(p.Tables, kpiTable{By: by, Rows: rows})
	}
	return p, nil
}

func (s *Server) handleKPIPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.kpiData(r)
	if err != nil {
		return err
	}
	s.render(w, r, "kpi.html", p)
	return nil
}

// handleKPIExport writes the KPI page as a spreadsheet (.xlsx) or, for one
// grouping (?by=), as CSV.
func (s *Server) handleKPIExport(w http.ResponseWriter, r *http.Request) error {
	p, err := s.kpiData(r)
	if err != nil {
		return err
	}
	lang := langFrom(r.Context())
	T := func(key string, args ...any) string { return s.Catalog.T(lang, key, args...) }
	header := []any{T("kpi.col.rank"), T("col.code"), T("col.name"), T("stats.received"), T("stats.resolved"), T("stats.on_time"),
		T("kpi.col.on_time_rate"), T("kpi.col.median_hours"), T("stats.overdue"), T("kpi.col.avg_rating"), T("kpi.col.ratings")}
	row := func(h *cityops.HandlingRow) []any {
		return []any{h.Rank, h.Key, h.Name, h.Received, h.Resolved, h.OnTime, math.Round(h.OnTimeRate*1000) / 10, h.MedianHours,
			h.OverdueNow, math.Round(h.AvgRating*100) / 100, h.Ratings}
	}
	stamp := time.Now().In(hueZone).Format("20060102")
	if strings.HasSuffix(r.URL.Path, ".csv") {
		by := r.URL.Query().Get("by")
		if by == "" {
			by = cityops.ByAgency
		}
		var table *kpiTable
		for i := range p.Tables {
			if p.Tables[i].By == by {
				table = &p.Tables[i]
			}
		}
		if table == nil {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"by": "must be agency, area or sector"}}
		}
		if err := s.recordExport(r, "kpi.export", "kpi:"+by+".csv", kpiExportDetail(p)); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cityops-kpi-%s-%s.csv"`, by, stamp))
		w.Write([]byte("\ufeff")) // spreadsheets read UTF-8 (Vietnamese) only with the mark
		cw := csv.NewWriter(w)
		cw.Write(csvCells(header))
		for _, h := range table.Rows {
			cw.Write(csvCells(row(h)))
		}
		cw.Flush()
		return cw.Error()
	}
	if err := s.recordExport(r, "kpi.export", "kpi.xlsx", kpiExportDetail(p)); err != nil {
		return err
	}
	wb := xlsx.New()
	sh := wb.Sheet(T("kpi.sheet.indicators"))
	sh.Header(T("kpi.col.theme"), T("col.name"), T("kpi.col.value"), T("kpi.col.unit"), T("kpi.col.basis"), T("kpi.col.definition"), T("kpi.col.note"))
	sh.Widths(14, 40, 10, 10, 20, 80, 40)
	for _, in := range p.Indicators {
		var v any
		if in.Value != nil {
			v = *in.Value
		}
		sh.Row(T("kpi.theme."+in.Theme), in.Name, v, in.Unit, in.Basis, in.Definition, in.Note)
	}
	sh.Row()
	sh.Row(T("kpi.period"), p.Filter.Since.In(hueZone), p.Filter.Until.In(hueZone))
	for _, t := range p.Tables {
		sh := wb.Sheet(T("stats.by." + t.By))
		sh.Header(header...)
		sh.Widths(6, 14, 40, 10, 10, 10, 12, 12, 10, 10, 10)
		for _, h := range t.Rows {
			sh.Row(row(h)...)
		}
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cityops-kpi-%s.xlsx"`, stamp))
	_, err = wb.WriteTo(w)
	return err
}

// kpiExportDetail names an export's period and selection for the audit
// trail.
func kpiExportDetail(p *kpiPage) string {
	s := "since=" + p.Filter.Since.UTC().Format(time.RFC3339) + " until=" + p.Filter.Until.UTC().Format(time.RFC3339)
	if p.Query != "" {
		s += " query=" + p.Query
	}
	return s
}

// csvCells formats cells for CSV, every text guarded against formula
// injection (a name beginning with "=" stays text in a spreadsheet).
func csvCells(cells []any) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case string:
			out[i] = xlsx.CSVSafe(v)
		case float64:
			out[i] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}

type weeklyPage struct {
	Week       string // ISO week, 2026-W48
	Prev, Next string
	From, To   time.Time // Monday 00:00 and the next Monday, city time
	Summary    *cityops.HandlingSummary
	Indicators []indicator
	Sectors    []*cityops.HandlingRow
	Best       []*cityops.HandlingRow // agencies, best ranked first
	Worst      []*cityops.HandlingRow
	Alarms     map[string]int // raised in the week, by severity
	AlarmList  []*cityops.Alarm
	Warnings   []*cityops.Warning
}

// isoWeek parses "2026-W48" into its Monday in the city's time.
func isoWeek(s string) (time.Time, bool) {
	var y, w int
	if n, err := fmt.Sscanf(s, "%4d-W%2d", &y, &w); err != nil || n != 2 || w < 1 || w > 53 {
		return time.Time{}, false
	}
	jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, hueZone)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday())+6)%7)+(w-1)*7)
	if yy, ww := monday.ISOWeek(); yy != y || ww != w {
		return time.Time{}, false
	}
	return monday, true
}

func weekName(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// handleWeekly is the steering board's printable weekly report: the
// handling of the week, the sectors, the best and worst agencies, the
// alarms and warnings, and the city indicators.
func (s *Server) handleWeekly(w http.ResponseWriter, r *http.Request) error {
	now := time.Now().In(hueZone)
	thisMonday := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, hueZone).AddDate(0, 0, -((int(now.Weekday()) + 6) % 7))
	from := thisMonday.AddDate(0, 0, -7) // the last whole week
	if q := r.URL.Query().Get("week"); q != "" {
		m, ok := isoWeek(q)
		if !ok {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"week": "must be an ISO week such as 2026-W48"}}
		}
		from = m
	}
	to := from.AddDate(0, 0, 7)
	f := cityops.IOCFilter{Since: from, Until: to}
	p := weeklyPage{Week: weekName(from), Prev: weekName(from.AddDate(0, 0, -7)), Next: weekName(to), From: from, To: to,
		Alarms: map[string]int{}}
	var err error
	if p.Summary, err = s.IOC.HandlingSummary(r.Context(), f); err != nil {
		return err
	}
	if p.Sectors, err = s.namedBreakdown(r, cityops.BySector, f); err != nil {
		return err
	}
	agencies, err := s.namedBreakdown(r, cityops.ByAgency, f)
	if err != nil {
		return err
	}
	var ranked []*cityops.HandlingRow
	for _, a := range agencies {
		if a.Rank > 0 {
			ranked = append(ranked, a)
		}
	}
	p.Best = ranked[:min(5, len(ranked))]
	for i := len(ranked) - 1; i >= 0 && len(p.Worst) < 5 && i >= len(p.Best); i-- {
		p.Worst = append(p.Worst, ranked[i])
	}
	since := from
	var alarms []*cityops.Alarm
	if cityops.ActorFromContext(r.Context()).Can(cityops.PermAlarmsRead) {
		if alarms, _, err = s.Alarms.FindAlarms(r.Context(), cityops.AlarmFilter{Since: &since, Limit: 1000}); err != nil {
			return err
		}
	}
	for _, l := range alarms {
		if l.RaisedAt.Before(to) {
			p.Alarms[l.Severity]++
			if cityops.SeverityRank(l.Severity) >= cityops.SeverityRank(cityops.SeverityMajor) {
				p.AlarmList = append(p.AlarmList, compactAlarm(l))
			}
		}
	}
	ws, err := s.Warnings.FindWarnings(r.Context(), false, 500)
	if err != nil {
		return err
	}
	for _, wr := range ws {
		if wr.CreatedAt.Before(to) && !wr.CreatedAt.Before(from) {
			p.Warnings = append(p.Warnings, wr)
		}
	}
	if p.Indicators, err = s.indicators(r.Context(), langFrom(r.Context()), f); err != nil {
		return err
	}
	s.render(w, r, "weekly.html", p)
	return nil
}
