package http

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// Alarm rules name entity types and attributes short, as NGSI-LD requests
// without a context do; they are expanded with the core context and given
// back short.

func expandRule(r *cityops.AlarmRule) {
	core := jsonld.Core()
	if r.EntityType != "" {
		r.EntityType = core.ExpandTerm(r.EntityType)
	}
	if r.Attr != "" {
		r.Attr = core.ExpandTerm(r.Attr)
	}
}

func compactRule(r *cityops.AlarmRule) *cityops.AlarmRule {
	core := jsonld.Core()
	out := *r
	out.EntityType = core.CompactIRI(r.EntityType)
	if r.Attr != "" {
		out.Attr = core.CompactIRI(r.Attr)
	}
	return &out
}

func compactAlarm(l *cityops.Alarm) *cityops.Alarm {
	core := jsonld.Core()
	out := *l
	out.EntityType = core.CompactIRI(l.EntityType)
	if l.Attr != "" {
		out.Attr = core.CompactIRI(l.Attr)
	}
	return &out
}

func (s *Server) rulesChanged(r *http.Request) {
	if s.RulesChanged != nil {
		s.RulesChanged(r.Context())
	}
}

func (s *Server) handleRuleIndex(w http.ResponseWriter, r *http.Request) error {
	rules, err := s.Alarms.AlarmRules(r.Context())
	if err != nil {
		return err
	}
	for i, x := range rules {
		rules[i] = compactRule(x)
	}
	writeJSON(w, http.StatusOK, list[*cityops.AlarmRule]{Items: rules, Total: len(rules)})
	return nil
}

func (s *Server) handleRuleView(w http.ResponseWriter, r *http.Request) error {
	rule, err := s.Alarms.FindAlarmRule(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, compactRule(rule))
	return nil
}

// handleRuleSave creates or replaces the rule named in the path (PUT).
func (s *Server) handleRuleSave(w http.ResponseWriter, r *http.Request) error {
	var rule cityops.AlarmRule
	if err := decodeJSON(r, &rule); err != nil {
		return err
	}
	code := r.PathValue("code")
	if rule.Code != "" && rule.Code != code {
		return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"code": "differs from the code in the path"}}
	}
	rule.Code = code
	expandRule(&rule)
	_, findErr := s.Alarms.FindAlarmRule(r.Context(), code)
	if err := s.Alarms.SaveAlarmRule(r.Context(), &rule); err != nil {
		return err
	}
	s.rulesChanged(r)
	if cityops.ErrorCode(findErr) == cityops.ENOTFOUND {
		created(w, "/api/v1/alarm-rules/"+url.PathEscape(code), compactRule(&rule))
		return nil
	}
	writeJSON(w, http.StatusOK, compactRule(&rule))
	return nil
}

func (s *Server) handleRuleDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Alarms.DeleteAlarmRule(r.Context(), r.PathValue("code")); err != nil {
		return err
	}
	s.rulesChanged(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRuleImport takes a CSV file of rules (cityops.AlarmRuleColumns):
// all of them are saved, or none when any line is wrong.
func (s *Server) handleRuleImport(w http.ResponseWriter, r *http.Request) error {
	rules, err := cityops.ParseAlarmRulesCSV(r.Body)
	if err != nil {
		return err
	}
	for _, rule := range rules {
		expandRule(rule)
	}
	if err := s.Alarms.SaveAlarmRules(r.Context(), rules); err != nil {
		return err
	}
	s.rulesChanged(r)
	for i, x := range rules {
		rules[i] = compactRule(x)
	}
	writeJSON(w, http.StatusOK, list[*cityops.AlarmRule]{Items: rules, Total: len(rules)})
	return nil
}

// alarmFilter reads the alarm list's query parameters.
func alarmFilter(r *http.Request) (cityops.AlarmFilter, error) {
	var v cityops.Validation
	q := r.URL.Query()
	f := cityops.AlarmFilter{Sector: queryStr(r, "sector"), Area: queryStr(r, "area"), Rule: queryStr(r, "rule"),
		EntityID: queryStr(r, "entity"), Report: queryStr(r, "report"), Since: queryTime(r, &v, "since"),
		Limit: queryInt(r, &v, "limit", 100, 1, 1000), Offset: queryInt(r, &v, "offset", 0, 0, 1_000_000)}
	if b := queryBool(r, &v, "open"); b != nil {
		f.Open = *b
	}
	for _, st := range splitList(q.Get("status")) {
		v.Check(st == cityops.AlarmActive || st == cityops.AlarmAcknowledged || st == cityops.AlarmCleared, "status",
			"must be active, acknowledged or cleared")
		f.Status = append(f.Status, st)
	}
	for _, sv := range splitList(q.Get("severity")) {
		v.Check(cityops.SeverityRank(sv) > 0, "severity", "must be one of %s", strings.Join(cityops.Severities, ", "))
		f.Severity = append(f.Severity, sv)
	}
	return f, v.Err()
}

func (s *Server) handleAlarmIndex(w http.ResponseWriter, r *http.Request) error {
	f, err := alarmFilter(r)
	if err != nil {
		return err
	}
	alarms, total, err := s.Alarms.FindAlarms(r.Context(), f)
	if err != nil {
		return err
	}
	for i, l := range alarms {
		alarms[i] = compactAlarm(l)
	}
	writeJSON(w, http.StatusOK, list[*cityops.Alarm]{Items: alarms, Total: total, Offset: f.Offset, Limit: f.Limit})
	return nil
}

func (s *Server) handleAlarmView(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	l, err := s.Alarms.FindAlarm(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, compactAlarm(l))
	return nil
}

// handleAlarmAct acknowledges or clears an alarm: {"action": "acknowledge",
// "note": "…"}.
func (s *Server) handleAlarmAct(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Action string `json:"action"`
		Note   string `json:"note"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	l, err := s.Alarms.ActOnAlarm(r.Context(), id, in.Action, in.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, compactAlarm(l))
	return nil
}

// handleWarningIndex lists the public warnings in force; staff with
// warnings:write may ask for all of them (?all=true).
func (s *Server) handleWarningIndex(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	all := queryBool(r, &v, "all")
	limit := queryInt(r, &v, "limit", 50, 1, 500)
	if err := v.Err(); err != nil {
		return err
	}
	inForce := all == nil || !*all
	if !inForce && !cityops.ActorFromContext(r.Context()).Can(cityops.PermWarningsWrite) {
		return cityops.Errorf(cityops.EFORBIDDEN, "only the operations centre lists past warnings")
	}
	ws, err := s.Warnings.FindWarnings(r.Context(), inForce, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Warning]{Items: ws, Total: len(ws)})
	return nil
}

func (s *Server) handleWarningCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Title      string  `json:"title"`
		Body       string  `json:"body"`
		Severity   string  `json:"severity"`
		Sector     string  `json:"sector"`
		Area       string  `json:"area"`
		ValidFrom  optTime `json:"valid_from"`
		ValidUntil optTime `json:"valid_until"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	wr := &cityops.Warning{Title: in.Title, Body: in.Body, Severity: in.Severity, Sector: in.Sector, Area: in.Area, ValidUntil: in.ValidUntil.V}
	if in.ValidFrom.V != nil {
		wr.ValidFrom = *in.ValidFrom.V
	}
	if err := s.Warnings.CreateWarning(r.Context(), wr); err != nil {
		return err
	}
	created(w, "/api/v1/warnings/"+strconv.FormatInt(wr.ID, 10), wr)
	return nil
}

func (s *Server) handleWarningWithdraw(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	wr, err := s.Warnings.WithdrawWarning(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wr)
	return nil
}

type alarmReadings struct {
	Alarm  int64        `json:"alarm"`
	Entity string       `json:"entity"`
	Attr   string       `json:"attr"`
	Unit   string       `json:"unit,omitempty"`
	From   time.Time    `json:"from"`
	To     time.Time    `json:"to"`
	Points [][2]float64 `json:"points"` // unix seconds, value
	// Threshold is the rule's level, drawn beside the readings.
	Threshold *float64 `json:"threshold,omitempty"`
}

// handleAlarmReadings gives the readings behind an alarm: its entity's
// attribute over the last ?hours (24 by default, up to 5,000 readings),
// for the case the alarm opened and the alarm's page.
func (s *Server) handleAlarmReadings(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var v cityops.Validation
	hours := queryInt(r, &v, "hours", 24, 1, 24*31)
	if err := v.Err(); err != nil {
		return err
	}
	l, err := s.Alarms.FindAlarm(r.Context(), id)
	if err != nil {
		return err
	}
	to := time.Now()
	out := alarmReadings{Alarm: l.ID, Entity: l.EntityID, Attr: jsonld.Core().CompactIRI(l.Attr), From: to.Add(-time.Duration(hours) * time.Hour),
		To: to, Points: [][2]float64{}}
	if rule, err := s.Alarms.FindAlarmRule(r.Context(), l.Rule); err == nil && rule.Kind == cityops.RuleThreshold {
		out.Threshold = &rule.Value
	}
	if l.Attr != "" { // a silence has no readings to show
		// Reading entities needs data:read, which every role that reads
		// alarms holds; the entity is read as the caller.
		insts, err := s.Entities.History(r.Context(), l.Tenant, l.EntityID, l.Attr, out.From, to, 5000, true)
		if err != nil && cityops.ErrorCode(err) != cityops.ENOTFOUND {
			return err
		}
		for _, in := range insts {
			if f, ok := in.Value.Number(); ok {
				out.Points = append(out.Points, [2]float64{float64(in.ObservedAt.Unix()), f})
				if u, ok := in.Value["unitCode"].(string); ok {
					out.Unit = u
				}
			}
		}
		sort.Slice(out.Points, func(i, j int) bool { return out.Points[i][0] < out.Points[j][0] })
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
