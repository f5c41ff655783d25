package http

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
)

// sectorGroup is a sector with its categories, for the grouped select.
type sectorGroup struct {
	Sector     *cityops.Sector
	Categories []*cityops.Category
}

func (s *Server) categoryGroups(r *http.Request) ([]sectorGroup, error) {
	active := true
	cats, err := s.Categories.FindCategories(r.Context(), cityops.CategoryFilter{Active: &active})
	if err != nil {
		return nil, err
	}
	sectors, err := s.Sectors.FindSectors(r.Context())
	if err != nil {
		return nil, err
	}
	var out []sectorGroup
	for _, sec := range sectors {
		g := sectorGroup{Sector: sec}
		for _, c := range cats {
			if c.Sector == sec.Code {
				g.Categories = append(g.Categories, c)
			}
		}
		if len(g.Categories) > 0 {
			out = append(out, g)
		}
	}
	return out, nil
}

// reportForm is what the report form shows: the choices, what the citizen
// typed (kept on a failed submission) and the problems by field.
type reportForm struct {
	Groups   []sectorGroup
	In       cityops.ReportInput
	Lat, Lon string
	Errors   map[string]string
	Message  string
	// Submission is a fresh key per form, so a double click or a resent
	// form makes one report, not two.
	Submission string
	// Staff see the operator's form: the channel the report came by.
	Staff    bool
	Channels []string
}

// Answered reports whether the form had value for the category's question
// code, to keep the citizen's answers when the form comes back.
func (f reportForm) Answered(category, code, value string) bool {
	if category != f.In.Category {
		return false
	}
	for _, v := range f.In.Answers[code] {
		if v == value {
			return true
		}
	}
	return false
}

// Answer returns the form's single answer to a free-text question.
func (f reportForm) Answer(category, code string) string {
	if category != f.In.Category || len(f.In.Answers[code]) == 0 {
		return ""
	}
	return f.In.Answers[code][0]
}

func (s *Server) handleReportForm(w http.ResponseWriter, r *http.Request) error {
	groups, err := s.categoryGroups(r)
	if err != nil {
		return err
	}
	staff := cityops.ActorFromContext(r.Context()).Can(cityops.PermReportsRead)
	q := r.URL.Query()
	form := reportForm{Groups: groups, In: cityops.ReportInput{Category: q.Get("category")},
		Submission: "web-" + auth.NewToken(16), Staff: staff, Channels: cityops.Channels}
	// The operations centre opens a case from a point on its map or from a
	// reading: the place and a first description come in the link. They
	// are only a starting point; the form checks them as it checks typing.
	if lat, err := strconv.ParseFloat(q.Get("lat"), 64); err == nil && lat >= -90 && lat <= 90 {
		if lon, err := strconv.ParseFloat(q.Get("lon"), 64); err == nil && lon >= -180 && lon <= 180 {
			form.Lat, form.Lon = strconv.FormatFloat(lat, 'f', 6, 64), strconv.FormatFloat(lon, 'f', 6, 64)
		}
	}
	if staff {
		if d := q.Get("description"); utf8.RuneCountInString(d) <= cityops.MaxDescription {
			form.In.Description = d
		}
		if ch := q.Get("channel"); slices.Contains(cityops.Channels, ch) {
			form.In.Channel = ch
		}
	}
	s.render(w, r, "report.html", form)
	return nil
}

// handleReportSubmit takes the public form (multipart, with photos). A
// problem re-renders the form with what was typed and the message at the
// field; success goes to the report's status page with the private link.
func (s *Server) handleReportSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseMultipartForm(8 << 20); err != nil && err != http.ErrNotMultipart {
		return uploadError(err)
	}
	f := r.PostForm
	form := reportForm{Lat: f.Get("lat"), Lon: f.Get("lon"), Submission: f.Get("submission"), In: cityops.ReportInput{
		Category: f.Get("category"), Description: f.Get("description"), Address: f.Get("address"),
		Name: f.Get("name"), Phone: f.Get("phone"), Email: f.Get("email"), Consent: f.Get("consent") == "yes",
		Channel: cityops.ChannelWeb, IdempotencyKey: f.Get("submission"),
	}}
	// Answers to the chosen category's questions: attr.<category>.<code>.
	prefix := "attr." + form.In.Category + "."
	for k, vals := range f {
		if code, ok := strings.CutPrefix(k, prefix); ok && form.In.Category != "" {
			if form.In.Answers == nil {
				form.In.Answers = map[string][]string{}
			}
			form.In.Answers[code] = append(form.In.Answers[code], vals...)
		}
	}
	// An operator records reports taken by hotline, e-mail or social pages.
	form.Staff = cityops.ActorFromContext(r.Context()).Can(cityops.PermReportsRead)
	form.Channels = cityops.Channels
	if ch := f.Get("channel"); form.Staff && ch != "" {
		form.In.Channel = ch
	}
	var v cityops.Validation
	for _, p := range []struct {
		s   string
		dst **float64
	}{{form.Lat, &form.In.Lat}, {form.Lon, &form.In.Lon}} {
		if p.s == "" {
			continue
		}
		x, err := strconv.ParseFloat(p.s, 64)
		if err != nil {
			v.Add("lat", "the location could not be read; pick it on the map again")
			continue
		}
		*p.dst = &x
	}
	err := v.Err()
	if err == nil && r.MultipartForm != nil {
		form.In.Photos, err = s.formPhotos(r.MultipartForm.File["photos"], cityops.MaxPhotos)
	}
	var rep *cityops.Report
	var token string
	if err == nil {
		rep, token, err = s.Reports.CreateReport(r.Context(), &form.In)
	}
	if code := cityops.ErrorCode(err); code == cityops.EINVALID || code == cityops.ETOOLARGE {
		groups, gerr := s.categoryGroups(r)
		if gerr != nil {
			return gerr
		}
		form.Groups, form.Errors, form.Message = groups, cityops.ErrorFields(err), cityops.ErrorMessage(err)
		w.WriteHeader(ErrorStatus(err)) // 400, or 413 for a photo too large
		s.render(w, r, "report.html", form)
		return nil
	}
	if err != nil {
		return err
	}
	if form.Staff {
		http.Redirect(w, r, "/staff/reports/"+rep.Tracking+"?done=receive", http.StatusSeeOther)
		return nil
	}
	q := url.Values{"new": {"1"}}
	if token != "" {
		q.Set("k", token)
	}
	http.Redirect(w, r, "/r/"+rep.Tracking+"?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// handleStatusLookup sends a typed tracking code to its page.
func (s *Server) handleStatusLookup(w http.ResponseWriter, r *http.Request) error {
	code := strings.ToUpper(strings.Join(strings.Fields(strings.ReplaceAll(r.URL.Query().Get("code"), "-", "")), ""))
	if code == "" {
		http.Redirect(w, r, "/report", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/r/"+url.PathEscape(code), http.StatusSeeOther)
	return nil
}

// statusPage is a report's public page.
type statusPage struct {
	Report  *cityops.Report
	Events  []*cityops.Event
	Token   string
	New     bool
	Actions []string // what the citizen may do now (with the token)
	Errors  map[string]string
	Message string
	Done    string
	Names   map[string]string // category and agency names
}

func (s *Server) statusPage(r *http.Request, tracking, token string) (*statusPage, error) {
	ctx := cityops.NewContextWithActor(r.Context(), nil) // the public view, whoever looks
	rep, err := s.Reports.FindReportByTracking(ctx, tracking)
	if err != nil {
		return nil, err
	}
	events, err := s.Reports.ReportEvents(ctx, rep.Tracking)
	if err != nil {
		return nil, err
	}
	names, err := s.displayNames(r)
	if err != nil {
		return nil, err
	}
	p := &statusPage{Report: rep.Public(), Events: events, Token: token, Names: names}
	if token != "" {
		p.Actions = cityops.AllowedActions(rep.Status, cityops.PartyCitizen)
		if rep.Rating != nil {
			p.Actions = without(p.Actions, cityops.ActRate)
		}
	}
	return p, nil
}

func without(list []string, x string) []string {
	var out []string
	for _, v := range list {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func (s *Server) handleStatusPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.statusPage(r, r.PathValue("tracking"), r.URL.Query().Get("k"))
	if err != nil {
		return err
	}
	p.New = r.URL.Query().Get("new") == "1"
	p.Done = r.URL.Query().Get("done")
	// The private link must not leak to other sites through Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, "status.html", p)
	return nil
}

// handleStatusAct takes the citizen's confirm, reopen or rating.
func (s *Server) handleStatusAct(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	f := r.PostForm
	tracking, token := r.PathValue("tracking"), f.Get("k")
	rating, _ := strconv.Atoi(f.Get("rating"))
	act := cityops.Action{Name: f.Get("action"), Note: f.Get("note"), Rating: rating, Token: token}
	_, err := s.Reports.Act(cityops.NewContextWithActor(r.Context(), nil), tracking, act)
	switch cityops.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/r/"+url.PathEscape(tracking)+"?"+url.Values{"k": {token}, "done": {act.Name}}.Encode(), http.StatusSeeOther)
		return nil
	case cityops.EINVALID, cityops.ECONFLICT, cityops.EFORBIDDEN:
		p, perr := s.statusPage(r, tracking, token)
		if perr != nil {
			return perr
		}
		p.Errors, p.Message = cityops.ErrorFields(err), cityops.ErrorMessage(err)
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(ErrorStatus(err))
		s.render(w, r, "status.html", p)
		return nil
	}
	return err
}
