package http

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/i18n"
)

// iocPage is the operations centre's dashboard. The page is a frame that
// its script (assets/ioc.js) fills from the /api/v1/ioc endpoints and
// keeps live with the /api/v1/ioc/stream events; the filter is in the URL
// so that a view can be bookmarked.
type iocPage struct {
	Sector, Area string
	Days         int
	DayChoices   []int
	// Wall is the video-wall layout (?wall=1): large type, no forms, and
	// the sector panels in turn every Rotate seconds.
	Wall    bool
	Rotate  int
	Sectors []*cityops.Sector
	Areas   []*cityops.Area
	Panels  []iocPanel
	// Tiles are the headline figures (HandlingSummary's JSON names), Links
	// their drill-downs into the inbox.
	Tiles      []string
	Links      map[string]string
	CaseKinds  []string // the open cases' colours in the legend
	Rankings   []string // the breakdowns ranked
	Severities []string
	Levels     []string
	CanAct     bool // acknowledge and clear alarms
	CanWarn    bool // broadcast public warnings
	// TileURL is the optional online basemap (-tiles).
	TileURL string
	// Config is what the script needs besides the endpoints: its texts in
	// the page's language and display names.
	Config map[string]any
}

// iocPanel is one sector's panel: its key figures and charts.
type iocPanel struct {
	Sector  string
	Name    string
	Figures []sectorFigure
	Charts  []sectorChart
}

// iocSectors are the sectors with live data, in the dashboard's order.
var iocSectors = []string{cityops.SectorEnvironment, cityops.SectorTransport, cityops.SectorTourism, cityops.SectorHealth, cityops.SectorEducation}

// handleIOCPage renders the operations centre's dashboard.
func (s *Server) handleIOCPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var v cityops.Validation
	q := r.URL.Query()
	p := iocPage{Sector: q.Get("sector"), Area: q.Get("area"), DayChoices: []int{1, 7, 30, 90, 365},
		Days: queryInt(r, &v, "days", 30, 1, 3660), Wall: q.Get("wall") == "1" || q.Get("wall") == "true",
		Rotate: queryInt(r, &v, "rotate", 20, 5, 3600), Severities: cityops.Severities,
		Tiles:     []string{"received_today", "resolved_today", "open_now", "overdue_now", "on_time_rate", "median_hours", "avg_rating"},
		CaseKinds: []string{"overdue", "received", "handling"},
		Rankings:  []string{cityops.ByAgency, cityops.ByArea, cityops.BySector}}
	// The map legend, from normal to the most serious.
	p.Levels = append([]string{"normal"}, cityops.Severities...)
	slices.Reverse(p.Levels[1:])
	v.Check(p.Sector == "" || cityops.ValidCode(p.Sector), "sector", "must be a sector code")
	v.Check(p.Area == "" || cityops.ValidCode(p.Area), "area", "must be an area code")
	if err := v.Err(); err != nil {
		return err
	}
	if !slices.Contains(p.DayChoices, p.Days) { // a bookmarked period
		p.DayChoices = append(p.DayChoices, p.Days)
		slices.Sort(p.DayChoices)
	}
	sectors, err := s.Sectors.FindSectors(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	areas, _, err := s.Areas.FindAreas(ctx, cityops.AreaFilter{ValidAt: &now})
	if err != nil {
		return err
	}
	names, err := s.displayNames(r)
	if err != nil {
		return err
	}
	lang := langFrom(ctx)
	p.Sectors, p.Areas = sectors, areas
	sectorNames := map[string]string{}
	for _, sec := range sectors {
		sectorNames[sec.Code] = sec.Names.In(lang, sec.Name)
		names["s:"+sec.Code] = sectorNames[sec.Code]
	}
	parents := map[string]string{}
	for _, a := range areas {
		names["w:"+a.Code] = a.Names.In(lang, a.Name)
		parents[a.Code] = a.ParentCode
	}
	for _, code := range iocSectors {
		if p.Sector != "" && p.Sector != code {
			continue
		}
		panel := iocPanel{Sector: code, Name: sectorNames[code]}
		if panel.Name == "" {
			panel.Name = code
		}
		for _, f := range sectorFigures {
			if f.Sector == code {
				panel.Figures = append(panel.Figures, f)
			}
		}
		for _, c := range sectorCharts {
			if c.Sector == code {
				panel.Charts = append(panel.Charts, c)
			}
		}
		p.Panels = append(p.Panels, panel)
	}

	inbox := func(kv ...string) string {
		lq := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			lq.Set(kv[i], kv[i+1])
		}
		if p.Sector != "" {
			lq.Set("sector", p.Sector)
		}
		if p.Area != "" {
			lq.Set("area", p.Area)
		}
		return "/staff/reports?" + lq.Encode()
	}
	p.Links = map[string]string{
		"received_today": inbox("status", "all"),
		"resolved_today": inbox("status", cityops.StatusResolved),
		"open_now":       inbox("status", "open"),
		"overdue_now":    inbox("overdue", "on"),
		"on_time_rate":   inbox("status", cityops.StatusResolved),
		"median_hours":   inbox("status", cityops.StatusResolved),
		"avg_rating":     inbox("status", cityops.StatusClosed),
	}
	a := cityops.ActorFromContext(ctx)
	p.CanAct, p.CanWarn = a.Can(cityops.PermAlarmsAct), a.Can(cityops.PermWarningsWrite)
	if tileOrigin(s.TileURL) != "" {
		p.TileURL = s.TileURL
	}

	// The script's texts: the dashboard's own, report statuses and the
	// handling figures' column names.
	texts := map[string]string{}
	for _, k := range s.Catalog.Keys(i18n.Default) {
		if strings.HasPrefix(k, "ioc.") || strings.HasPrefix(k, "status.") || strings.HasPrefix(k, "stats.") {
			texts[k] = s.Catalog.T(lang, k)
		}
	}
	p.Config = map[string]any{"lang": lang, "t": texts, "names": names, "parents": parents,
		"sector": p.Sector, "area": p.Area, "days": p.Days, "wall": p.Wall, "rotate": p.Rotate,
		"can_act": p.CanAct, "can_warn": p.CanWarn, "can_report": a.Can(cityops.PermReportsRead), "severities": cityops.Severities}
	s.render(w, r, "ioc.html", p)
	return nil
}
