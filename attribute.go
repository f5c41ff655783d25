package cityops

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Attribute datatypes, as Open311 GeoReport v2 names them.
const (
	AttrString      = "string"
	AttrNumber      = "number"
	AttrDatetime    = "datetime"
	AttrText        = "text"
	AttrSingleValue = "singlevaluelist"
	AttrMultiValue  = "multivaluelist"
)

// AttrTypes lists the datatypes.
var AttrTypes = []string{AttrString, AttrNumber, AttrDatetime, AttrText, AttrSingleValue, AttrMultiValue}

// Attribute is an extra question a category asks (how big is the pothole,
// is anyone in danger); Open311 clients read them from the service
// definition and send the answers as attribute[code].
type Attribute struct {
	Code        string      `json:"code"`
	Datatype    string      `json:"datatype"`
	Required    bool        `json:"required"`
	Description string      `json:"description"` // Vietnamese
	Names       Names       `json:"names,omitempty"`
	Order       int         `json:"order"`
	Values      []AttrValue `json:"values,omitempty"`
}

// AttrValue is one choice of a list attribute.
type AttrValue struct {
	Key   string `json:"key"`
	Name  string `json:"name"`
	Names Names  `json:"names,omitempty"`
}

var attrCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// validateAttributes checks a category's attribute definitions.
func validateAttributes(v *Validation, attrs []Attribute) {
	seen := map[string]bool{}
	for i, a := range attrs {
		f := fmt.Sprintf("attributes[%d]", i)
		v.Check(attrCodeRE.MatchString(a.Code), f+".code", "must be 1–40 lowercase letters, digits or '_', starting with a letter")
		v.Check(!seen[a.Code], f+".code", "%q appears twice", a.Code)
		seen[a.Code] = true
		v.Check(oneOf(a.Datatype, AttrTypes), f+".datatype", "must be one of %s", strings.Join(AttrTypes, ", "))
		v.Check(strings.TrimSpace(a.Description) != "", f+".description", "is required")
		list := a.Datatype == AttrSingleValue || a.Datatype == AttrMultiValue
		v.Check(!list || len(a.Values) > 0, f+".values", "a list needs values")
		v.Check(list || len(a.Values) == 0, f+".values", "only list datatypes have values")
		keys := map[string]bool{}
		for _, val := range a.Values {
			v.Check(val.Key != "" && len(val.Key) <= 60 && !keys[val.Key], f+".values", "keys must be unique and 1–60 characters")
			keys[val.Key] = true
		}
	}
}

// CheckAnswers validates a report's answers against a category's
// attributes and returns them normalised (lists sorted, numbers as typed).
// Each problem is reported under "attribute[code]", the Open311 name.
func CheckAnswers(attrs []Attribute, answers map[string][]string) (map[string][]string, error) {
	var v Validation
	out := map[string][]string{}
	known := map[string]Attribute{}
	for _, a := range attrs {
		known[a.Code] = a
	}
	for code := range answers {
		if _, ok := known[code]; !ok {
			v.Add("attribute["+code+"]", "is not a question of this category")
		}
	}
	for _, a := range attrs {
		f := "attribute[" + a.Code + "]"
		var vals []string
		for _, x := range answers[a.Code] {
			if x = strings.TrimSpace(x); x != "" {
				vals = append(vals, x)
			}
		}
		if len(vals) == 0 {
			v.Check(!a.Required, f, "is required")
			continue
		}
		if a.Datatype != AttrMultiValue && len(vals) > 1 {
			v.Add(f, "takes one value")
			continue
		}
		ok := true
		for _, x := range vals {
			ok = ok && utf8.ValidString(x) && !strings.ContainsRune(x, 0)
			switch a.Datatype {
			case AttrNumber:
				f, err := strconv.ParseFloat(x, 64)
				ok = ok && err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
			case AttrDatetime:
				_, err := time.Parse(time.RFC3339, x)
				ok = ok && err == nil
			case AttrString:
				ok = ok && len(x) <= 300
			case AttrText:
				ok = ok && len(x) <= 4000
			case AttrSingleValue, AttrMultiValue:
				found := false
				for _, val := range a.Values {
					found = found || val.Key == x
				}
				ok = ok && found
			}
		}
		if !ok {
			v.Add(f, "is not a valid %s", a.Datatype)
			continue
		}
		sort.Strings(vals)
		out[a.Code] = vals
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
