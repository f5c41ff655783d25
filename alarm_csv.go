package cityops

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// AlarmRuleColumns are the columns of an alarm-rule CSV file, in order.
// The first line must name them (any order; unknown columns are refused).
var AlarmRuleColumns = []string{"code", "name", "name_en", "sector", "severity", "tenant", "entity_type", "entity_id", "area", "attr", "kind",
	"op", "value", "clear", "for_minutes", "window_minutes", "count", "auto_clear", "category", "agency", "due_hours", "message", "enabled"}

// ParseAlarmRulesCSV reads alarm rules from CSV. Every problem is reported
// with its line and column, and no rule is returned when there is one, so
// that an import is all or nothing. Entity types and attributes are
// returned as written; the caller expands them.
func ParseAlarmRulesCSV(r io.Reader) ([]*AlarmRule, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Code: EINVALID, Message: "invalid input", Fields: map[string]string{"csv": "the file is empty"}}
	}
	if err != nil {
		return nil, &Error{Code: EINVALID, Message: "invalid input", Fields: map[string]string{"csv": err.Error()}}
	}
	col := map[string]int{}
	var v Validation
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !oneOf(h, AlarmRuleColumns) {
			v.Add("line 1", "unknown column %q (the columns are %s)", h, strings.Join(AlarmRuleColumns, ", "))
			continue
		}
		col[h] = i
	}
	for _, need := range []string{"code", "name", "severity", "entity_type", "kind"} {
		if _, ok := col[need]; !ok {
			v.Add("line 1", "the column %q is required", need)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out []*AlarmRule
	seen := map[string]int{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			v.Add(fmt.Sprintf("line %d", line), "%v", err)
			break
		}
		if len(out) >= 10000 {
			v.Add(fmt.Sprintf("line %d", line), "at most 10000 rules in one file")
			break
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		// Text as cityops exports it, with formula guards taken off.
		text := func(name string) string { return unguardCell(get(name)) }
		where := fmt.Sprintf("line %d", line)
		bad := func(name, format string, args ...any) { v.Add(where+": "+name, format, args...) }
		num := func(name string) float64 {
			s := get(name)
			if s == "" {
				return 0
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				bad(name, "%q is not a number", s)
			}
			return f
		}
		integer := func(name string) int {
			s := get(name)
			if s == "" {
				return 0
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				bad(name, "%q is not a whole number", s)
			}
			return n
		}
		boolean := func(name string, def bool) bool {
			switch strings.ToLower(get(name)) {
			case "":
				return def
			case "true", "yes", "1", "có":
				return true
			case "false", "no", "0", "không":
				return false
			}
			bad(name, "%q is not true or false", get(name))
			return def
		}
		rule := &AlarmRule{Code: get("code"), Name: text("name"), Sector: get("sector"), Severity: get("severity"),
			Tenant: get("tenant"), EntityType: text("entity_type"), EntityID: get("entity_id"), Area: get("area"), Attr: text("attr"), Kind: get("kind"),
			Op: get("op"), Value: num("value"), ForMinutes: integer("for_minutes"), WindowMinutes: integer("window_minutes"),
			Count: integer("count"), AutoClear: boolean("auto_clear", true), Category: get("category"), Agency: get("agency"),
			DueHours: integer("due_hours"), Message: text("message"), Enabled: boolean("enabled", true)}
		if en := text("name_en"); en != "" {
			rule.Names = Names{"en": en}
		}
		if get("clear") != "" {
			c := num("clear")
			rule.Clear = &c
		}
		if prev, dup := seen[rule.Code]; dup && rule.Code != "" {
			bad("code", "%q is also on line %d", rule.Code, prev)
		}
		seen[rule.Code] = line
		var e *Error
		if err := rule.Validate(); errors.As(err, &e) {
			for f, msg := range e.Fields {
				bad(f, "%s", msg)
			}
		}
		out = append(out, rule)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// unguardCell takes off the quote an export puts before text that a
// spreadsheet would read as a formula (= + - @ tab or CR first), or
// before text that starts with a quote and one of those or another quote.
// Taking it off before the rule is checked keeps a guarded name within its
// length.
func unguardCell(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte("=+-@\t\r'", s[1]) >= 0 {
		return s[1:]
	}
	return s
}
