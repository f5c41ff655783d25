// Package workhours counts time in working hours, because deadlines in
// Vietnamese public administration ("resolve within 16 working hours") run
// only while offices are open: not at night, at lunch, at weekends or on
// public holidays such as Tết.
//
// A Calendar is built from a Config (see New) or taken from Default, the
// Vietnamese public-sector week with the national holidays of 2025–2027.
// All arithmetic happens in the calendar's fixed-offset zone; results are
// returned in UTC.
package workhours

import (
	"math"
	"sort"
	"time"
)

const (
	nsPerMinute = int64(time.Minute)
	nsPerSecond = int64(time.Second)
	nsPerDay    = int64(24 * time.Hour)
	secPerDay   = 86400
)

// Calendar knows when an office works, so that deadlines counted in
// working time can be computed. It is immutable after New and safe for
// concurrent use. The zero Calendar is not usable: Add, Between and
// NextWorking panic on it rather than loop forever.
type Calendar struct {
	offset    int64          // seconds east of UTC; days are always 24h
	zone      string         // normalised "+07:00"
	loc       *time.Location // fixed zone for Location
	week      [7][]span      // indexed by time.Weekday
	dayTotal  [7]int64       // ns of working time per weekday
	weekTotal int64          // ns of working time in an ordinary week, > 0
	off       []dayRange     // holidays, sorted and merged
	extra     []dayRange     // extra working days, sorted and merged
	holidays  []DateRange    // as configured, for Config
	workDays  []DateRange    // as configured, for Config
}

// Location returns the calendar's fixed zone, so that callers can show a
// deadline in the local time the office works in.
func (c *Calendar) Location() *time.Location { return c.loc }

// IsWorking reports whether t falls in working time, so that callers can
// tell whether an office is open now. Spans are half-open: with hours
// 07:30-11:30, 07:30 is working time and 11:30 is not.
func (c *Calendar) IsWorking(t time.Time) bool {
	day, ns := c.split(t)
	for _, s := range c.spansOn(day) {
		if ns >= int64(s.start)*nsPerMinute && ns < int64(s.end)*nsPerMinute {
			return true
		}
	}
	return false
}

// NextWorking returns the first working moment at or after t (t itself
// when it is working time), in UTC, so that a report filed at night can
// show when work on it can start.
func (c *Calendar) NextWorking(t time.Time) time.Time {
	c.mustBeBuilt()
	day, ns := c.split(t)
	for {
		if end, ok := findRange(c.off, day); ok {
			day, ns = end+1, 0
			continue
		}
		for _, s := range c.spansOn(day) {
			if e := int64(s.end) * nsPerMinute; e > ns {
				return c.join(day, max(int64(s.start)*nsPerMinute, ns))
			}
		}
		day, ns = day+1, 0
	}
}

// Add returns the instant, in UTC, at which d of working time has elapsed
// after start: the deadline of a task given d working time. If start is
// outside working time, counting begins at the next working moment. The
// result may be the end of a span (e.g. 11:30, not the 13:30 after lunch),
// so that Between(start, Add(start, d)) == d always holds.
//
// Holidays and ordinary weeks are skipped whole, so even thousands of
// hours cost only a few steps.
//
// If d <= 0, Add returns start unchanged (same instant and location): no
// time needs to elapse, so no working moment needs to be waited for.
func (c *Calendar) Add(start time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return start
	}
	c.mustBeBuilt()
	day, ns := c.split(start)
	rem := int64(d)
	for {
		if end, ok := findRange(c.off, day); ok {
			day, ns = end+1, 0
			continue
		}
		for _, s := range c.spansOn(day) {
			e := int64(s.end) * nsPerMinute
			if e <= ns {
				continue
			}
			from := max(int64(s.start)*nsPerMinute, ns)
			if rem <= e-from {
				return c.join(day, from+rem)
			}
			rem -= e - from
		}
		day, ns = day+1, 0
		// Skip whole ordinary weeks, keeping at least 1ns so the final
		// day is found by the loop above.
		if weeks := min((rem-1)/c.weekTotal, c.ordinaryDays(day)/7); weeks > 0 {
			day += 7 * weeks
			rem -= weeks * c.weekTotal
		}
	}
}

// Between returns the working time in [a, b), or 0 if b is not after a,
// so that time already spent on a report can be measured in the same unit
// as its deadline. It saturates at the largest time.Duration.
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !a.Before(b) {
		return 0
	}
	c.mustBeBuilt()
	da, na := c.split(a)
	db, nb := c.split(b)
	if da == db {
		return time.Duration(workIn(c.spansOn(da), na, nb))
	}
	total := workIn(c.spansOn(da), na, nsPerDay)
	for day := da + 1; day < db; {
		if end, ok := findRange(c.off, day); ok {
			day = min(end+1, db)
			continue
		}
		if weeks := min(db-day, c.ordinaryDays(day)) / 7; weeks > 0 {
			total = addSat(total, mulSat(weeks, c.weekTotal))
			day += 7 * weeks
			continue
		}
		total = addSat(total, workIn(c.spansOn(day), 0, nsPerDay))
		day++
	}
	return time.Duration(addSat(total, workIn(c.spansOn(db), 0, nb)))
}

func (c *Calendar) mustBeBuilt() {
	if c == nil || c.weekTotal <= 0 {
		panic("workhours: Calendar used without New or Default")
	}
}

// split turns t into a day number and nanoseconds into that day, both in
// the calendar's zone.
func (c *Calendar) split(t time.Time) (day, ns int64) {
	s := t.Unix() + c.offset
	day = s / secPerDay
	if s%secPerDay < 0 {
		day--
	}
	return day, (s-day*secPerDay)*nsPerSecond + int64(t.Nanosecond())
}

// join is the inverse of split and returns UTC.
func (c *Calendar) join(day, ns int64) time.Time {
	return time.Unix(day*secPerDay-c.offset+ns/nsPerSecond, ns%nsPerSecond).UTC()
}

// spansOn returns the working spans of a day: Monday's for extra working
// days, none for holidays, the weekday's otherwise.
func (c *Calendar) spansOn(day int64) []span {
	if _, ok := findRange(c.extra, day); ok {
		return c.week[time.Monday]
	}
	if _, ok := findRange(c.off, day); ok {
		return nil
	}
	wd := (day + 4) % 7 // 1970-01-01 was a Thursday
	if wd < 0 {
		wd += 7
	}
	return c.week[wd]
}

// ordinaryDays returns how many days from day on are neither holidays nor
// extra working days, so that whole ordinary weeks can be skipped.
func (c *Calendar) ordinaryDays(day int64) int64 {
	next := int64(math.MaxInt64)
	for _, rs := range [2][]dayRange{c.off, c.extra} {
		if i := sort.Search(len(rs), func(i int) bool { return rs[i].to >= day }); i < len(rs) {
			next = min(next, rs[i].from)
		}
	}
	if next == math.MaxInt64 {
		return math.MaxInt64
	}
	return max(next-day, 0)
}

// findRange reports whether day lies in one of the sorted ranges and, if
// so, the last day of that range.
func findRange(rs []dayRange, day int64) (int64, bool) {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].to >= day })
	if i < len(rs) && rs[i].from <= day {
		return rs[i].to, true
	}
	return 0, false
}

// workIn returns the working time of spans within [from, to) nanoseconds
// of a day.
func workIn(spans []span, from, to int64) int64 {
	var total int64
	for _, s := range spans {
		lo := max(int64(s.start)*nsPerMinute, from)
		hi := min(int64(s.end)*nsPerMinute, to)
		if hi > lo {
			total += hi - lo
		}
	}
	return total
}

func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func mulSat(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}
