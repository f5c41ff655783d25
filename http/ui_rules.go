package http

import (
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/xlsx"
)

// The administrators' pages for alarm rules: a list with CSV export and
// import, and a form per rule. Pages show entity types and attributes
// short ("AirQualityObserved", "pm25"), as people type them; the rules keep
// them expanded (see expandRule).

// maxRulesCSV is the largest rule file an import takes.
const maxRulesCSV = 1 << 20

// ruleRow is a rule in the list, names short, with its condition in words.
type ruleRow struct {
	*cityops.AlarmRule
	Condition string
}

// rulesPage is the list of rules with the import form.
type rulesPage struct {
	Rules   []ruleRow
	Total   int
	Sectors []*cityops.Sector
	// Sector and Enabled are the filters ("" for all).
	Sector  string
	Enabled string
	// Names holds category ("c:code"), agency ("a:code") and sector
	// ("s:code") names in the page's language.
	Names        map[string]string
	Columns      []string
	Done         string
	ImportErrors []string
}

func (s *Server) rulesPage(r *http.Request) (*rulesPage, error) {
	ctx := r.Context()
	lang := langFrom(ctx)
	rules, err := s.Alarms.AlarmRules(ctx)
	if err != nil {
		return nil, err
	}
	sectors, err := s.Sectors.FindSectors(ctx)
	if err != nil {
		return nil, err
	}
	names, err := s.displayNames(r)
	if err != nil {
		return nil, err
	}
	for _, x := range sectors {
		names["s:"+x.Code] = x.Names.In(lang, x.Name)
	}
	q := r.URL.Query()
	p := &rulesPage{Total: len(rules), Sectors: sectors, Sector: q.Get("sector"), Enabled: q.Get("enabled"), Names: names,
		Columns: cityops.AlarmRuleColumns}
	for _, x := range rules {
		if p.Sector != "" && x.Sector != p.Sector {
			continue
		}
		if (p.Enabled == "true" && !x.Enabled) || (p.Enabled == "false" && x.Enabled) {
			continue
		}
		c := compactRule(x)
		p.Rules = append(p.Rules, ruleRow{c, s.ruleCondition(lang, c)})
	}
	return p, nil
}

func (s *Server) handleRulesPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.rulesPage(r)
	if err != nil {
		return err
	}
	p.Done = s.rulesDone(langFrom(r.Context()), r.URL.Query())
	s.render(w, r, "rules.html", p)
	return nil
}

// rulesDone is the message after a change (post-redirect-get): what was
// done, to which rule or how many.
func (s *Server) rulesDone(lang string, q url.Values) string {
	switch d := q.Get("done"); d {
	case "imported":
		if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 {
			return s.Catalog.T(lang, "rules.done.imported", n)
		}
	case "saved", "deleted", "enabled", "disabled":
		if code := q.Get("code"); cityops.ValidCode(code) {
			return s.Catalog.T(lang, "rules.done."+d, code)
		}
	}
	return ""
}

// ruleOps shows comparison operators as people write them.
var ruleOps = map[string]string{">": ">", ">=": "≥", "<": "<", "<=": "≤"}

// ruleNotOps is where a condition with the operator ends: a "> 50" alarm
// with clear 45 clears at "≤ 45".
var ruleNotOps = map[string]string{">": "≤", ">=": "<", "<": "≥", "<=": ">"}

// ruleMirrorOps turns the operator of a (negative) change into that of a
// fall: a change "< -0.5" is a fall "> 0.5".
var ruleMirrorOps = map[string]string{">": "<", ">=": "≤", "<": ">", "<=": "≥"}

func ruleNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ruleCondition says a rule's condition in words, in lang: "> 50 for 60
// min, clears ≤ 45", "rises ≥ 0.5 in 60 min", "> 75 3 times in 60 min",
// "silent 30 min".
func (s *Server) ruleCondition(lang string, r *cityops.AlarmRule) string {
	T := func(key string, args ...any) string { return s.Catalog.T(lang, key, args...) }
	op := ruleOps[r.Op]
	var b strings.Builder
	switch r.Kind {
	case cityops.RuleThreshold:
		b.WriteString(op + " " + ruleNum(r.Value))
		if r.ForMinutes > 0 {
			b.WriteString(" " + T("rules.cond.for", r.ForMinutes))
		}
		if r.Clear != nil {
			b.WriteString(", " + T("rules.cond.clears", ruleNotOps[r.Op], ruleNum(*r.Clear)))
		}
	case cityops.RuleRate:
		rises := strings.HasPrefix(r.Op, ">") && r.Value >= 0
		falls := strings.HasPrefix(r.Op, "<") && r.Value <= 0
		switch {
		case rises:
			b.WriteString(T("rules.cond.rises", op, ruleNum(r.Value), r.WindowMinutes))
		case falls:
			b.WriteString(T("rules.cond.falls", ruleMirrorOps[r.Op], ruleNum(-r.Value), r.WindowMinutes))
		default:
			b.WriteString(T("rules.cond.changes", op, ruleNum(r.Value), r.WindowMinutes))
		}
		if r.Clear != nil {
			if falls {
				b.WriteString(", " + T("rules.cond.clears", ruleMirrorOps[ruleOpOf(ruleNotOps[r.Op])], ruleNum(-*r.Clear)))
			} else {
				b.WriteString(", " + T("rules.cond.clears", ruleNotOps[r.Op], ruleNum(*r.Clear)))
			}
		}
	case cityops.RuleCount:
		b.WriteString(T("rules.cond.count", op, ruleNum(r.Value), r.Count, r.WindowMinutes))
	case cityops.RuleSilent:
		b.WriteString(T("rules.cond.silent", r.WindowMinutes))
	}
	return b.String()
}

// ruleOpOf turns a shown operator back into the rule's.
func ruleOpOf(shown string) string {
	for op, s := range ruleOps {
		if s == shown {
			return op
		}
	}
	return shown
}

// handleRulesCSV downloads every rule as CSV, in the columns the import
// takes (cityops.AlarmRuleColumns) and with names short, so that the file
// imports back unchanged.
func (s *Server) handleRulesCSV(w http.ResponseWriter, r *http.Request) error {
	rules, err := s.Alarms.AlarmRules(r.Context())
	if err != nil {
		return err
	}
	if err := s.recordExport(r, "rules.export", "rules.csv", fmt.Sprintf("rules=%d", len(rules))); err != nil {
		return err
	}
	stamp := time.Now().In(hueZone).Format("20060102")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cityops-alarm-rules-%s.csv"`, stamp))
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("\ufeff")) // spreadsheets read UTF-8 (Vietnamese) only with the mark; the import skips it
	cw := csv.NewWriter(w)
	cw.Write(cityops.AlarmRuleColumns)
	for _, x := range rules {
		cw.Write(ruleRecord(compactRule(x)))
	}
	cw.Flush()
	return cw.Error()
}

// ruleRecord is one rule as a CSV line. Text cells are guarded against
// spreadsheet formulas (the import takes the guard off again); numbers are
// written as they are, so that "-5" stays a number.
func ruleRecord(r *cityops.AlarmRule) []string {
	whole := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	clear := ""
	if r.Clear != nil {
		clear = ruleNum(*r.Clear)
	}
	text := guard
	cells := map[string]string{
		"code": text(r.Code), "name": text(r.Name), "name_en": text(r.Names["en"]), "sector": text(r.Sector),
		"severity": text(r.Severity), "tenant": text(r.Tenant), "entity_type": text(r.EntityType), "entity_id": text(r.EntityID), "area": text(r.Area),
		"attr": text(r.Attr), "kind": text(r.Kind), "op": text(r.Op), "value": ruleNum(r.Value), "clear": clear,
		"for_minutes": whole(r.ForMinutes), "window_minutes": whole(r.WindowMinutes), "count": whole(r.Count),
		"auto_clear": strconv.FormatBool(r.AutoClear), "category": text(r.Category), "agency": text(r.Agency),
		"due_hours": whole(r.DueHours), "message": text(r.Message), "enabled": strconv.FormatBool(r.Enabled),
	}
	out := make([]string, len(cityops.AlarmRuleColumns))
	for i, c := range cityops.AlarmRuleColumns {
		out[i] = cells[c]
	}
	return out
}

// guard is xlsx.CSVSafe, and also quotes text that starts the way
// guarded text does, so that the import (cityops.ParseAlarmRulesCSV),
// which takes one quote off, gives back exactly what was written.
func guard(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte("=+-@\t\r'", s[1]) >= 0 {
		return "'" + s
	}
	return xlsx.CSVSafe(s)
}

// handleRulesImport saves the rules of an uploaded CSV file: all of them,
// or none when any line is wrong, with the problems shown by line.
func (s *Server) handleRulesImport(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseMultipartForm(maxRulesCSV); err != nil {
		if errors.Is(err, http.ErrNotMultipart) {
			return cityops.Errorf(cityops.EINVALID, "send the file as a multipart form")
		}
		return uploadError(err)
	}
	lang := langFrom(r.Context())
	files := r.MultipartForm.File["file"]
	var rules []*cityops.AlarmRule
	var err error
	switch {
	case len(files) != 1:
		err = &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"file": s.Catalog.T(lang, "rules.err.file")}}
	case files[0].Size > maxRulesCSV:
		return cityops.Errorf(cityops.ETOOLARGE, "the file is larger than %d bytes", maxRulesCSV)
	default:
		f, ferr := files[0].Open()
		if ferr != nil {
			return cityops.Errorf(cityops.EINVALID, "the file could not be read")
		}
		defer f.Close()
		rules, err = cityops.ParseAlarmRulesCSV(f)
	}
	if err == nil {
		for _, x := range rules {
			expandRule(x)
		}
		err = s.Alarms.SaveAlarmRules(r.Context(), rules)
	}
	if cityops.ErrorCode(err) == cityops.EINVALID {
		p, perr := s.rulesPage(r)
		if perr != nil {
			return perr
		}
		p.ImportErrors = importErrors(err, len(rules))
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, "rules.html", p)
		return nil
	}
	if err != nil {
		return err
	}
	s.rulesChanged(r)
	http.Redirect(w, r, fmt.Sprintf("/ioc/rules?done=imported&n=%d", len(rules)), http.StatusSeeOther)
	return nil
}

var (
	ruleIndexRE = regexp.MustCompile(`^rules\[(\d+)\] \([^)]*\)\.(.+)$`)
	lineRE      = regexp.MustCompile(`^line (\d+)`)
)

// importErrors lists an import's problems by line: "line 3: value: "abc"
// is not a number". The parser names lines; saving names rules by index
// (rule i is on line i+2, after the header), or not at all when there is
// one rule.
func importErrors(err error, rules int) []string {
	type item struct {
		line int
		text string
	}
	var items []item
	fields := cityops.ErrorFields(err)
	if len(fields) == 0 {
		return []string{cityops.ErrorMessage(err)}
	}
	for k, msg := range fields {
		if m := ruleIndexRE.FindStringSubmatch(k); m != nil {
			i, _ := strconv.Atoi(m[1])
			k = fmt.Sprintf("line %d: %s", i+2, m[2])
		} else if rules == 1 && !lineRE.MatchString(k) {
			k = "line 2: " + k
		}
		line := 0
		if m := lineRE.FindStringSubmatch(k); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		items = append(items, item{line, k + ": " + msg})
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].line != items[j].line {
			return items[i].line < items[j].line
		}
		return items[i].text < items[j].text
	})
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.text
	}
	return out
}

// ruleInput is the rule form as typed, so that a wrong number shows again
// as it was written.
type ruleInput struct {
	Code, Name, NameEn, Sector, Severity, Tenant, EntityType, EntityID, Area, Attr, Kind, Op string
	Value, Clear, ForMinutes, WindowMinutes, Count, DueHours                                 string
	Category, Agency, Message                                                                string
	AutoClear, Enabled                                                                       bool
}

func ruleInputOf(r *cityops.AlarmRule) ruleInput {
	whole := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	in := ruleInput{Code: r.Code, Name: r.Name, NameEn: r.Names["en"], Sector: r.Sector, Severity: r.Severity, EntityType: r.EntityType,
		Tenant: r.Tenant, EntityID: r.EntityID, Area: r.Area, Attr: r.Attr, Kind: r.Kind, Op: r.Op, Value: ruleNum(r.Value),
		ForMinutes: whole(r.ForMinutes), WindowMinutes: whole(r.WindowMinutes), Count: whole(r.Count), DueHours: whole(r.DueHours),
		Category: r.Category, Agency: r.Agency, Message: r.Message, AutoClear: r.AutoClear, Enabled: r.Enabled}
	if r.Clear != nil {
		in.Clear = ruleNum(*r.Clear)
	}
	if r.Kind == cityops.RuleSilent && r.Value == 0 {
		in.Value = ""
	}
	return in
}

// ruleFields are the fields the form shows errors beside; others go to
// the message at the top.
var ruleFields = []string{"code", "name", "name_en", "sector", "severity", "tenant", "entity_type", "entity_id", "area", "attr", "kind", "op",
	"value", "clear", "for_minutes", "window_minutes", "count", "auto_clear", "category", "agency", "due_hours", "message", "enabled"}

// ruleForm is the page of one rule: a form for those who edit rules, the
// rule's facts for those who only read them.
type ruleForm struct {
	New  bool
	Edit bool
	In   ruleInput
	// Rule is the saved rule (names short); nil for a new one.
	Rule       *cityops.AlarmRule
	Condition  string
	Errors     map[string]string
	Other      []string
	Names      map[string]string
	Sectors    []*cityops.Sector
	Categories []*cityops.Category
	Agencies   []*cityops.Agency
	Areas      []*cityops.Area
	Severities []string
	Kinds      []string
	Ops        []string
	OpNames    map[string]string
	// Types and Attrs suggest what the other rules watch.
	Types, Attrs []string
}

func (s *Server) ruleForm(r *http.Request, in ruleInput, saved *cityops.AlarmRule) (*ruleForm, error) {
	ctx := r.Context()
	lang := langFrom(ctx)
	p := &ruleForm{In: in, Edit: cityops.ActorFromContext(ctx).Can(cityops.PermRulesWrite), Severities: cityops.Severities,
		Kinds: cityops.RuleKinds, Ops: cityops.RuleOps, OpNames: ruleOps}
	if saved != nil {
		p.Rule = compactRule(saved)
		p.Condition = s.ruleCondition(lang, p.Rule)
	}
	var err error
	if p.Names, err = s.displayNames(r); err != nil {
		return nil, err
	}
	if p.Sectors, err = s.Sectors.FindSectors(ctx); err != nil {
		return nil, err
	}
	for _, x := range p.Sectors {
		p.Names["s:"+x.Code] = x.Names.In(lang, x.Name)
	}
	if !p.Edit {
		return p, nil
	}
	if p.Categories, err = s.Categories.FindCategories(ctx, cityops.CategoryFilter{}); err != nil {
		return nil, err
	}
	if p.Agencies, _, err = s.Agencies.FindAgencies(ctx, cityops.AgencyFilter{}); err != nil {
		return nil, err
	}
	if p.Areas, _, err = s.Areas.FindAreas(ctx, cityops.AreaFilter{}); err != nil {
		return nil, err
	}
	rules, err := s.Alarms.AlarmRules(ctx)
	if err != nil {
		return nil, err
	}
	types, attrs := map[string]bool{}, map[string]bool{}
	for _, x := range rules {
		c := compactRule(x)
		types[c.EntityType] = true
		if c.Attr != "" {
			attrs[c.Attr] = true
		}
	}
	p.Types, p.Attrs = sortedKeys(types), sortedKeys(attrs)
	return p, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) handleRuleNew(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ruleForm(r, ruleInput{Severity: cityops.SeverityMinor, Kind: cityops.RuleThreshold, AutoClear: true, Enabled: true}, nil)
	if err != nil {
		return err
	}
	p.New = true
	s.render(w, r, "rule.html", p)
	return nil
}

func (s *Server) handleRulePage(w http.ResponseWriter, r *http.Request) error {
	rule, err := s.Alarms.FindAlarmRule(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	p, err := s.ruleForm(r, ruleInputOf(compactRule(rule)), rule)
	if err != nil {
		return err
	}
	s.render(w, r, "rule.html", p)
	return nil
}

// handleRuleSubmit saves the form: the rule of the path, or, from the form
// for a new rule (create=1), a rule with the code typed in, which must not
// exist yet.
func (s *Server) handleRuleSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	ctx := r.Context()
	lang := langFrom(ctx)
	T := func(key string) string { return s.Catalog.T(lang, key) }
	f := r.PostForm
	create := f.Get("create") == "1"
	code := r.PathValue("code")
	if create {
		code = strings.TrimSpace(f.Get("code"))
	}
	saved, findErr := s.Alarms.FindAlarmRule(ctx, code)
	if findErr != nil && cityops.ErrorCode(findErr) != cityops.ENOTFOUND {
		return findErr
	}
	if findErr != nil {
		saved = nil
	}
	checked := func(name string) bool {
		switch strings.ToLower(f.Get(name)) {
		case "on", "true", "1", "yes":
			return true
		}
		return false
	}
	in := ruleInput{Code: code, Name: f.Get("name"), NameEn: strings.TrimSpace(f.Get("name_en")), Sector: f.Get("sector"),
		Severity: f.Get("severity"), Tenant: strings.TrimSpace(f.Get("tenant")), EntityType: strings.TrimSpace(f.Get("entity_type")), EntityID: strings.TrimSpace(f.Get("entity_id")),
		Area: f.Get("area"), Attr: strings.TrimSpace(f.Get("attr")), Kind: f.Get("kind"), Op: f.Get("op"),
		Value: strings.TrimSpace(f.Get("value")), Clear: strings.TrimSpace(f.Get("clear")), ForMinutes: strings.TrimSpace(f.Get("for_minutes")),
		WindowMinutes: strings.TrimSpace(f.Get("window_minutes")), Count: strings.TrimSpace(f.Get("count")),
		DueHours: strings.TrimSpace(f.Get("due_hours")), Category: f.Get("category"), Agency: f.Get("agency"),
		Message: strings.TrimSpace(f.Get("message")), AutoClear: checked("auto_clear"), Enabled: checked("enabled")}

	// What the form cannot even say; the rule's own checks come after.
	var v cityops.Validation
	number := func(field, s string) float64 {
		x, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
		v.Check(err == nil, field, "%s", T("rules.err.number"))
		return x
	}
	whole := func(field, s string) int {
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		v.Check(err == nil, field, "%s", T("rules.err.whole"))
		return n
	}
	rule := &cityops.AlarmRule{Code: in.Code, Name: in.Name, Sector: in.Sector, Severity: in.Severity, EntityType: in.EntityType,
		Tenant: in.Tenant, EntityID: in.EntityID, Area: in.Area, Attr: in.Attr, Kind: in.Kind, Op: in.Op, ForMinutes: whole("for_minutes", in.ForMinutes),
		WindowMinutes: whole("window_minutes", in.WindowMinutes), Count: whole("count", in.Count), AutoClear: in.AutoClear,
		Category: in.Category, Agency: in.Agency, DueHours: whole("due_hours", in.DueHours), Message: in.Message, Enabled: in.Enabled}
	if rule.Kind == cityops.RuleSilent {
		rule.Op = "" // a silence compares nothing
	}
	switch {
	case in.Value != "":
		rule.Value = number("value", in.Value)
	case rule.Kind != cityops.RuleSilent:
		v.Add("value", "%s", T("rules.err.required"))
	}
	if in.Clear != "" {
		c := number("clear", in.Clear)
		rule.Clear = &c
	}
	// Keep the names in other languages the rule may have.
	if saved != nil {
		for tag, n := range saved.Names {
			if rule.Names == nil {
				rule.Names = cityops.Names{}
			}
			rule.Names[tag] = n
		}
	}
	delete(rule.Names, "en")
	if in.NameEn != "" {
		if rule.Names == nil {
			rule.Names = cityops.Names{}
		}
		rule.Names["en"] = in.NameEn
	}
	if create && saved != nil {
		v.Add("code", "%s", T("rules.err.exists"))
	}
	if create && (code == "new" || code == "import") {
		v.Add("code", "%s", T("rules.err.reserved")) // the pages' own paths
	}
	expandRule(rule)
	err := v.Err()
	if err != nil {
		// Show the rule's own problems too, all at once; the form's win.
		check := *rule
		fields := map[string]string{}
		maps.Copy(fields, cityops.ErrorFields(check.Validate()))
		maps.Copy(fields, cityops.ErrorFields(err))
		err = &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: fields}
	} else {
		err = s.Alarms.SaveAlarmRule(ctx, rule)
	}
	if cityops.ErrorCode(err) == cityops.EINVALID {
		p, perr := s.ruleForm(r, in, saved)
		if perr != nil {
			return perr
		}
		p.New = create
		p.Errors = maps.Clone(cityops.ErrorFields(err))
		if p.Errors == nil {
			p.Errors = map[string]string{}
		}
		if msg, ok := p.Errors["names"]; ok {
			p.Errors["name_en"] = msg
		}
		for k, msg := range p.Errors {
			if k != "names" && !slices.Contains(ruleFields, k) {
				p.Other = append(p.Other, k+": "+msg)
			}
		}
		sort.Strings(p.Other)
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, "rule.html", p)
		return nil
	}
	if err != nil {
		return err
	}
	s.rulesChanged(r)
	http.Redirect(w, r, "/ioc/rules?done=saved&code="+url.QueryEscape(rule.Code), http.StatusSeeOther)
	return nil
}

// handleRuleToggle switches a rule on or off.
func (s *Server) handleRuleToggle(w http.ResponseWriter, r *http.Request) error {
	rule, err := s.Alarms.FindAlarmRule(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	rule.Enabled = !rule.Enabled
	if err := s.Alarms.SaveAlarmRule(r.Context(), rule); err != nil {
		return err
	}
	s.rulesChanged(r)
	done := "disabled"
	if rule.Enabled {
		done = "enabled"
	}
	http.Redirect(w, r, "/ioc/rules?done="+done+"&code="+url.QueryEscape(rule.Code), http.StatusSeeOther)
	return nil
}

// handleRuleRemove deletes a rule; the alarms it raised stay.
func (s *Server) handleRuleRemove(w http.ResponseWriter, r *http.Request) error {
	code := r.PathValue("code")
	if err := s.Alarms.DeleteAlarmRule(r.Context(), code); err != nil {
		return err
	}
	s.rulesChanged(r)
	http.Redirect(w, r, "/ioc/rules?done=deleted&code="+url.QueryEscape(code), http.StatusSeeOther)
	return nil
}
