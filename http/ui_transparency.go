package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cityops/cityops"
)

// publicList is the public list and map of reports: no personal data, no
// internal notes, anyone may look.
type publicList struct {
	Reports []*cityops.Report
	Total   int
	Q       url.Values
	Sectors []*cityops.Sector
	Areas   []*cityops.Area
	Names   map[string]string
	Points  string
	Next    string
}

func (s *Server) handlePublicReports(w http.ResponseWriter, r *http.Request) error {
	ctx := cityops.NewContextWithActor(r.Context(), nil)
	var v cityops.Validation
	q := r.URL.Query()
	f := cityops.ReportFilter{Sector: queryStr(r, "sector"), Area: queryStr(r, "area"), IncludeQueued: true,
		Offset: queryInt(r, &v, "offset", 0, 0, 1<<30), Limit: 50}
	switch q.Get("status") {
	case "", "all":
	case "open":
		f.Status = cityops.OpenStatuses
	case "closed":
		f.Status = []string{cityops.StatusResolved, cityops.StatusClosed}
	default:
		v.Add("status", "must be open, closed or all")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if f.Status == nil {
		f.Status = []string{cityops.StatusReceived, cityops.StatusAssigned, cityops.StatusAccepted, cityops.StatusInProgress,
			cityops.StatusResolved, cityops.StatusClosed}
	}
	reports, total, err := s.Reports.FindReports(ctx, f)
	if err != nil {
		return err
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
	var pts []map[string]any
	for i, rep := range reports {
		reports[i] = rep.Public()
		if rep.Lat != nil {
			pts = append(pts, map[string]any{"t": rep.Tracking, "lat": *rep.Lat, "lon": *rep.Lon, "s": rep.Status, "l": names["c:"+rep.Category]})
		}
	}
	pj, _ := json.Marshal(pts)
	p := publicList{Reports: reports, Total: total, Q: q, Sectors: sectors, Areas: areas, Names: names, Points: string(pj)}
	if f.Offset+len(reports) < total {
		nq := r.URL.Query()
		nq.Set("offset", fmt.Sprint(f.Offset+len(reports)))
		p.Next = "/reports?" + nq.Encode()
	}
	s.render(w, r, "reports.html", p)
	return nil
}

// statsPeriod reads ?days= (default 30) into a period ending now.
func statsPeriod(r *http.Request, v *cityops.Validation) (since, until time.Time, days int) {
	days = queryInt(r, v, "days", 30, 1, 3660)
	until = time.Now()
	return until.AddDate(0, 0, -days), until, days
}

// statsPage shows the handling figures per agency and per ward.
type statsPage struct {
	Days    int
	Choices []int
	Tables  []statsTable
}

// statsTable is one grouping of the figures.
type statsTable struct {
	By   string
	Rows []*cityops.HandlingStat
}

func (s *Server) namedStats(r *http.Request, by string, since, until time.Time) ([]*cityops.HandlingStat, error) {
	stats, err := s.Stats.HandlingStats(r.Context(), by, since, until)
	if err != nil {
		return nil, err
	}
	names, err := s.groupNames(r, by)
	if err != nil {
		return nil, err
	}
	for _, st := range stats {
		st.Name = names[st.Key]
		if st.Key == "" {
			st.Name = s.Catalog.T(langFrom(r.Context()), "stats.none")
		}
	}
	return stats, nil
}

func (s *Server) handleStatsPage(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	since, until, days := statsPeriod(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	p := statsPage{Days: days, Choices: []int{7, 30, 90, 365}}
	for _, by := range []string{cityops.ByAgency, cityops.ByArea, cityops.BySector} {
		rows, err := s.namedStats(r, by, since, until)
		if err != nil {
			return err
		}
		p.Tables = append(p.Tables, statsTable{By: by, Rows: rows})
	}
	s.render(w, r, "stats.html", p)
	return nil
}

// handleStatsAPI serves the same figures as JSON: ?by=agency|area|sector
// and ?days= or ?since=&until=.
func (s *Server) handleStatsAPI(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	since, until, _ := statsPeriod(r, &v)
	if t := queryTime(r, &v, "since"); t != nil {
		since = *t
	}
	if t := queryTime(r, &v, "until"); t != nil {
		until = *t
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = cityops.ByAgency
	}
	if err := v.Err(); err != nil {
		return err
	}
	stats, err := s.namedStats(r, by, since, until)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.HandlingStat]{Items: stats, Total: len(stats)})
	return nil
}
