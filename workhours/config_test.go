package workhours

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// week5 is a plain Monday–Friday week for tests that need a valid week.
func week5() map[string]string {
	return map[string]string{
		"mon": "07:30-11:30,13:30-17:00", "tue": "07:30-11:30,13:30-17:00", "wed": "07:30-11:30,13:30-17:00",
		"thu": "07:30-11:30,13:30-17:00", "fri": "07:30-11:30,13:30-17:00",
	}
}

func TestParseSpans(t *testing.T) {
	tests := []struct {
		in      string
		want    string // normalised spans when ok
		wantErr string
	}{
		{in: "", want: ""},
		{in: "   ", want: ""},
		{in: "07:30-11:30,13:30-17:00", want: "07:30-11:30,13:30-17:00"},
		{in: " 7:30 - 11:30 , 13:30-17:00 ", want: "07:30-11:30,13:30-17:00"},
		{in: "00:00-24:00", want: "00:00-24:00"},
		{in: "08:00-12:00,12:00-13:00", want: "08:00-12:00,12:00-13:00"},
		{in: "07:30-25:00", wantErr: `"07:30-25:00": end must be 00:00–24:00`},
		{in: "07:30-24:01", wantErr: `"07:30-24:01": end must be 00:00–24:00`},
		{in: "24:00-24:00", wantErr: `"24:00-24:00": start must be 00:00–23:59`},
		{in: "07:60-08:00", wantErr: `"07:60-08:00": start must be 00:00–23:59`},
		{in: "11:30-07:30", wantErr: `"11:30-07:30": start must be before end`},
		{in: "08:00-08:00", wantErr: `"08:00-08:00": start must be before end`},
		{in: "13:30-17:00,07:30-11:30", wantErr: `"07:30-11:30": starts before the previous span "13:30-17:00" ends`},
		{in: "07:30-11:30,11:00-12:00", wantErr: `"11:00-12:00": starts before the previous span "07:30-11:30" ends`},
		{in: "07:30", wantErr: `"07:30": want HH:MM-HH:MM`},
		{in: "7h30-11h30", wantErr: `"7h30-11h30": start must be 00:00–23:59`},
		{in: "07:30-11:30,", wantErr: `empty span (stray comma?)`},
		{in: "-1:00-02:00", wantErr: `start must be 00:00–23:59`},
		{in: "07:30-011:30", wantErr: `end must be 00:00–24:00`},
	}
	for _, tt := range tests {
		spans, err := parseSpans(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSpans(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSpans(%q) error = %v, want none", tt.in, err)
			continue
		}
		if got := formatSpans(spans); got != tt.want {
			t.Errorf("parseSpans(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the error
	}{
		{
			name: "end after midnight",
			cfg:  Config{Week: map[string]string{"mon": "07:30-25:00", "tue": "08:00-12:00"}},
			want: []string{`week.mon: "07:30-25:00": end must be 00:00–24:00`},
		},
		{
			name: "unordered spans",
			cfg:  Config{Week: map[string]string{"mon": "13:30-17:00,07:30-11:30"}},
			want: []string{`week.mon: "07:30-11:30": starts before the previous span "13:30-17:00" ends`},
		},
		{
			name: "unknown key",
			cfg:  Config{Week: map[string]string{"monday": "07:30-11:30", "tue": "08:00-12:00"}},
			want: []string{`week: unknown weekday key "monday" (want mon, tue, wed, thu, fri, sat or sun)`},
		},
		{
			name: "no working time",
			cfg:  Config{Week: map[string]string{"mon": "", "sat": " "}},
			want: []string{`week: no working time on any day (deadlines would never end)`},
		},
		{
			name: "nil week",
			cfg:  Config{},
			want: []string{`week: no working time on any day`},
		},
		{
			name: "bad zone",
			cfg:  Config{Zone: "Asia/Ho_Chi_Minh", Week: week5()},
			want: []string{`zone: "Asia/Ho_Chi_Minh": want a fixed offset ±HH:MM such as "+07:00"`},
		},
		{
			name: "zone out of range",
			cfg:  Config{Zone: "+15:00", Week: week5()},
			want: []string{`zone: "+15:00": offset must be between -12:00 and +14:00`},
		},
		{
			name: "bad dates",
			cfg: Config{Week: week5(), Holidays: []DateRange{
				{From: "2026-02-30", Name: "Feb 30"},
				{From: "2026-02-22", To: "2026-02-14", Name: "Tết"},
				{To: "2026-01-01"},
				{From: "2026-01-01", To: "01/02/2026"},
			}},
			want: []string{
				`holidays[0] "Feb 30": from: want YYYY-MM-DD: parsing time "2026-02-30": day out of range`,
				`holidays[1] "Tết": from 2026-02-22 is after to 2026-02-14`,
				`holidays[2]: from is required`,
				`holidays[3]: to: want YYYY-MM-DD`,
			},
		},
		{
			name: "work day is a holiday",
			cfg: Config{Week: week5(),
				Holidays: []DateRange{{From: "2026-01-01"}, {From: "2026-01-08", To: "2026-01-12", Name: "Long"}},
				WorkDays: []DateRange{{From: "2026-01-10", Name: "Swap"}}},
			want: []string{`work_days[0] "Swap": 2026-01-10 is also a day off in holidays[1] "Long"`},
		},
		{
			name: "work day without Monday hours",
			cfg:  Config{Week: map[string]string{"tue": "08:00-12:00"}, WorkDays: []DateRange{{From: "2026-01-10"}}},
			want: []string{`work_days: extra working days use Monday's hours, but week.mon has no working time`},
		},
		{
			name: "all problems at once",
			cfg: Config{Zone: "7", Week: map[string]string{"mon": "9-5", "xyz": ""},
				WorkDays: []DateRange{{From: "tomorrow"}}},
			want: []string{`zone: "7"`, `week.mon: "9-5": start must be 00:00–23:59`, `week: unknown weekday key "xyz"`,
				`work_days[0]: from: want YYYY-MM-DD`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New() = %v, nil; want an error", c)
			}
			if c != nil {
				t.Errorf("New() calendar = %v, want nil with an error", c)
			}
			got := err.Error()
			if !strings.HasPrefix(got, "workhours: invalid config: ") {
				t.Errorf("error = %q, want prefix %q", got, "workhours: invalid config: ")
			}
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("error = %q\nwant it to contain %q", got, want)
				}
			}
			if gotLines, wantLines := strings.Count(got, "\n")+1, len(tt.want); gotLines != wantLines {
				t.Errorf("error has %d problems, want %d:\n%s", gotLines, wantLines, got)
			}
		})
	}
}

func TestNewAcceptsAndNormalises(t *testing.T) {
	c, err := New(Config{
		Zone:     " -03:30 ",
		Week:     map[string]string{"mon": "8:00-12:00", "sat": "09:00-11:00"},
		Holidays: []DateRange{{From: " 2026-01-01 ", Name: "NY"}, {From: "2026-01-01", To: "2026-01-02"}},
		WorkDays: []DateRange{{From: "2026-01-04"}},
	})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	got := c.Config()
	want := Config{
		Zone:     "-03:30",
		Week:     map[string]string{"mon": "08:00-12:00", "tue": "", "wed": "", "thu": "", "fri": "", "sat": "09:00-11:00", "sun": ""},
		Holidays: []DateRange{{From: "2026-01-01", Name: "NY"}, {From: "2026-01-01", To: "2026-01-02"}},
		WorkDays: []DateRange{{From: "2026-01-04"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Config() = %+v\nwant %+v", got, want)
	}
	if got, want := c.Location().String(), "UTC-03:30"; got != want {
		t.Errorf("Location() = %q, want %q", got, want)
	}
	again, err := New(got)
	if err != nil {
		t.Fatalf("New(Config()) error = %v", err)
	}
	if !reflect.DeepEqual(again.Config(), got) {
		t.Errorf("New(c.Config()).Config() = %+v, want %+v", again.Config(), got)
	}
}

func TestConfigJSON(t *testing.T) {
	const in = `{
		"zone": "+07:00",
		"week": {"mon": "07:30-11:30,13:30-17:00", "fri": "07:30-11:30"},
		"holidays": [{"from": "2026-02-14", "to": "2026-02-22", "name": "Tết"}],
		"work_days": [{"from": "2026-01-10"}]
	}`
	var cfg Config
	if err := json.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	out, err := json.Marshal(c.Config())
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back Config
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("unmarshal again: %v", err)
	}
	if !reflect.DeepEqual(back, c.Config()) {
		t.Errorf("JSON round trip = %+v, want %+v", back, c.Config())
	}
	if got, want := string(out), `"work_days":[{"from":"2026-01-10"}]`; !strings.Contains(got, want) {
		t.Errorf("JSON = %s, want it to contain %s", got, want)
	}
}
