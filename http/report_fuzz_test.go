package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cityops/cityops"
)

// FuzzReportBody decodes POST /api/v1/reports bodies and checks the report
// as creating it does before the database: every refusal is a
// *cityops.Error with code EINVALID; a body that decodes encodes back to
// itself; a report that validates has its limits kept and its answers
// valid.
func FuzzReportBody(f *testing.F) {
	for _, s := range []string{
		`{"category": "transport.road", "description": "Ổ gà lớn trước số 12", "lat": 16.4637, "lon": 107.5909,
			"attributes": {"size": 0.8, "danger": "yes", "kinds": ["hole", "crack"], "seen": "2026-11-28T07:00:00+07:00"}}`,
		`{"category": "env.waste", "description": "rác", "address": "Chợ Đông Ba", "name": "An", "phone": "+84 234 3822", "email": "an@example.vn",
			"consent": true, "channel": "app", "media_url": "https://photos.example/a.jpg", "photos": [{"hash": "00", "thumb": "11"}]}`,
		`{"category": "x", "description": "d", "lat": 91, "lon": 0}`,
		`{"category": "x", "description": "d", "lat": 16.4}`,
		`{"category": "x", "description": "  ", "address": "a", "attributes": {"size": 1e308, "note": ["a", 1]}}`,
		`{"category": "x", "description": "d", "address": "a", "attributes": {"size": true}}`,
		`{"category": "x", "description": "d", "address": "a", "name": "An"}`,
		`{"category": "x", "description": "d", "address": "a", "color": "red"}`,
		`{"category": 5}`,
		`{"category": "x"} {"category": "y"}`,
		`[]`, `null`, `"text"`, ``, `{`,
		`{"ReportInput": {"category": "x"}, "Lat": "1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req reportRequest
		err := decodeJSON(newJSONRequest(body), &req)
		if err != nil {
			wantInvalid(t, "decodeJSON", err)
			return
		}
		// What decoded encodes to a body that decodes the same.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encoding %+v: %v", req, err)
		}
		var again reportRequest
		if err := decodeJSON(newJSONRequest(b), &again); err != nil {
			t.Fatalf("%s does not decode: %v", b, err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("%s decodes as %+v; want %+v", b, again, req)
		}
		answers, err := req.answers()
		if err != nil {
			wantInvalid(t, "answers", err)
			return
		}
		in := req.ReportInput
		in.Answers = answers
		if err := in.Validate(); err != nil {
			wantInvalid(t, "Validate", err)
			return
		}
		if in.Lat != nil && !(math.Abs(*in.Lat) <= 90 && math.Abs(*in.Lon) <= 180) {
			t.Fatalf("report at %v, %v accepted", *in.Lat, *in.Lon)
		}
		if in.Description == "" || utf8.RuneCountInString(in.Description) > cityops.MaxDescription || in.Description != strings.TrimSpace(in.Description) {
			t.Fatalf("description %q accepted", in.Description)
		}
		if !in.Consent && in.Name+in.Phone+in.Email != "" {
			t.Fatal("contact accepted without consent")
		}
		checkAnswers(t, in.Answers)
	})
}

func newJSONRequest(body []byte) *http.Request {
	r := httptest.NewRequest("POST", "/api/v1/reports", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// wantInvalid fails unless err is a *cityops.Error of code EINVALID with
// a message.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var e *cityops.Error
	if !errors.As(err, &e) || e.Code != cityops.EINVALID || e.Message == "" {
		t.Fatalf("%s: %v (%T); want a *cityops.Error of code EINVALID", what, err, err)
	}
}
