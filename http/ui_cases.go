package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

// inboxPage is the staff inbox: filters, the page of reports, and what the
// viewer may do in bulk.
type inboxPage struct {
	Reports  []*cityops.Report
	Total    int
	Q        url.Values
	Statuses []string
	Sectors  []*cityops.Sector
	Areas    []*cityops.Area
	Agencies []*cityops.Agency
	Names    map[string]string
	Points   string // JSON for the map
	Now      time.Time
	Centre   bool
	Next     string
	Message  string
	Done     string
}

// inboxFilter reads the inbox's query; "open" is the default status.
func inboxFilter(r *http.Request) (cityops.ReportFilter, error) {
	var v cityops.Validation
	q := r.URL.Query()
	f := cityops.ReportFilter{
		Sector:        queryStr(r, "sector"),
		Area:          queryStr(r, "area"),
		Agency:        queryStr(r, "agency"),
		Text:          queryStr(r, "q"),
		IncludeQueued: q.Get("queued") == "on",
		Offset:        queryInt(r, &v, "offset", 0, 0, 1<<30),
		Limit:         100,
		// The inbox shows no reporter: nothing to decrypt or audit.
		WithoutReporter: true,
	}
	if q.Get("overdue") == "on" {
		t := true
		f.Overdue = &t
	}
	switch st := q.Get("status"); st {
	case "", "open":
		f.Status = cityops.OpenStatuses
	case "all":
	default:
		if !oneOf(st, cityops.Statuses) {
			v.Add("status", "%q is not a status", st)
		}
		f.Status = []string{st}
	}
	return f, v.Err()
}

func (s *Server) handleInbox(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := inboxFilter(r)
	if err != nil {
		return err
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
	active := true
	agencies, _, err := s.Agencies.FindAgencies(ctx, cityops.AgencyFilter{Active: &active})
	if err != nil {
		return err
	}
	names, err := s.displayNames(r)
	if err != nil {
		return err
	}
	type point struct {
		Tracking string  `json:"t"`
		Lat      float64 `json:"lat"`
		Lon      float64 `json:"lon"`
		Status   string  `json:"s"`
		Overdue  bool    `json:"o"`
		Label    string  `json:"l"`
	}
	var pts []point
	for _, rep := range reports {
		if rep.Lat != nil {
			pts = append(pts, point{rep.Tracking, *rep.Lat, *rep.Lon, rep.Status, rep.Overdue(now), names["c:"+rep.Category]})
		}
	}
	pj, _ := json.Marshal(pts)
	a := cityops.ActorFromContext(ctx)
	p := inboxPage{Reports: reports, Total: total, Q: r.URL.Query(), Statuses: cityops.Statuses, Sectors: sectors, Areas: areas,
		Agencies: agencies, Names: names, Points: string(pj), Now: now,
		Centre: a.User != nil && (a.User.Role == cityops.RoleOperator || a.User.Role == cityops.RoleAdmin),
		Done:   r.URL.Query().Get("done")}
	if f.Offset+len(reports) < total {
		q := r.URL.Query()
		q.Set("offset", fmt.Sprint(f.Offset+len(reports)))
		p.Next = "/staff/reports?" + q.Encode()
	}
	s.render(w, r, "inbox.html", p)
	return nil
}

// casePage is one report for staff: everything they may see, the timeline
// with internal notes, and the actions they may take now.
type casePage struct {
	Report   *cityops.Report
	Events   []*cityops.Event
	Actions  []string
	Agencies []*cityops.Agency
	Names    map[string]string
	Now      time.Time
	Errors   map[string]string
	Message  string
	Done     string
	Points   string // the report's point for the map, as JSON
	// Alarms are the alarms that opened the case, for viewers who may
	// read alarms: the page draws their readings.
	Alarms []*cityops.Alarm
}

func (s *Server) casePage(r *http.Request, tracking string) (*casePage, error) {
	ctx := r.Context()
	if in, err := s.reportInScope(ctx, tracking); err != nil {
		return nil, err
	} else if !in {
		return nil, errReportNotFound(tracking)
	}
	rep, err := s.Reports.FindReportByTracking(ctx, tracking)
	if err != nil {
		return nil, err
	}
	events, err := s.Reports.ReportEvents(ctx, rep.Tracking)
	if err != nil {
		return nil, err
	}
	active := true
	agencies, _, err := s.Agencies.FindAgencies(ctx, cityops.AgencyFilter{Active: &active})
	if err != nil {
		return nil, err
	}
	names, err := s.displayNames(r)
	if err != nil {
		return nil, err
	}
	p := &casePage{Report: rep, Events: events, Actions: actionsFor(cityops.ActorFromContext(ctx), rep),
		Agencies: agencies, Names: names, Now: time.Now()}
	if rep.Lat != nil {
		b, _ := json.Marshal([]map[string]any{{"t": rep.Tracking, "lat": *rep.Lat, "lon": *rep.Lon, "s": rep.Status, "o": rep.Overdue(p.Now)}})
		p.Points = string(b)
	}
	if s.Alarms != nil && rep.Channel == cityops.ChannelSensor && cityops.ActorFromContext(ctx).Can(cityops.PermAlarmsRead) {
		alarms, _, err := s.Alarms.FindAlarms(ctx, cityops.AlarmFilter{Report: &rep.Tracking, Limit: 20})
		if err != nil {
			return nil, err
		}
		for _, l := range alarms {
			p.Alarms = append(p.Alarms, compactAlarm(l))
		}
	}
	return p, nil
}

func (s *Server) handleCase(w http.ResponseWriter, r *http.Request) error {
	p, err := s.casePage(r, r.PathValue("tracking"))
	if err != nil {
		return err
	}
	p.Done = r.URL.Query().Get("done")
	s.render(w, r, "case.html", p)
	return nil
}

// handleCaseAct applies an action from the case page's forms. Problems
// re-render the page with the message; success returns to it.
func (s *Server) handleCaseAct(w http.ResponseWriter, r *http.Request) error {
	if in, err := s.reportInScope(r.Context(), r.PathValue("tracking")); err != nil {
		return err
	} else if !in {
		return errReportNotFound(r.PathValue("tracking"))
	}
	if err := r.ParseMultipartForm(8 << 20); err != nil && err != http.ErrNotMultipart {
		return uploadError(err)
	}
	f := r.PostForm
	tracking := r.PathValue("tracking")
	act := cityops.Action{Name: f.Get("action"), Note: f.Get("note"), Reason: f.Get("reason"), Agency: f.Get("agency"), Target: f.Get("target")}
	var err error
	if d := f.Get("due"); d != "" {
		t, perr := time.ParseInLocation("2006-01-02T15:04", d, hueZone)
		if perr != nil {
			err = &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"due": "is not a date and time"}}
		}
		act.Due = &t
	}
	if err == nil && r.MultipartForm != nil {
		var photos []cityops.Photo
		photos, err = s.formPhotos(r.MultipartForm.File["photo"], 1)
		if len(photos) == 1 {
			act.Photo = &photos[0]
		}
	}
	if err == nil {
		_, err = s.Reports.Act(r.Context(), tracking, act)
	}
	switch cityops.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/staff/reports/"+url.PathEscape(tracking)+"?done="+url.QueryEscape(act.Name), http.StatusSeeOther)
		return nil
	case cityops.EINVALID, cityops.ECONFLICT, cityops.EFORBIDDEN, cityops.ETOOLARGE:
		p, perr := s.casePage(r, tracking)
		if perr != nil {
			return perr
		}
		p.Errors, p.Message = cityops.ErrorFields(err), cityops.ErrorMessage(err)
		w.WriteHeader(ErrorStatus(err))
		s.render(w, r, "case.html", p)
		return nil
	}
	return err
}

// handleBulkAssign lets the centre route many reports at once.
func (s *Server) handleBulkAssign(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	agency := r.PostForm.Get("agency")
	list := r.PostForm["tracking"]
	if agency == "" || len(list) == 0 {
		return &cityops.Error{Code: cityops.EINVALID, Message: "choose reports and an agency",
			Fields: map[string]string{"agency": "choose an agency and at least one report"}}
	}
	if len(list) > 500 {
		return cityops.Errorf(cityops.EINVALID, "at most 500 reports at once")
	}
	var failed []string
	for _, t := range list {
		if _, err := s.Reports.Act(r.Context(), t, cityops.Action{Name: cityops.ActAssign, Agency: agency}); err != nil {
			if cityops.ErrorCode(err) == cityops.EINTERNAL {
				return err
			}
			failed = append(failed, t+": "+cityops.ErrorMessage(err))
		}
	}
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, "/staff/reports") {
		back = "/staff/reports"
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	done := fmt.Sprintf("assigned %d of %d", len(list)-len(failed), len(list))
	if len(failed) > 0 {
		done += "; " + strings.Join(failed, "; ")
	}
	http.Redirect(w, r, back+sep+"done="+url.QueryEscape(done), http.StatusSeeOther)
	return nil
}
