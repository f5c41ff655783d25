package workhours

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func FuzzNew(f *testing.F) {
	def, err := json.Marshal(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	for _, s := range []string{
		`{}`,
		`{"week": {"mon": "07:30-25:00"}}`,
		`{"week": {"sun": "00:00-24:00"}, "holidays": [{"from": "0000-01-01", "to": "9999-12-31"}]}`,
		`{"zone": "-12:00", "week": {"mon": "23:59-24:00"}, "work_days": [{"from": "2026-01-10", "to": "2026-12-31"}]}`,
		`{"zone": "+14:00", "week": {"wed": "0:00-0:01,0:01-0:02"}, "holidays": [{"from": "2026-01-01", "to": "2025-01-01"}]}`,
		`{"week": {"fri": ",", "xyz": "-"}, "holidays": [{"to": "2026-02-30"}]}`,
	} {
		f.Add([]byte(s))
	}
	starts := []time.Time{
		time.Date(2026, 2, 13, 9, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg Config
		if err := json.Unmarshal(data, &cfg); err != nil {
			return
		}
		c, err := New(cfg)
		if err != nil {
			if c != nil {
				t.Fatalf("New() = %v, %v: want a nil calendar with an error", c, err)
			}
			return
		}
		again, err := New(c.Config())
		if err != nil {
			t.Fatalf("New(c.Config()) error = %v; config %+v", err, c.Config())
		}
		if !reflect.DeepEqual(again.Config(), c.Config()) {
			t.Fatalf("Config() round trip = %+v, want %+v", again.Config(), c.Config())
		}
		for _, s := range starts {
			for _, d := range []time.Duration{time.Nanosecond, 16 * time.Hour, 400 * time.Hour} {
				end := c.Add(s, d)
				if got := c.Between(s, end); got != d {
					t.Fatalf("Between(%v, Add(%v, %v) = %v) = %v", s, s, d, end, got)
				}
			}
			if n := c.NextWorking(s); !c.IsWorking(n) {
				t.Fatalf("NextWorking(%v) = %v is not working time", s, n)
			}
		}
	})
}
