package http

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cityops/cityops"
)

// reportCreated is the answer to a new report: the report, and once only
// the citizen's token that lets them confirm, reopen and rate it.
type reportCreated struct {
	*cityops.Report
	Token     string `json:"token,omitempty"`
	StatusURL string `json:"status_url"`
}

// reportRequest is the body of POST /api/v1/reports.
type reportRequest struct {
	cityops.ReportInput
	// Photos uploaded to /api/v1/photos before, as it answered.
	Photos []struct {
		Hash  string `json:"hash"`
		Thumb string `json:"thumb"`
	} `json:"photos"`
	// Attributes answers the category's questions: a string, a
	// number or, for a multi-value list, a list of strings.
	Attributes map[string]any `json:"attributes"`
}

// answers returns the answers to the category's questions as
// cityops.CheckAnswers takes them (nil when there are none).
func (req *reportRequest) answers() (map[string][]string, error) {
	if len(req.Attributes) == 0 {
		return nil, nil
	}
	out := map[string][]string{}
	for k, v := range req.Attributes {
		switch x := v.(type) {
		case string:
			out[k] = []string{x}
		case float64:
			out[k] = []string{strconv.FormatFloat(x, 'f', -1, 64)}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"attribute[" + k + "]": "a list holds strings"}}
				}
				out[k] = append(out[k], s)
			}
		default:
			return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"attribute[" + k + "]": "must be a string, a number or a list of strings"}}
		}
	}
	return out, nil
}

// handleReportCreate takes a report from the public, an app or staff.
// Staff may record the channel it came by (hotline, e-mail, social pages);
// the public reports through the web or an app. A retried request with the
// same Idempotency-Key returns the first report, not a second one.
func (s *Server) handleReportCreate(w http.ResponseWriter, r *http.Request) error {
	var req reportRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	in := req.ReportInput
	answers, err := req.answers()
	if err != nil {
		return err
	}
	in.Answers = answers
	if len(req.Photos) > cityops.MaxPhotos {
		return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"photos": "at most 5 photos"}}
	}
	for _, ph := range req.Photos {
		p, err := s.photoByHash(ph.Hash, ph.Thumb)
		if err != nil {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"photos": cityops.ErrorMessage(err)}}
		}
		in.Photos = append(in.Photos, p)
	}
	in.IdempotencyKey = r.Header.Get("Idempotency-Key")
	staff := cityops.ActorFromContext(r.Context()).Can(cityops.PermReportsRead)
	if !staff && in.Channel != "" && in.Channel != cityops.ChannelWeb && in.Channel != cityops.ChannelApp {
		return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"channel": "only staff record reports taken by hotline, e-mail or social pages"}}
	}
	rep, token, err := s.Reports.CreateReport(r.Context(), &in)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if token == "" {
		status = http.StatusOK // an idempotent replay
	}
	loc := "/api/v1/reports/" + url.PathEscape(rep.Tracking)
	w.Header().Set("Location", loc)
	if !staff {
		rep = rep.Public()
	}
	writeJSON(w, status, reportCreated{Report: rep, Token: token, StatusURL: "/r/" + rep.Tracking})
	return nil
}

// handleReportNearby suggests open reports of the same category near a
// point, so a citizen can follow one instead of filing a duplicate.
func (s *Server) handleReportNearby(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	cat := r.URL.Query().Get("category")
	v.Check(cat != "", "category", "is required")
	lat, lon := queryFloat(r, &v, "lat"), queryFloat(r, &v, "lon")
	v.Check(lat >= -90 && lat <= 90, "lat", "must be between -90 and 90")
	v.Check(lon >= -180 && lon <= 180, "lon", "must be between -180 and 180")
	if err := v.Err(); err != nil {
		return err
	}
	similar, err := s.Reports.SimilarReports(r.Context(), cat, lat, lon)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Report]{Items: similar, Total: len(similar)})
	return nil
}

func (s *Server) handleReportIndex(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	q := r.URL.Query()
	f := cityops.ReportFilter{
		Sector:        queryStr(r, "sector"),
		Category:      queryStr(r, "category"),
		Agency:        queryStr(r, "agency"),
		Area:          queryStr(r, "area"),
		Overdue:       queryBool(r, &v, "overdue"),
		Text:          queryStr(r, "q"),
		IncludeQueued: q.Get("queued") == "true",
		Since:         queryTime(r, &v, "since"),
		Until:         queryTime(r, &v, "until"),
		Offset:        queryInt(r, &v, "offset", 0, 0, 1<<30),
		Limit:         queryInt(r, &v, "limit", 50, 1, 1000),
	}
	if st := q.Get("status"); st != "" {
		for _, x := range strings.Split(st, ",") {
			if !oneOf(x, cityops.Statuses) {
				v.Add("status", "%q is not a status; use %s", x, strings.Join(cityops.Statuses, ", "))
			}
			f.Status = append(f.Status, x)
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	reports, total, err := s.Reports.FindReports(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Report]{Items: reports, Total: total, Offset: f.Offset, Limit: f.Limit})
	return nil
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reportView is a report with its timeline and what the viewer may do next.
type reportView struct {
	*cityops.Report
	Events  []*cityops.Event `json:"events"`
	Actions []string         `json:"actions,omitempty"`
}

// reportInScope reports whether the request's actor, when staff who read
// reports, works on the report: it is in their inbox (as storage scopes
// reports: their ward's, their agency's, those it supports), or their
// agency supported it. For everyone else it is true: the public view and
// the citizen's token are decided elsewhere.
func (s *Server) reportInScope(ctx context.Context, tracking string) (bool, error) {
	a := cityops.ActorFromContext(ctx)
	if !a.Can(cityops.PermReportsRead) {
		return true, nil
	}
	tracking = strings.ToUpper(tracking)
	_, n, err := s.Reports.FindReports(ctx, cityops.ReportFilter{Tracking: []string{tracking}, IncludeQueued: true,
		WithoutReporter: true, Limit: 1})
	if err != nil || n > 0 {
		return n > 0, err
	}
	// The inbox lists open tasks only; an agency keeps its case after its
	// part is done.
	agency := ""
	if a.APIKey != nil {
		agency = a.APIKey.Agency
	} else if a.User != nil {
		agency = a.User.AgencyCode
	}
	if agency == "" {
		return false, nil
	}
	rep, err := s.Reports.FindReportByTracking(cityops.NewContextWithActor(ctx, nil), tracking)
	if cityops.ErrorCode(err) == cityops.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, sp := range rep.Supporting {
		if sp.Agency == agency {
			return true, nil
		}
	}
	return false, nil
}

// errReportNotFound is what a report outside the caller's scope answers:
// the same as one that does not exist.
func errReportNotFound(tracking string) error {
	return cityops.Errorf(cityops.ENOTFOUND, "report %q not found", tracking)
}

// handleReportView shows a report. Staff see it with its internal
// timeline when it is in their scope; otherwise they see what the public
// sees.
func (s *Server) handleReportView(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if in, err := s.reportInScope(ctx, r.PathValue("tracking")); err != nil {
		return err
	} else if !in {
		ctx = cityops.NewContextWithActor(ctx, nil)
	}
	rep, err := s.Reports.FindReportByTracking(ctx, r.PathValue("tracking"))
	if err != nil {
		return err
	}
	events, err := s.Reports.ReportEvents(ctx, rep.Tracking)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reportView{Report: rep, Events: events, Actions: actionsFor(cityops.ActorFromContext(ctx), rep)})
	return nil
}

// actionsFor lists the actions the viewer could take now, for the UI.
func actionsFor(a *cityops.Actor, rep *cityops.Report) []string {
	var out []string
	if a == nil || a.User == nil {
		return nil
	}
	if a.User.Role == cityops.RoleOperator || a.User.Role == cityops.RoleAdmin {
		out = append(out, cityops.AllowedActions(rep.Status, cityops.PartyCentre)...)
	}
	add := func(party string) {
		for _, x := range cityops.AllowedActions(rep.Status, party) {
			if !oneOf(x, out) {
				out = append(out, x)
			}
		}
	}
	if a.User.Role == cityops.RoleSteering || a.User.AgencyCode == "" {
		return out
	}
	if a.User.AgencyCode == rep.Agency {
		add(cityops.PartyLead)
	}
	for _, sp := range rep.Supporting {
		if sp.Agency == a.User.AgencyCode && sp.DoneAt == nil {
			add(cityops.PartySupport)
		}
	}
	return out
}

// handleReportAct moves a report through the workflow. Staff act with their
// session or key; the citizen with the token given at submission.
func (s *Server) handleReportAct(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		cityops.Action
		Token string `json:"token"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	act := req.Action
	act.Token = req.Token
	if t := r.Header.Get("X-Citizen-Token"); t != "" {
		act.Token = t
	}
	if act.Token == "" {
		// Staff act on the reports in their scope; others are not found.
		if in, err := s.reportInScope(r.Context(), r.PathValue("tracking")); err != nil {
			return err
		} else if !in {
			return errReportNotFound(r.PathValue("tracking"))
		}
	}
	rep, err := s.Reports.Act(r.Context(), r.PathValue("tracking"), act)
	if err != nil {
		return err
	}
	if !cityops.ActorFromContext(r.Context()).Can(cityops.PermReportsRead) {
		rep = rep.Public()
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) handleRoutingRuleIndex(w http.ResponseWriter, r *http.Request) error {
	rules, err := s.Routing.FindRoutingRules(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.RoutingRule]{Items: rules, Total: len(rules)})
	return nil
}

func (s *Server) handleRoutingRuleCreate(w http.ResponseWriter, r *http.Request) error {
	var rule cityops.RoutingRule
	if err := decodeJSON(r, &rule); err != nil {
		return err
	}
	if err := s.Routing.CreateRoutingRule(r.Context(), &rule); err != nil {
		return err
	}
	created(w, fmt.Sprintf("/api/v1/routing-rules/%d", rule.ID), &rule)
	return nil
}

func (s *Server) handleRoutingRuleDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Routing.DeleteRoutingRule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
