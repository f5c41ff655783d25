package http

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// FuzzObservations reads NDJSON bodies of POST /api/v1/observations,
// normalized and keyValues: every line that is not blank is counted and
// ends up exactly once, refused with its number and a reason (never
// "internal error") or in a batch; every entity in a batch is valid in
// temporal representation, and a batch counts its observations right.
func FuzzObservations(f *testing.F) {
	for _, s := range []string{
		`{"id": "urn:ngsi-ld:AirQualityObserved:hue-1", "type": "AirQualityObserved", "pm25": {"type": "Property", "value": 41.5, "observedAt": "2026-11-28T01:00:00Z"}}
{"id": "urn:ngsi-ld:AirQualityObserved:hue-1", "type": "AirQualityObserved", "pm25": [{"type": "Property", "value": 42, "observedAt": "2026-11-28T01:05:00Z"}, {"type": "Property", "value": 43, "observedAt": "2026-11-28T01:10:00Z"}]}

{"id": "urn:ngsi-ld:WaterLevel:1", "type": "WaterObserved", "height": {"type": "Property", "value": 1.2, "datasetId": "urn:ngsi-ld:Dataset:radar"}}
`,
		`{"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "observedAt": "2026-11-28T01:00:00Z", "t": 21.5, "h": 60, "on": true,
 "location": {"type": "Point", "coordinates": [107.58, 16.46]}, "meta": {"a": 1}}` + "\r\n" +
			`{"id": "urn:ngsi-ld:Thing:1", "type": "Other", "t": 1}` + "\n" +
			`{"id": "urn:ngsi-ld:Thing:2", "type": "Thing", "t": null, "@context": "x", "@id": 5}`,
		`{"id": "urn:x:1", "type": "T", "a": {"type": "Property"}}` + "\n" + `not json` + "\n" + `[1, 2]` + "\n" + `null` + "\n" +
			`{"id": "", "type": "T"}` + "\n" + `{"id": "urn:x:1"}` + "\n" + `{"id": "urn:x:2", "type": "T", "a": 5}`,
		"\n\n   \n\t\n",
		"",
		`{"id": "urn:x:1", "type": "T", "a": {"type": "Property", "value": 1, "observedAt": "yesterday"}}`,
		`{"id": "urn:x:1", "type": "T", "a": {"type": "Property", "value": 1}}` + "\x85" + `{"id": "urn:x:2", "type": "T"}`,
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	c := jsonld.Core()
	f.Fuzz(func(t *testing.T, keyValues bool, body []byte) {
		res := &ingestResult{Rejected: []lineError{}}
		out := make(chan *ingestBatch)
		done := make(chan struct{})
		var batches []*ingestBatch
		collected := make(chan struct{})
		go func() {
			for b := range out {
				batches = append(batches, b)
			}
			close(collected)
		}()
		err := readObservations(bytes.NewReader(body), c, "t1", keyValues, 7, res, out, done)
		close(out)
		<-collected
		if err != nil {
			t.Fatalf("readObservations: %v", err)
		}
		// The lines as a person would count them.
		want := map[int]bool{}
		for i, line := range strings.Split(string(body), "\n") {
			if len(bytes.TrimSpace([]byte(line))) > 0 {
				want[i+1] = true
			}
		}
		if res.Lines != len(want) {
			t.Fatalf("%d lines counted; want %d", res.Lines, len(want))
		}
		seen := map[int]string{}
		note := func(line int, where string) {
			if !want[line] {
				t.Fatalf("line %d (%s) is blank or past the end", line, where)
			}
			if prev, dup := seen[line]; dup {
				t.Fatalf("line %d both %s and %s", line, prev, where)
			}
			seen[line] = where
		}
		for _, l := range res.Rejected {
			if l.Error == "" || l.Error == cityops.ErrorMessage(errors.New("")) {
				t.Fatalf("line %d refused as %q; want the reason", l.Line, l.Error)
			}
			note(l.Line, "refused: "+l.Error)
		}
		for _, b := range batches {
			obs := 0
			for _, e := range b.order {
				if b.byID[e.ID] != e {
					t.Fatalf("entity %s listed twice in a batch", e.ID)
				}
				if err := e.ValidateTemporal(); err != nil {
					t.Fatalf("batched entity %s: %v", e.ID, err)
				}
				if e.Tenant != "t1" {
					t.Fatalf("entity %s of tenant %q", e.ID, e.Tenant)
				}
				for _, l := range e.Attrs {
					obs += len(l)
				}
				for _, line := range b.lines[e.ID] {
					note(line, "stored as "+e.ID)
				}
			}
			if obs != b.obs || len(b.lines) != len(b.order) {
				t.Fatalf("batch counts %d observations of %d entities; it holds %d of %d", b.obs, len(b.lines), obs, len(b.order))
			}
		}
		if len(seen) != len(want) {
			for line := range want {
				if _, ok := seen[line]; !ok {
					t.Fatalf("line %d neither stored nor refused", line)
				}
			}
		}
	})
}

// TestObservationsLongLine: a line over maxLine is refused with its
// reason, not as an internal error, and the lines around it are read.
func TestObservationsLongLine(t *testing.T) {
	ok := `{"id": "urn:x:1", "type": "T", "a": {"type": "Property", "value": 1}}`
	body := ok + "\n" + `{"id": "urn:x:2", "type": "T", "pad": "` + strings.Repeat("x", maxLine) + `"}` + "\n" + ok + "\n"
	res := &ingestResult{Rejected: []lineError{}}
	out := make(chan *ingestBatch, 10)
	if err := readObservations(strings.NewReader(body), jsonld.Core(), "", false, 100, res, out, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	close(out)
	if res.Lines != 3 || len(res.Rejected) != 1 || res.Rejected[0].Line != 2 || !strings.Contains(res.Rejected[0].Error, "longer than") {
		t.Fatalf("lines %d, refused %+v; want 3 lines and line 2 refused as too long", res.Lines, res.Rejected)
	}
	n := 0
	for b := range out {
		n += len(b.lines["urn:x:1"])
	}
	if n != 2 {
		t.Fatalf("urn:x:1 stored from %d lines; want 2", n)
	}
}
