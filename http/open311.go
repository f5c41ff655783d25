package http

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

// Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), with the
// common extensions: page/page_size, updated_after/updated_before,
// lat/long/radius, and FixMyStreet's servicerequestupdates (GET).
// Service codes are category codes; service_request_id is the tracking
// code, so a token is the id itself.

const open311Prefix = "/open311/v2/"

// open311Format returns "json" or "xml" from a path's extension.
func open311Format(path string) string {
	if strings.HasSuffix(path, ".xml") {
		return "xml"
	}
	return "json"
}

// open311Time formats times as the spec asks (W3C, with the zone) in the
// city's zone.
func open311Time(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(hueZone).Format("2006-01-02T15:04:05-07:00")
}

// writeOpen311 writes v as JSON or as XML under the root element.
func writeOpen311(w http.ResponseWriter, r *http.Request, status int, v any) {
	if open311Format(r.URL.Path) == "xml" {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(status)
		w.Write([]byte(xml.Header))
		xml.NewEncoder(w).Encode(v)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if x, ok := v.(interface{ jsonValue() any }); ok {
		v = x.jsonValue()
	}
	json.NewEncoder(w).Encode(v)
}

// open311Error is the spec's error list.
type open311Errors struct {
	XMLName xml.Name       `xml:"errors"`
	Errors  []open311Error `xml:"error"`
}

type open311Error struct {
	Code        int    `json:"code" xml:"code"`
	Description string `json:"description" xml:"description"`
}

func (e open311Errors) jsonValue() any { return e.Errors }

// open311Status maps error codes to the statuses the spec uses: 403 for a
// bad key, 404 for unknown ids and codes, 413 and 429 as they are, 400 for
// everything else the client did wrong.
func open311Status(err error) int {
	switch st := ErrorStatus(err); {
	case st == http.StatusUnauthorized:
		return http.StatusForbidden
	case st == http.StatusForbidden, st == http.StatusNotFound, st >= 500, st == http.StatusRequestEntityTooLarge,
		st == http.StatusTooManyRequests:
		return st
	default:
		return http.StatusBadRequest
	}
}

// writeOpen311Error is called by Server.Error for Open311 paths.
func writeOpen311Error(w http.ResponseWriter, r *http.Request, err error) {
	status := open311Status(err)
	var list []open311Error
	msg := cityops.ErrorMessage(err)
	if fields := cityops.ErrorFields(err); len(fields) > 0 {
		for k, v := range fields {
			list = append(list, open311Error{status, open311Field(k) + ": " + v})
		}
	} else {
		list = append(list, open311Error{status, msg})
	}
	writeOpen311(w, r, status, open311Errors{Errors: list})
}

// open311Field names our fields as Open311 clients know them.
func open311Field(k string) string {
	switch k {
	case "category":
		return "service_code"
	case "lon":
		return "long"
	case "address":
		return "address_string"
	}
	return k
}

type open311Discovery struct {
	XMLName    xml.Name          `xml:"discovery" json:"-"`
	Changeset  string            `json:"changeset" xml:"changeset"`
	Contact    string            `json:"contact" xml:"contact"`
	KeyService string            `json:"key_service" xml:"key_service"`
	Endpoints  []open311Endpoint `json:"endpoints" xml:"endpoints>endpoint"`
}

type open311Endpoint struct {
	Specification string   `json:"specification" xml:"specification"`
	URL           string   `json:"url" xml:"url"`
	Changeset     string   `json:"changeset" xml:"changeset"`
	Type          string   `json:"type" xml:"type"`
	Formats       []string `json:"formats" xml:"formats>format"`
}

func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || s.SecureCookies {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) handleOpen311Discovery(w http.ResponseWriter, r *http.Request) error {
	base := s.baseURL(r)
	writeOpen311(w, r, http.StatusOK, open311Discovery{
		Changeset:  "2026-11-28T00:00:00+07:00",
		Contact:    s.T(r, "open311.contact"),
		KeyService: s.T(r, "open311.key_service"),
		Endpoints: []open311Endpoint{{
			Specification: "http://wiki.open311.org/GeoReport_v2", URL: base + strings.TrimSuffix(open311Prefix, "/"),
			Changeset: "2026-11-28T00:00:00+07:00", Type: "production", Formats: []string{"application/json", "text/xml"},
		}},
	})
	return nil
}

// T translates for the request's language.
func (s *Server) T(r *http.Request, key string, args ...any) string {
	return s.Catalog.T(langFrom(r.Context()), key, args...)
}

type open311Services struct {
	XMLName  xml.Name         `xml:"services" json:"-"`
	Services []open311Service `xml:"service"`
}

func (v open311Services) jsonValue() any { return v.Services }

type open311Service struct {
	Code        string `json:"service_code" xml:"service_code"`
	Name        string `json:"service_name" xml:"service_name"`
	Description string `json:"description" xml:"description"`
	Metadata    bool   `json:"metadata" xml:"metadata"`
	Type        string `json:"type" xml:"type"`
	Keywords    string `json:"keywords" xml:"keywords"`
	Group       string `json:"group" xml:"group"`
}

func (s *Server) handleOpen311Services(w http.ResponseWriter, r *http.Request) error {
	active := true
	cats, err := s.Categories.FindCategories(r.Context(), cityops.CategoryFilter{Active: &active})
	if err != nil {
		return err
	}
	sectors, err := s.Sectors.FindSectors(r.Context())
	if err != nil {
		return err
	}
	lang := langFrom(r.Context())
	names := map[string]string{}
	for _, sec := range sectors {
		names[sec.Code] = sec.Names.In(lang, sec.Name)
	}
	out := open311Services{Services: []open311Service{}}
	for _, c := range cats {
		name := c.Names.In(lang, c.Name)
		out.Services = append(out.Services, open311Service{Code: c.Code, Name: name, Description: name,
			Metadata: len(c.Attributes) > 0, Type: "realtime", Keywords: c.Sector, Group: names[c.Sector]})
	}
	writeOpen311(w, r, http.StatusOK, out)
	return nil
}

type open311Definition struct {
	XMLName    xml.Name           `xml:"service_definition" json:"-"`
	Code       string             `json:"service_code" xml:"service_code"`
	Attributes []open311Attribute `json:"attributes" xml:"attributes>attribute"`
}

type open311Attribute struct {
	Variable    bool           `json:"variable" xml:"variable"`
	Code        string         `json:"code" xml:"code"`
	Datatype    string         `json:"datatype" xml:"datatype"`
	Required    bool           `json:"required" xml:"required"`
	DatatypeDoc string         `json:"datatype_description" xml:"datatype_description"`
	Order       int            `json:"order" xml:"order"`
	Description string         `json:"description" xml:"description"`
	Values      []open311Value `json:"values,omitempty" xml:"values>value,omitempty"`
}

type open311Value struct {
	Key  string `json:"key" xml:"key"`
	Name string `json:"name" xml:"name"`
}

// handleOpen311Definition serves a service definition: the category's
// extra questions, in the request's language.
func (s *Server) handleOpen311Definition(w http.ResponseWriter, r *http.Request) error {
	code, ok := open311ID(r.PathValue("code"))
	if !ok {
		return cityops.Errorf(cityops.ENOTFOUND, "give .json or .xml")
	}
	c, err := s.Categories.FindCategoryByCode(r.Context(), code)
	if err != nil {
		return err
	}
	if !c.Active {
		return cityops.Errorf(cityops.ENOTFOUND, "service %q is not offered", code)
	}
	lang := langFrom(r.Context())
	def := open311Definition{Code: c.Code, Attributes: []open311Attribute{}}
	for _, a := range c.Attributes {
		oa := open311Attribute{Variable: true, Code: a.Code, Datatype: a.Datatype, Required: a.Required,
			DatatypeDoc: s.T(r, "open311.datatype."+a.Datatype), Order: a.Order, Description: a.Names.In(lang, a.Description)}
		for _, v := range a.Values {
			oa.Values = append(oa.Values, open311Value{Key: v.Key, Name: v.Names.In(lang, v.Name)})
		}
		def.Attributes = append(def.Attributes, oa)
	}
	writeOpen311(w, r, http.StatusOK, def)
	return nil
}

// ownMedia recognises a link to a photo this server stores.
func ownMedia(u string) (string, bool) {
	i := strings.Index(u, "/media/")
	if i < 0 {
		return "", false
	}
	hash, ok := strings.CutSuffix(u[i+len("/media/"):], ".jpg")
	if !ok || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", false
	}
	return hash, true
}

// open311ID strips the format extension from a path value.
func open311ID(v string) (string, bool) {
	for _, ext := range []string{".json", ".xml"} {
		if id, ok := strings.CutSuffix(v, ext); ok && id != "" {
			return id, true
		}
	}
	return "", false
}

type open311Requests struct {
	XMLName  xml.Name         `xml:"service_requests" json:"-"`
	Requests []open311Request `xml:"request"`
}

func (v open311Requests) jsonValue() any { return v.Requests }

type open311Request struct {
	ID                string   `json:"service_request_id" xml:"service_request_id"`
	Token             string   `json:"token,omitempty" xml:"token,omitempty"`
	Status            string   `json:"status,omitempty" xml:"status,omitempty"`
	ExtendedStatus    string   `json:"extended_status,omitempty" xml:"extended_status,omitempty"`
	StatusNotes       string   `json:"status_notes,omitempty" xml:"status_notes,omitempty"`
	ServiceName       string   `json:"service_name,omitempty" xml:"service_name,omitempty"`
	ServiceCode       string   `json:"service_code,omitempty" xml:"service_code,omitempty"`
	Description       string   `json:"description,omitempty" xml:"description,omitempty"`
	AgencyResponsible string   `json:"agency_responsible,omitempty" xml:"agency_responsible,omitempty"`
	ServiceNotice     string   `json:"service_notice,omitempty" xml:"service_notice,omitempty"`
	AccountID         *string  `json:"account_id,omitempty" xml:"account_id,omitempty"`
	Requested         string   `json:"requested_datetime,omitempty" xml:"requested_datetime,omitempty"`
	Updated           string   `json:"updated_datetime,omitempty" xml:"updated_datetime,omitempty"`
	Expected          string   `json:"expected_datetime,omitempty" xml:"expected_datetime,omitempty"`
	Address           string   `json:"address,omitempty" xml:"address,omitempty"`
	Lat               *float64 `json:"lat,omitempty" xml:"lat,omitempty"`
	Long              *float64 `json:"long,omitempty" xml:"long,omitempty"`
	MediaURL          string   `json:"media_url,omitempty" xml:"media_url,omitempty"`
}

// open311StatusOf maps the workflow to Open311's two states; the extended
// status keeps the detail.
func open311StatusOf(status string) string {
	if cityops.Open(status) {
		return "open"
	}
	return "closed"
}

func (s *Server) open311Request(r *http.Request, rep *cityops.Report, catNames, agencyNames map[string]string) open311Request {
	notes := rep.Resolution
	if rep.Status == cityops.StatusDuplicate {
		notes = "duplicate of " + rep.DuplicateOf
	}
	media := rep.MediaURL
	for _, p := range rep.Photos {
		if p.Kind == "report" {
			media = s.baseURL(r) + "/media/" + p.Hash + ".jpg"
			break
		}
	}
	return open311Request{ID: rep.Tracking, Status: open311StatusOf(rep.Status), ExtendedStatus: rep.Status, StatusNotes: notes, MediaURL: media,
		ServiceName: catNames[rep.Category], ServiceCode: rep.Category, Description: rep.Description,
		AgencyResponsible: agencyNames[rep.Agency], Requested: open311Time(&rep.ReceivedAt), Updated: open311Time(&rep.UpdatedAt),
		Expected: open311Time(rep.DueAt), Address: rep.Address, Lat: rep.Lat, Long: rep.Lon}
}

// displayNames returns category ("c:CODE") and agency ("a:CODE") names in
// the request's language, for pages that show many of both.
func (s *Server) displayNames(r *http.Request) (map[string]string, error) {
	cats, agencies, err := s.names(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cats)+len(agencies))
	for k, v := range cats {
		out["c:"+k] = v
	}
	for k, v := range agencies {
		out["a:"+k] = v
	}
	return out, nil
}

// names returns the category and agency names in the request's language.
func (s *Server) names(r *http.Request) (cats, agencies map[string]string, err error) {
	lang := langFrom(r.Context())
	cs, err := s.Categories.FindCategories(r.Context(), cityops.CategoryFilter{})
	if err != nil {
		return nil, nil, err
	}
	cats = map[string]string{}
	for _, c := range cs {
		cats[c.Code] = c.Names.In(lang, c.Name)
	}
	gs, _, err := s.Agencies.FindAgencies(cityops.NewContextWithActor(r.Context(), cityops.SystemActor()), cityops.AgencyFilter{})
	if err != nil {
		return nil, nil, err
	}
	agencies = map[string]string{}
	for _, g := range gs {
		agencies[g.Code] = g.Names.In(lang, g.Name)
	}
	return cats, agencies, nil
}

// handleOpen311Create takes a report from a system holding an API key with
// the open311:write scope, as a form (the spec's encoding).
func (s *Server) handleOpen311Create(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "send the request as application/x-www-form-urlencoded")
	}
	in, formErr := open311Input(r.PostForm)
	// media_url: a photo uploaded here before (/media/<hash>.jpg) is
	// attached; any other link is kept as given and not fetched.
	if hash, ok := ownMedia(in.MediaURL); ok {
		p, err := s.photoByHash(hash, "")
		if err != nil {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"media_url": cityops.ErrorMessage(err)}}
		}
		in.Photos = append(in.Photos, p)
		in.MediaURL = ""
	}
	if formErr != nil {
		return formErr
	}
	in.IdempotencyKey = r.Header.Get("Idempotency-Key")
	rep, _, err := s.Reports.CreateReport(r.Context(), in)
	if err != nil {
		return err
	}
	writeOpen311(w, r, http.StatusCreated, open311Requests{Requests: []open311Request{{
		ID: rep.Tracking, ServiceNotice: s.T(r, "open311.notice", open311Time(rep.DueAt)),
	}}})
	return nil
}

// open311Input reads the fields of a POST requests form. The error, an
// EINVALID one, is for what cannot be read at all (no service_code, a
// lat that is not a number); the rest is ReportInput.Validate's.
func open311Input(f url.Values) (*cityops.ReportInput, error) {
	var v cityops.Validation
	in := &cityops.ReportInput{
		Category:    f.Get("service_code"),
		Description: f.Get("description"),
		Address:     f.Get("address_string"),
		Channel:     cityops.ChannelOpen311,
		Name:        strings.TrimSpace(f.Get("first_name") + " " + f.Get("last_name")),
		Phone:       f.Get("phone"),
		Email:       f.Get("email"),
		MediaURL:    strings.TrimSpace(f.Get("media_url")),
	}
	// attribute[code] and, for multi-value lists, attribute[code][].
	for k, vals := range f {
		if code, ok := strings.CutPrefix(k, "attribute["); ok {
			code = strings.TrimSuffix(strings.TrimSuffix(code, "[]"), "]")
			if in.Answers == nil {
				in.Answers = map[string][]string{}
			}
			in.Answers[code] = append(in.Answers[code], vals...)
		}
	}
	// The client collected the contact under its own terms; leaving one
	// is the reporter's consent.
	in.Consent = in.Name != "" || in.Phone != "" || in.Email != ""
	if in.Category == "" {
		v.Add("service_code", "is required")
	}
	for _, p := range []struct {
		name string
		dst  **float64
	}{{"lat", &in.Lat}, {"long", &in.Lon}} {
		if s := f.Get(p.name); s != "" {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				v.Add(p.name, "must be a decimal number")
				continue
			}
			*p.dst = &x
		}
	}
	return in, v.Err()
}

// handleOpen311Index lists requests with the spec's filters and the common
// extensions. Without dates it shows the last 90 days, at most 1,000.
func (s *Server) handleOpen311Index(w http.ResponseWriter, r *http.Request) error {
	f, err := open311Filter(r)
	if err != nil {
		return err
	}
	if f.Since == nil && f.Until == nil && len(f.Tracking) == 0 {
		since := time.Now().AddDate(0, 0, -90)
		f.Since = &since
	}
	// The public list: no personal data, whoever asks.
	ctx := cityops.NewContextWithActor(r.Context(), nil)
	reports, _, err := s.Reports.FindReports(ctx, f)
	if err != nil {
		return err
	}
	cats, agencies, err := s.names(r)
	if err != nil {
		return err
	}
	out := open311Requests{Requests: []open311Request{}}
	for _, rep := range reports {
		out.Requests = append(out.Requests, s.open311Request(r, rep.Public(), cats, agencies))
	}
	writeOpen311(w, r, http.StatusOK, out)
	return nil
}

// open311Filter reads the query of GET requests: the spec's filters and
// the common extensions, each checked.
func open311Filter(r *http.Request) (cityops.ReportFilter, error) {
	var v cityops.Validation
	q := r.URL.Query()
	split := func(s string) []string {
		var out []string
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
		return out
	}
	f := cityops.ReportFilter{
		Tracking:      split(strings.ToUpper(q.Get("service_request_id"))),
		Categories:    split(q.Get("service_code")),
		Since:         queryTime(r, &v, "start_date"),
		Until:         queryTime(r, &v, "end_date"),
		UpdatedSince:  queryTime(r, &v, "updated_after"),
		UpdatedUntil:  queryTime(r, &v, "updated_before"),
		IncludeQueued: true,
	}
	size := queryInt(r, &v, "page_size", 1000, 1, 1000)
	pg := queryInt(r, &v, "page", 1, 1, 1<<20)
	f.Limit, f.Offset = size, (pg-1)*size
	for _, st := range split(q.Get("status")) {
		switch st {
		case "open":
			f.Status = append(f.Status, cityops.OpenStatuses...)
		case "closed":
			f.Status = append(f.Status, cityops.StatusResolved, cityops.StatusClosed, cityops.StatusRejected, cityops.StatusDuplicate)
		default:
			v.Add("status", "%q is not open or closed", st)
		}
	}
	if q.Has("lat") || q.Has("long") {
		lat, lon := queryFloat(r, &v, "lat"), queryFloat(r, &v, "long")
		radius := 500.0
		if q.Has("radius") {
			radius = queryFloat(r, &v, "radius")
		}
		v.Check(radius > 0 && radius <= 50000, "radius", "must be 1 to 50000 metres")
		v.Check(lat >= -90 && lat <= 90, "lat", "must be between -90 and 90")
		v.Check(lon >= -180 && lon <= 180, "long", "must be between -180 and 180")
		f.Near = &cityops.Circle{Lat: lat, Lon: lon, Radius: radius}
	}
	return f, v.Err()
}

func (s *Server) handleOpen311View(w http.ResponseWriter, r *http.Request) error {
	id, ok := open311ID(r.PathValue("id"))
	if !ok {
		return cityops.Errorf(cityops.ENOTFOUND, "give .json or .xml")
	}
	rep, err := s.Reports.FindReportByTracking(cityops.NewContextWithActor(r.Context(), nil), id)
	if err != nil {
		return err
	}
	cats, agencies, err := s.names(r)
	if err != nil {
		return err
	}
	writeOpen311(w, r, http.StatusOK, open311Requests{Requests: []open311Request{s.open311Request(r, rep.Public(), cats, agencies)}})
	return nil
}

// handleOpen311Token answers a token query; ids are given at once, so the
// token is the id.
func (s *Server) handleOpen311Token(w http.ResponseWriter, r *http.Request) error {
	id, ok := open311ID(r.PathValue("token"))
	if !ok {
		return cityops.Errorf(cityops.ENOTFOUND, "give .json or .xml")
	}
	rep, err := s.Reports.FindReportByTracking(cityops.NewContextWithActor(r.Context(), nil), id)
	if err != nil {
		return err
	}
	writeOpen311(w, r, http.StatusOK, open311Requests{Requests: []open311Request{{ID: rep.Tracking, Token: rep.Tracking}}})
	return nil
}

type open311Updates struct {
	XMLName xml.Name        `xml:"service_request_updates" json:"-"`
	Updates []open311Update `json:"service_request_updates" xml:"request_update"`
}

type open311Update struct {
	UpdateID       string `json:"update_id" xml:"update_id"`
	ID             string `json:"service_request_id" xml:"service_request_id"`
	Status         string `json:"status" xml:"status"`
	ExtendedStatus string `json:"extended_status" xml:"extended_status"`
	Updated        string `json:"updated_datetime" xml:"updated_datetime"`
	Description    string `json:"description" xml:"description"`
	MediaURL       string `json:"media_url" xml:"media_url"`
}

// handleOpen311Updates lists public status changes (FixMyStreet's
// servicerequestupdates) between start_date and end_date, by default the
// last 24 hours, so that other systems can follow cityops.
func (s *Server) handleOpen311Updates(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	since, until := queryTime(r, &v, "start_date"), queryTime(r, &v, "end_date")
	if err := v.Err(); err != nil {
		return err
	}
	now := time.Now()
	if until == nil {
		until = &now
	}
	if since == nil {
		s := until.Add(-24 * time.Hour)
		since = &s
	}
	if until.Sub(*since) > 31*24*time.Hour {
		return cityops.Errorf(cityops.EINVALID, "ask for at most 31 days at a time")
	}
	events, err := s.Reports.PublicEvents(r.Context(), *since, *until, 1000)
	if err != nil {
		return err
	}
	out := open311Updates{Updates: []open311Update{}}
	for _, e := range events {
		if e.To == "" {
			continue
		}
		out.Updates = append(out.Updates, open311Update{UpdateID: fmt.Sprint(e.ID), ID: e.Tracking, Status: open311StatusOf(e.To),
			ExtendedStatus: e.To, Updated: open311Time(&e.At), Description: e.Note})
	}
	writeOpen311(w, r, http.StatusOK, out)
	return nil
}

// fmsStatuses maps the statuses of FixMyStreet's service request updates
// to the workflow steps that lead there, taken as the key's agency.
var fmsStatuses = map[string][]string{
	"open":                        {cityops.ActAccept},
	"investigating":               {cityops.ActAccept},
	"action_scheduled":            {cityops.ActAccept},
	"in_progress":                 {cityops.ActAccept, cityops.ActStart},
	"fixed":                       {cityops.ActAccept, cityops.ActResolve},
	"closed":                      {cityops.ActAccept, cityops.ActResolve},
	"not_councils_responsibility": {cityops.ActDecline},
	"internal_referral":           {cityops.ActDecline},
	"no_further_action":           {cityops.ActDecline},
}

// handleOpen311PostUpdate takes a status update from an agency's own
// system (FixMyStreet's POST servicerequestupdates), so that the agency
// works a report in its system and cityops follows. The API key must act
// for the report's lead agency. Steps already taken are skipped, so a
// repeated update succeeds without doing anything twice.
func (s *Server) handleOpen311PostUpdate(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "send the update as application/x-www-form-urlencoded")
	}
	f := r.PostForm
	var v cityops.Validation
	id := strings.ToUpper(f.Get("service_request_id"))
	status := strings.ToLower(f.Get("status"))
	note := strings.TrimSpace(f.Get("description"))
	v.Check(id != "", "service_request_id", "is required")
	steps, ok := fmsStatuses[status]
	var known []string
	for k := range fmsStatuses {
		known = append(known, k)
	}
	sort.Strings(known)
	v.Check(ok, "status", "must be one of %s", strings.Join(known, ", "))
	v.Check(len(note) <= cityops.MaxDescription, "description", "is longer than %d characters", cityops.MaxDescription)
	if err := v.Err(); err != nil {
		return err
	}
	ctx := r.Context()
	rep, err := s.Reports.FindReportByTracking(ctx, id)
	if err != nil {
		return err
	}
	for _, step := range steps {
		if !oneOf(step, cityops.AllowedActions(rep.Status, "")) {
			continue // already past this step
		}
		act := cityops.Action{Name: step, Note: note}
		switch step {
		case cityops.ActResolve:
			if note == "" {
				return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
					Fields: map[string]string{"description": "say what was done; the citizen reads it"}}
			}
		case cityops.ActAccept:
			act.Note = ""
		case cityops.ActDecline:
			act.Reason = status
		}
		if rep, err = s.Reports.Act(ctx, id, act); err != nil {
			return err
		}
	}
	if note != "" && len(steps) == 1 && steps[0] == cityops.ActAccept {
		// A progress note without a change of state.
		if rep, err = s.Reports.Act(ctx, id, cityops.Action{Name: cityops.ActComment, Note: note}); err != nil {
			return err
		}
	}
	events, err := s.Reports.ReportEvents(ctx, rep.Tracking)
	if err != nil {
		return err
	}
	var last int64
	if len(events) > 0 {
		last = events[len(events)-1].ID
	}
	writeOpen311(w, r, http.StatusOK, open311Updates{Updates: []open311Update{{UpdateID: strconv.FormatInt(last, 10), ID: rep.Tracking,
		Status: open311StatusOf(rep.Status), ExtendedStatus: rep.Status, Updated: open311Time(&rep.UpdatedAt)}}})
	return nil
}
