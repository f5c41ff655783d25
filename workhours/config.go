package workhours

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the plain, JSON-editable description of a Calendar, so that an
// administrator can change office hours and holidays without a new build.
// New validates it; (*Calendar).Config shows it back.
type Config struct {
	// Zone is a fixed UTC offset such as "+07:00" (the default when empty).
	// Only fixed offsets are accepted so that no tzdata is needed and every
	// day is exactly 24 hours long; Huế has had no DST.
	Zone string `json:"zone"`
	// Week maps "mon" … "sun" to comma-separated spans of working time,
	// e.g. "07:30-11:30,13:30-17:00". An empty string or a missing key is a
	// day off. Spans are HH:MM-HH:MM, start inclusive, end exclusive, in
	// order and not overlapping; "24:00" is allowed as an end.
	Week map[string]string `json:"week"`
	// Holidays are days off, even when they fall on a working weekday.
	Holidays []DateRange `json:"holidays"`
	// WorkDays are extra working days, such as a Saturday worked to make up
	// for a bridge day. They always use Monday's spans (week.mon).
	WorkDays []DateRange `json:"work_days"`
}

// DateRange names an inclusive run of calendar days in the Calendar's zone,
// because holidays are announced as "from … to …" with a name.
type DateRange struct {
	From string `json:"from"`           // "2026-02-14"
	To   string `json:"to,omitempty"`   // "2026-02-22"; empty means From only
	Name string `json:"name,omitempty"` // shown in validation errors
}

// weekdayKeys are the Week keys, indexed by time.Weekday.
var weekdayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// span is working time within one day, in minutes since midnight,
// start inclusive and end exclusive.
type span struct{ start, end int }

// dayRange is an inclusive run of day numbers (days since 1970-01-01).
type dayRange struct{ from, to int64 }

// New validates c and builds a Calendar from it. All problems found are
// reported together (joined), each naming the field and value at fault, so
// that an administrator can fix a configuration file in one pass.
func New(c Config) (*Calendar, error) {
	var errs []error
	cal := &Calendar{}

	zone := strings.TrimSpace(c.Zone)
	if zone == "" {
		zone = "+07:00"
	}
	if offset, err := parseZone(zone); err != nil {
		errs = append(errs, fmt.Errorf("zone: %q: %w", c.Zone, err))
	} else {
		cal.offset = int64(offset)
		cal.zone = formatZone(offset)
		cal.loc = zoneLocation(offset)
	}

	weekErrs := 0
	keys := make([]string, 0, len(c.Week))
	for k := range c.Week {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		wd := slices.Index(weekdayKeys[:], k)
		if wd < 0 {
			errs = append(errs, fmt.Errorf("week: unknown weekday key %q (want mon, tue, wed, thu, fri, sat or sun)", k))
			weekErrs++
			continue
		}
		spans, err := parseSpans(c.Week[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("week.%s: %w", k, err))
			weekErrs++
			continue
		}
		cal.week[wd] = spans
	}
	for wd, spans := range cal.week {
		for _, s := range spans {
			cal.dayTotal[wd] += int64(s.end-s.start) * nsPerMinute
		}
		cal.weekTotal += cal.dayTotal[wd]
	}
	if cal.weekTotal == 0 && weekErrs == 0 {
		errs = append(errs, errors.New("week: no working time on any day (deadlines would never end)"))
	}

	off, offErrs := parseRanges("holidays", c.Holidays)
	extra, extraErrs := parseRanges("work_days", c.WorkDays)
	errs = append(errs, offErrs...)
	errs = append(errs, extraErrs...)
	if len(c.WorkDays) > 0 && len(cal.week[time.Monday]) == 0 && weekErrs == 0 {
		errs = append(errs, errors.New("work_days: extra working days use Monday's hours, but week.mon has no working time"))
	}
	if len(offErrs) == 0 && len(extraErrs) == 0 {
		errs = append(errs, overlapErrors(c.WorkDays, extra, c.Holidays, off)...)
	}

	if len(errs) > 0 {
		return nil, fmt.Errorf("workhours: invalid config: %w", errors.Join(errs...))
	}
	cal.off = mergeRanges(off)
	cal.extra = mergeRanges(extra)
	cal.holidays = cleanRanges(c.Holidays)
	cal.workDays = cleanRanges(c.WorkDays)
	return cal, nil
}

// Config returns the calendar's configuration in normalised form (all seven
// weekdays present, times as HH:MM), so that it can be shown, edited and
// passed to New again.
func (c *Calendar) Config() Config {
	week := make(map[string]string, len(weekdayKeys))
	for wd, key := range weekdayKeys {
		week[key] = formatSpans(c.week[wd])
	}
	return Config{
		Zone:     c.zone,
		Week:     week,
		Holidays: append([]DateRange{}, c.holidays...),
		WorkDays: append([]DateRange{}, c.workDays...),
	}
}

// parseZone reads a fixed offset "+HH:MM" or "-HH:MM" into seconds.
func parseZone(s string) (int, error) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' ||
		!allDigits(s[1:3]) || !allDigits(s[4:6]) {
		return 0, errors.New(`want a fixed offset ±HH:MM such as "+07:00"`)
	}
	h, _ := strconv.Atoi(s[1:3])
	m, _ := strconv.Atoi(s[4:6])
	if m >= 60 {
		return 0, errors.New("minutes must be 00–59")
	}
	offset := (h*60 + m) * 60
	if s[0] == '-' {
		offset = -offset
	}
	if offset < -12*3600 || offset > 14*3600 {
		return 0, errors.New("offset must be between -12:00 and +14:00")
	}
	return offset, nil
}

func formatZone(offset int) string {
	sign := '+'
	if offset < 0 {
		sign, offset = '-', -offset
	}
	return fmt.Sprintf("%c%02d:%02d", sign, offset/3600, offset/60%60)
}

func zoneLocation(offset int) *time.Location {
	if offset == 7*3600 {
		return time.FixedZone("ICT", offset)
	}
	return time.FixedZone("UTC"+formatZone(offset), offset)
}

// parseSpans reads "07:30-11:30,13:30-17:00"; empty means no working time.
func parseSpans(s string) ([]span, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var spans []span
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%q: empty span (stray comma?)", s)
		}
		startStr, endStr, ok := strings.Cut(item, "-")
		if !ok {
			return nil, fmt.Errorf("%q: want HH:MM-HH:MM", item)
		}
		start, ok := parseClock(strings.TrimSpace(startStr))
		if !ok {
			return nil, fmt.Errorf("%q: start must be 00:00–23:59", item)
		}
		end, ok := parseClock(strings.TrimSpace(endStr))
		if !ok || end > 24*60 {
			return nil, fmt.Errorf("%q: end must be 00:00–24:00", item)
		}
		if start >= 24*60 {
			return nil, fmt.Errorf("%q: start must be 00:00–23:59", item)
		}
		if start >= end {
			return nil, fmt.Errorf("%q: start must be before end", item)
		}
		if n := len(spans); n > 0 && start < spans[n-1].end {
			return nil, fmt.Errorf("%q: starts before the previous span %q ends (spans must be in order and must not overlap)",
				item, formatSpans(spans[n-1:]))
		}
		spans = append(spans, span{start, end})
	}
	return spans, nil
}

// parseClock reads H:MM or HH:MM up to 24:00 into minutes since midnight.
func parseClock(s string) (int, bool) {
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 || !allDigits(hs) || !allDigits(ms) {
		return 0, false
	}
	h, _ := strconv.Atoi(hs)
	m, _ := strconv.Atoi(ms)
	if m >= 60 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

func formatSpans(spans []span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = fmt.Sprintf("%02d:%02d-%02d:%02d", s.start/60, s.start%60, s.end/60, s.end%60)
	}
	return strings.Join(parts, ",")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// rangeLabel names a DateRange in errors: holidays[3] "Tết".
func rangeLabel(field string, i int, r DateRange) string {
	if r.Name == "" {
		return fmt.Sprintf("%s[%d]", field, i)
	}
	return fmt.Sprintf("%s[%d] %q", field, i, r.Name)
}

// parseRanges parses DateRanges into day ranges, index for index; on
// error the returned slice is incomplete and must not be used.
func parseRanges(field string, rs []DateRange) ([]dayRange, []error) {
	var errs []error
	out := make([]dayRange, 0, len(rs))
	for i, r := range rs {
		label := rangeLabel(field, i, r)
		fromStr, toStr := strings.TrimSpace(r.From), strings.TrimSpace(r.To)
		if fromStr == "" {
			errs = append(errs, fmt.Errorf("%s: from is required", label))
			continue
		}
		from, err := parseDay(fromStr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: from: %w", label, err))
			continue
		}
		to := from
		if toStr != "" {
			if to, err = parseDay(toStr); err != nil {
				errs = append(errs, fmt.Errorf("%s: to: %w", label, err))
				continue
			}
		}
		if from > to {
			errs = append(errs, fmt.Errorf("%s: from %s is after to %s", label, fromStr, toStr))
			continue
		}
		out = append(out, dayRange{from, to})
	}
	return out, errs
}

// parseDay reads YYYY-MM-DD into a day number (days since 1970-01-01).
func parseDay(s string) (int64, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("want YYYY-MM-DD: %w", err)
	}
	return t.Unix() / secPerDay, nil
}

func formatDay(day int64) string {
	return time.Unix(day*secPerDay, 0).UTC().Format(time.DateOnly)
}

// overlapErrors reports extra working days that are also holidays: the
// configuration would contradict itself.
func overlapErrors(work []DateRange, workDays []dayRange, hol []DateRange, holDays []dayRange) []error {
	var errs []error
	for i, w := range workDays {
		for j, h := range holDays {
			if w.from <= h.to && h.from <= w.to {
				errs = append(errs, fmt.Errorf("%s: %s is also a day off in %s",
					rangeLabel("work_days", i, work[i]), formatDay(max(w.from, h.from)), rangeLabel("holidays", j, hol[j])))
				break
			}
		}
	}
	return errs
}

// mergeRanges sorts ranges and merges overlapping or adjacent ones, so that
// lookups can binary-search and skip a whole run at once.
func mergeRanges(rs []dayRange) []dayRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b dayRange) int {
		switch {
		case a.from < b.from:
			return -1
		case a.from > b.from:
			return 1
		}
		return 0
	})
	var out []dayRange
	for _, r := range rs {
		if n := len(out); n > 0 && r.from <= out[n-1].to+1 {
			out[n-1].to = max(out[n-1].to, r.to)
			continue
		}
		out = append(out, r)
	}
	return out
}

// cleanRanges copies validated ranges with surrounding spaces trimmed.
func cleanRanges(rs []DateRange) []DateRange {
	out := make([]DateRange, len(rs))
	for i, r := range rs {
		out[i] = DateRange{From: strings.TrimSpace(r.From), To: strings.TrimSpace(r.To), Name: r.Name}
	}
	return out
}
