package workhours

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(DefaultConfig()) error = %v", err)
	}
	if got, want := Default().Config(), c.Config(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default().Config() = %+v\nwant %+v", got, want)
	}
	if got, want := Default().Config().Zone, "+07:00"; got != want {
		t.Errorf("zone = %q, want %q", got, want)
	}
	if got, want := Default().Location().String(), "ICT"; got != want {
		t.Errorf("Location() = %q, want %q", got, want)
	}
	// DefaultConfig returns a copy: editing it must not change Default.
	cfg.Week["sat"] = "07:30-11:30"
	cfg.Holidays[0].From = "1999-01-01"
	if got := DefaultConfig(); got.Week["sat"] != "" || got.Holidays[0].From != "2025-01-01" {
		t.Errorf("DefaultConfig() shares state with an earlier copy: sat %q, holidays[0] %+v", got.Week["sat"], got.Holidays[0])
	}
}

func TestHolidayFile(t *testing.T) {
	f, err := loadHolidayFile()
	if err != nil {
		t.Fatal(err)
	}
	var years []int
	for _, y := range f.Years {
		years = append(years, y.Year)
		if y.Source == "" {
			t.Errorf("%d: empty source", y.Year)
		}
		if y.Status != "official" && y.Status != "estimated" {
			t.Errorf("%d: status %q, want official or estimated", y.Year, y.Status)
		}
		if y.Status == "estimated" && !strings.Contains(y.Source, "must check") {
			t.Errorf("%d: estimated year's source does not tell the administrator to check it: %q", y.Year, y.Source)
		}
		prefix := strconv.Itoa(y.Year) + "-"
		for _, r := range append(append([]DateRange{}, y.Holidays...), y.WorkDays...) {
			if !strings.HasPrefix(r.From, prefix) || (r.To != "" && !strings.HasPrefix(r.To, prefix)) || r.Name == "" {
				t.Errorf("%d: entry %+v: want dates in %d and a name", y.Year, r, y.Year)
			}
		}
		for _, w := range y.WorkDays {
			d, _ := time.Parse(time.DateOnly, w.From)
			if d.Weekday() != time.Saturday || w.To != "" {
				t.Errorf("%d: work day %+v is a %v, want a single Saturday", y.Year, w, d.Weekday())
			}
		}
	}
	if got, want := years, []int{2025, 2026, 2027}; !reflect.DeepEqual(got, want) {
		t.Errorf("years = %v, want %v", got, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(vnHolidaysJSON, &raw); err != nil {
		t.Fatalf("vn-holidays.json: %v", err)
	}
}

// TestDefaultHolidays pins the announced days off (and the lunar dates)
// so that an edit of vn-holidays.json that drops one is noticed.
func TestDefaultHolidays(t *testing.T) {
	c := Default()
	off := []string{
		// 2025
		"2025-01-01", "2025-01-27", "2025-01-28", "2025-01-29" /* mùng 1 */, "2025-01-30", "2025-01-31",
		"2025-04-07" /* 10/3 */, "2025-04-30", "2025-05-01", "2025-05-02", "2025-09-01", "2025-09-02",
		// 2026
		"2026-01-01", "2026-01-02", "2026-02-16", "2026-02-17" /* mùng 1 */, "2026-02-18", "2026-02-19", "2026-02-20",
		"2026-04-27" /* compensates Sun 26 Apr = 10/3 */, "2026-04-30", "2026-05-01", "2026-08-31", "2026-09-01", "2026-09-02",
		// 2027 (estimated)
		"2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11",
		"2027-04-16" /* 10/3 */, "2027-04-30", "2027-05-03", "2027-09-02", "2027-09-03",
	}
	work := []string{"2025-04-26", "2026-01-10", "2026-08-22", "2025-02-03", "2026-02-23", "2026-04-28", "2027-02-12"}
	for _, s := range off {
		d, _ := time.ParseInLocation(time.DateOnly, s, ict)
		if got := c.Between(d, d.AddDate(0, 0, 1)); got != 0 {
			t.Errorf("%s (%v): working time %v, want a day off", s, d.Weekday(), got)
		}
		if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
			t.Errorf("%s: is a %v; list only weekdays here", s, d.Weekday())
		}
	}
	for _, s := range work {
		d, _ := time.ParseInLocation(time.DateOnly, s, ict)
		if got, want := c.Between(d, d.AddDate(0, 0, 1)), 7*time.Hour+30*time.Minute; got != want {
			t.Errorf("%s (%v): working time %v, want %v", s, d.Weekday(), got, want)
		}
	}
	// Each year's working time must be its weekdays, less the weekdays
	// off listed above, plus the Saturdays worked: so the lists above are
	// complete for the data, not just a sample.
	perYear := map[int]int{}
	for _, s := range off {
		y, _ := strconv.Atoi(s[:4])
		perYear[y]++
	}
	for y, n := range perYear {
		from := time.Date(y, 1, 1, 0, 0, 0, 0, ict)
		to := from.AddDate(1, 0, 0)
		weekdays := 0
		for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
			if d.Weekday() != time.Saturday && d.Weekday() != time.Sunday {
				weekdays++
			}
		}
		swaps := 0
		for _, s := range work[:3] {
			if strings.HasPrefix(s, strconv.Itoa(y)) {
				swaps++
			}
		}
		want := time.Duration(weekdays-n+swaps) * (7*time.Hour + 30*time.Minute)
		if got := c.Between(from, to); got != want {
			t.Errorf("%d: working time %v, want %v (%d weekdays, %d off, %d Saturdays worked): a day off is missing from this test or the data",
				y, got, want, weekdays, n, swaps)
		}
	}
}
