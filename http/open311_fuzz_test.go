package http

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cityops/cityops"
)

// fuzzAttributes are a category's questions of every datatype, to check
// answers against.
var fuzzAttributes = []cityops.Attribute{
	{Code: "size", Datatype: cityops.AttrNumber, Required: true, Description: "Kích thước (m)"},
	{Code: "seen", Datatype: cityops.AttrDatetime, Description: "Thấy lúc"},
	{Code: "note", Datatype: cityops.AttrString, Description: "Ghi chú"},
	{Code: "story", Datatype: cityops.AttrText, Description: "Mô tả"},
	{Code: "danger", Datatype: cityops.AttrSingleValue, Description: "Nguy hiểm?", Values: []cityops.AttrValue{{Key: "yes", Name: "Có"}, {Key: "no", Name: "Không"}}},
	{Code: "kinds", Datatype: cityops.AttrMultiValue, Description: "Loại", Values: []cityops.AttrValue{{Key: "hole", Name: "Ổ gà"}, {Key: "crack", Name: "Nứt"}}},
}

// checkAnswers checks answers as a report's creation does: a refusal is
// EINVALID; accepted answers are valid for their datatype, and checking
// them again gives them back unchanged.
func checkAnswers(t *testing.T, answers map[string][]string) {
	t.Helper()
	out, err := cityops.CheckAnswers(fuzzAttributes, answers)
	if err != nil {
		if cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("CheckAnswers: %v; want EINVALID", err)
		}
		return
	}
	again, err := cityops.CheckAnswers(fuzzAttributes, out)
	if err != nil || !reflect.DeepEqual(again, out) {
		t.Fatalf("CheckAnswers(%q) = %q, which checks as %q, %v", answers, out, again, err)
	}
	for code, vals := range out {
		for _, v := range vals {
			if code == "size" {
				if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
					t.Fatalf("number answer %q accepted", v)
				}
			}
		}
	}
}

// FuzzOpen311Form reads POST /open311/v2/requests.json forms: what cannot
// be read is EINVALID; what is read carries the form's fields, and a
// report that validates has a real location and valid answers.
func FuzzOpen311Form(f *testing.F) {
	for _, s := range []string{
		"service_code=transport.road&description=%E1%BB%94+g%C3%A0+l%E1%BB%9Bn&lat=16.4637&long=107.5909&address_string=L%C3%AA+L%E1%BB%A3i&attribute[size]=0.8&attribute[danger]=yes&attribute[kinds][]=hole&attribute[kinds][]=crack&email=dan%40example.vn&first_name=An&last_name=Nguy%E1%BB%85n&phone=%2B84+234+3822",
		"service_code=env.waste&description=r%C3%A1c&address_string=Ch%E1%BB%A3+%C4%90%C3%B4ng+Ba&media_url=https%3A%2F%2Fphotos.example%2Fa.jpg&attribute[seen]=2026-11-28T07:00:00%2B07:00",
		"service_code=x&description=d&lat=NaN&long=Inf",
		"service_code=x&description=d&address_string=a&attribute[size]=NaN",
		"service_code=x&description=d&address_string=a&attribute[size]=-Infinity&attribute[seen]=2026-02-30T00:00:00Z",
		"service_code=x&description=d&lat=91&long=0",
		"service_code=x&description=d&lat=16.4&long=",
		"service_code=x&description=d&lat=1e400&long=2",
		"service_code=x&description=+&address_string=a&attribute[size]=0x1p-2&attribute[size]=3",
		"service_code=x&description=d&address_string=a&attribute[]=1&attribute[=2&attribute[a]b]=3&attribute[nope]=4",
		"service_code=x&description=d&address_string=a&media_url=%2Fmedia%2F" + strings.Repeat("ab", 32) + ".jpg",
		"description=no+code",
		"service_code=x&description=d&address_string=a&email=not-an-email&phone=call+me",
		"%zz=1",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/open311/v2/requests.json", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			return // refused as EINVALID by the handler
		}
		form := r.PostForm
		in, err := open311Input(form)
		if err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID {
				t.Fatalf("open311Input: %v; want EINVALID", err)
			}
			return
		}
		if in.Category == "" || in.Category != form.Get("service_code") || in.Channel != cityops.ChannelOpen311 {
			t.Fatalf("service_code %q, channel %q read from %q", in.Category, in.Channel, body)
		}
		for _, p := range []struct {
			name string
			got  *float64
		}{{"lat", in.Lat}, {"long", in.Lon}} {
			if s := form.Get(p.name); (s != "") != (p.got != nil) {
				t.Fatalf("%s %q read as %v", p.name, s, p.got)
			}
		}
		if in.Consent != (in.Name != "" || in.Phone != "" || in.Email != "") {
			t.Fatalf("consent %v with contact %q %q %q", in.Consent, in.Name, in.Phone, in.Email)
		}
		n := 0
		for k, vals := range form {
			if strings.HasPrefix(k, "attribute[") {
				n += len(vals)
			}
		}
		m := 0
		for _, vals := range in.Answers {
			m += len(vals)
		}
		if n != m {
			t.Fatalf("%d attribute values in the form, %d answers", n, m)
		}
		if err := in.Validate(); err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID {
				t.Fatalf("Validate: %v; want EINVALID", err)
			}
			return
		}
		if in.Lat != nil && !(math.Abs(*in.Lat) <= 90 && math.Abs(*in.Lon) <= 180) {
			t.Fatalf("report at %v, %v accepted", *in.Lat, *in.Lon)
		}
		if in.Description == "" || in.Description != strings.TrimSpace(in.Description) {
			t.Fatalf("description %q accepted", in.Description)
		}
		checkAnswers(t, in.Answers)
	})
}

// FuzzOpen311Query reads the query of GET /open311/v2/requests.json: a
// refusal is EINVALID; an accepted filter pages within bounds, asks only
// for known statuses and searches around a real point.
func FuzzOpen311Query(f *testing.F) {
	for _, s := range []string{
		"service_code=transport.road,env.waste&status=open&start_date=2026-11-01T00:00:00%2B07:00&end_date=2026-11-28T00:00:00Z",
		"service_request_id=hue-2611-0001,+hue-2611-0002&status=closed,open",
		"lat=16.4637&long=107.5909&radius=250&page=2&page_size=50",
		"lat=16.4637&long=107.5909",
		"lat=NaN&long=NaN",
		"lat=91&long=181&radius=1",
		"lat=-Inf&long=0",
		"lat=1&radius=0",
		"long=2&radius=50001",
		"page=0&page_size=1001",
		"page=1048576&page_size=1000",
		"updated_after=2026-11-28&updated_before=yesterday",
		"status=pending",
		"%zz&;&&=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/open311/v2/requests.json", RawQuery: raw}}
		fl, err := open311Filter(r)
		if err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID {
				t.Fatalf("open311Filter(%q): %v; want EINVALID", raw, err)
			}
			return
		}
		if fl.Limit < 1 || fl.Limit > 1000 || fl.Offset < 0 || fl.Offset%fl.Limit != 0 {
			t.Fatalf("limit %d, offset %d", fl.Limit, fl.Offset)
		}
		for _, st := range fl.Status {
			if !slices.Contains(cityops.Statuses, st) {
				t.Fatalf("status %q", st)
			}
		}
		for _, id := range fl.Tracking {
			if id == "" || id != strings.TrimSpace(id) || id != strings.ToUpper(id) {
				t.Fatalf("service_request_id %q", id)
			}
		}
		if c := fl.Near; c != nil {
			if !(c.Radius > 0 && c.Radius <= 50000) || !(math.Abs(c.Lat) <= 90 && math.Abs(c.Lon) <= 180) {
				t.Fatalf("search around %+v accepted from %q", *c, raw)
			}
		}
	})
}
