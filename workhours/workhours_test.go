package workhours

import (
	"math/rand/v2"
	"testing"
	"time"
)

var ict = time.FixedZone("ICT", 7*3600)

// at builds a time in Huế local time.
func at(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, ict)
}

const fmtT = "Mon 2006-01-02 15:04:05.999999999 MST"

func TestAdd(t *testing.T) {
	c := Default()
	tests := []struct {
		name  string
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"within the morning", at(2026, 3, 10, 8, 0), 2 * time.Hour, at(2026, 3, 10, 10, 0)},
		{"ends exactly at lunch, not after it", at(2026, 3, 10, 7, 30), 4 * time.Hour, at(2026, 3, 10, 11, 30)},
		{"across the lunch break", at(2026, 3, 10, 10, 30), 2 * time.Hour, at(2026, 3, 10, 14, 30)},
		{"start during lunch", at(2026, 3, 10, 12, 0), time.Hour, at(2026, 3, 10, 14, 30)},
		{"start before opening", at(2026, 3, 10, 5, 0), 30 * time.Minute, at(2026, 3, 10, 8, 0)},
		{"start after closing", at(2026, 3, 10, 20, 0), 30 * time.Minute, at(2026, 3, 11, 8, 0)},
		{"one working day", at(2026, 3, 10, 7, 30), 7*time.Hour + 30*time.Minute, at(2026, 3, 10, 17, 0)},
		// 1h on Friday (16:00–17:00), the weekend is skipped, 1h on Monday.
		{"across a weekend", at(2026, 3, 13, 16, 0), 2 * time.Hour, at(2026, 3, 16, 8, 30)},
		{"start on Saturday", at(2026, 3, 14, 10, 0), time.Hour, at(2026, 3, 16, 8, 30)},
		// Tết Bính Ngọ: vn-holidays.json has 2026-02-14..2026-02-22 off
		// (Sat–Sun, the working days 16–20 Feb are the statutory days).
		// Friday 13 Feb 16:00 gives 1h; the office reopens Monday 23 Feb
		// 07:30: 4h until 11:30 and 3h from 13:30 make the other 7h, so
		// the deadline is Monday 23 Feb 16:30 (09:30 UTC).
		{"16 working hours before Tết run over it", at(2026, 2, 13, 16, 0), 8 * time.Hour, at(2026, 2, 23, 16, 30)},
		// Fri 2 Jan 2026 was swapped with Sat 10 Jan 2026: Friday 9 Jan
		// 16:00 + 2h lands on the working Saturday (Monday's hours).
		{"onto a swapped working Saturday", at(2026, 1, 9, 16, 0), 2 * time.Hour, at(2026, 1, 10, 8, 30)},
		{"over the New Year bridge", at(2025, 12, 31, 16, 30), time.Hour, at(2026, 1, 5, 8, 0)},
		// National Day 2026: 29 Aug–2 Sep off, Sat 22 Aug worked.
		{"onto Saturday 22 Aug 2026", at(2026, 8, 21, 16, 0), 2 * time.Hour, at(2026, 8, 22, 8, 30)},
		{"over National Day 2026", at(2026, 8, 28, 16, 0), 2 * time.Hour, at(2026, 9, 3, 8, 30)},
		{"Tết 2025", at(2025, 1, 24, 16, 0), 2 * time.Hour, at(2025, 2, 3, 8, 30)},
		{"Hùng Kings 2026 compensatory Monday", at(2026, 4, 24, 16, 0), 2 * time.Hour, at(2026, 4, 28, 8, 30)},
		// 30/4–1/5 2025: off 30 Apr–4 May, Sat 26 Apr worked.
		{"April 2025", at(2025, 4, 29, 16, 0), 2 * time.Hour, at(2025, 5, 5, 8, 30)},
		{"Tết 2027 estimate", at(2027, 2, 4, 16, 0), 2 * time.Hour, at(2027, 2, 12, 8, 30)},
		// From Mon 2 Mar 2026 07:30: 8 full weeks (2 Mar–24 Apr) = 300h;
		// week of 27 Apr loses Hùng Kings (Mon 27) and 30/4, 1/5, leaving
		// 15h (315h); weeks of 4 and 11 May bring 390h; Mon 18 May adds
		// 7.5h (397.5h); the last 2.5h end Tue 19 May 10:00.
		{"exactly one week from a Sunday ends on Friday, not Monday", at(2026, 3, 8, 10, 0), 37*time.Hour + 30*time.Minute, at(2026, 3, 13, 17, 0)},
		{"exactly three weeks from a Saturday", at(2026, 3, 7, 10, 0), 3 * (37*time.Hour + 30*time.Minute), at(2026, 3, 27, 17, 0)},
		{"400 working hours", at(2026, 3, 2, 7, 30), 400 * time.Hour, at(2026, 5, 19, 10, 0)},
		{"sub-second precision", at(2026, 3, 10, 11, 29).Add(59*time.Second + 999*time.Millisecond), 2 * time.Millisecond,
			at(2026, 3, 10, 13, 30).Add(time.Millisecond)},
	}
	for _, tt := range tests {
		got := c.Add(tt.start, tt.d)
		if !got.Equal(tt.want) {
			t.Errorf("%s: Add(%s, %v) = %s, want %s", tt.name, tt.start.Format(fmtT), tt.d,
				got.In(ict).Format(fmtT), tt.want.Format(fmtT))
		}
		if got.Location() != time.UTC {
			t.Errorf("%s: Add() location = %v, want UTC", tt.name, got.Location())
		}
		if back := c.Between(tt.start, got); back != tt.d {
			t.Errorf("%s: Between(start, Add(start, %v)) = %v, want %v", tt.name, tt.d, back, tt.d)
		}
	}
}

func TestAddZeroAndNegative(t *testing.T) {
	c := Default()
	start := at(2026, 3, 14, 22, 0) // Saturday night: not working time
	for _, d := range []time.Duration{0, -time.Hour} {
		got := c.Add(start, d)
		if got != start {
			t.Errorf("Add(%s, %v) = %s, want start unchanged", start.Format(fmtT), d, got.Format(fmtT))
		}
	}
}

func TestAddHuge(t *testing.T) {
	c := Default()
	start := at(2026, 1, 1, 0, 0)
	for _, d := range []time.Duration{100_000 * time.Hour, 1 << 62, time.Duration(1<<63 - 1)} {
		got := c.Add(start, d)
		if !got.After(start) {
			t.Errorf("Add(%v) = %s, want after start", d, got.Format(fmtT))
		}
		if back := c.Between(start, got); back != d {
			t.Errorf("Between(start, Add(start, %v)) = %v, want %v", d, back, d)
		}
	}
	// After 2027 the default calendar has no holidays: 37.5h a week.
	from := at(2030, 1, 7, 7, 30) // Monday
	if got, want := c.Add(from, 52*37*time.Hour+52*30*time.Minute), at(2031, 1, 3, 17, 0); !got.Equal(want) {
		t.Errorf("Add(52 weeks) = %s, want %s", got.In(ict).Format(fmtT), want.Format(fmtT))
	}
}

func TestBetween(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		a, b time.Time
		want time.Duration
	}{
		{"empty", at(2026, 3, 10, 8, 0), at(2026, 3, 10, 8, 0), 0},
		{"reversed", at(2026, 3, 10, 9, 0), at(2026, 3, 10, 8, 0), 0},
		{"over lunch", at(2026, 3, 10, 11, 0), at(2026, 3, 10, 14, 0), time.Hour},
		{"whole day", at(2026, 3, 10, 0, 0), at(2026, 3, 11, 0, 0), 7*time.Hour + 30*time.Minute},
		{"weekend", at(2026, 3, 13, 17, 0), at(2026, 3, 16, 7, 30), 0},
		{"Tết 2026 is empty", at(2026, 2, 13, 17, 0), at(2026, 2, 23, 7, 30), 0},
		{"swapped Saturday counts", at(2026, 1, 10, 0, 0), at(2026, 1, 11, 0, 0), 7*time.Hour + 30*time.Minute},
		{"swapped Friday is off", at(2026, 1, 2, 0, 0), at(2026, 1, 3, 0, 0), 0},
		// March 2026: 22 weekdays, no holidays.
		{"a month", at(2026, 3, 1, 0, 0), at(2026, 4, 1, 0, 0), 22 * (7*time.Hour + 30*time.Minute)},
		// 2026: 261 weekdays; off on weekdays: 1, 2 Jan; 16–20 Feb; 27 Apr;
		// 30 Apr; 1 May; 31 Aug; 1, 2 Sep = 13; plus 2 Saturdays worked.
		{"year 2026", at(2026, 1, 1, 0, 0), at(2027, 1, 1, 0, 0), (261 - 13 + 2) * (7*time.Hour + 30*time.Minute)},
		{"mixed zones", time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), at(2026, 3, 10, 9, 0), time.Hour},
	}
	for _, tt := range tests {
		if got := c.Between(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Between(%s, %s) = %v, want %v", tt.name, tt.a.Format(fmtT), tt.b.Format(fmtT), got, tt.want)
		}
	}
}

func TestIsWorkingAndNextWorking(t *testing.T) {
	c := Default()
	tests := []struct {
		t       time.Time
		working bool
		next    time.Time
	}{
		{at(2026, 3, 10, 7, 29), false, at(2026, 3, 10, 7, 30)},
		{at(2026, 3, 10, 7, 30), true, at(2026, 3, 10, 7, 30)},
		{at(2026, 3, 10, 11, 29), true, at(2026, 3, 10, 11, 29)},
		{at(2026, 3, 10, 11, 30), false, at(2026, 3, 10, 13, 30)},
		{at(2026, 3, 10, 17, 0), false, at(2026, 3, 11, 7, 30)},
		{at(2026, 3, 14, 9, 0), false, at(2026, 3, 16, 7, 30)},                      // Saturday
		{at(2026, 2, 18, 9, 0), false, at(2026, 2, 23, 7, 30)},                      // Tết
		{at(2026, 1, 10, 9, 0), true, at(2026, 1, 10, 9, 0)},                        // swapped Saturday
		{at(2026, 1, 2, 9, 0), false, at(2026, 1, 5, 7, 30)},                        // swapped Friday
		{at(2027, 12, 31, 17, 0), false, at(2028, 1, 3, 7, 30)},                     // beyond the data
		{at(1969, 12, 31, 9, 0), true, at(1969, 12, 31, 9, 0)},                      // before the Unix epoch
		{at(1900, 1, 6, 9, 0), false, at(1900, 1, 8, 7, 30)},                        // a Saturday long ago
		{time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC), true, at(2026, 3, 10, 9, 0)}, // 09:00 ICT
	}
	for _, tt := range tests {
		if got := c.IsWorking(tt.t); got != tt.working {
			t.Errorf("IsWorking(%s) = %v, want %v", tt.t.Format(fmtT), got, tt.working)
		}
		got := c.NextWorking(tt.t)
		if !got.Equal(tt.next) || got.Location() != time.UTC {
			t.Errorf("NextWorking(%s) = %s, want %s in UTC", tt.t.Format(fmtT), got.Format(fmtT), tt.next.Format(fmtT))
		}
	}
}

func TestOtherZone(t *testing.T) {
	c, err := New(Config{Zone: "+00:00", Week: map[string]string{"mon": "09:00-17:00", "wed": "00:00-24:00"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC) // Monday
	if got, want := c.Add(start, 2*time.Hour), time.Date(2026, 3, 11, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Add() = %s, want %s", got.Format(fmtT), want.Format(fmtT))
	}
	if got, want := c.Add(start, 26*time.Hour), time.Date(2026, 3, 16, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Add() = %s, want %s", got.Format(fmtT), want.Format(fmtT))
	}
}

func TestZeroCalendarPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Errorf("Add on a zero Calendar did not panic, want a panic instead of an endless loop")
		}
	}()
	var c Calendar
	c.Add(time.Now(), time.Hour)
}

// testCalendar has uneven days, a day off mid-week, holidays, swapped
// days and a working Sunday, to exercise every branch of the arithmetic.
func testCalendar(t testing.TB) *Calendar {
	t.Helper()
	c, err := New(Config{
		Zone: "+07:00",
		Week: map[string]string{
			"mon": "07:30-11:30,13:30-17:00", "tue": "08:00-12:00", "wed": "",
			"thu": "00:00-00:01,23:59-24:00", "fri": "13:00-13:30,14:00-18:00,20:00-21:00", "sat": "10:00-11:00",
		},
		Holidays: []DateRange{
			{From: "2026-02-14", To: "2026-02-22"}, {From: "2026-03-05"}, {From: "2026-03-06"},
			{From: "2026-04-01", To: "2026-04-03"}, {From: "2026-04-02", To: "2026-04-08"},
		},
		WorkDays: []DateRange{{From: "2026-02-08"}, {From: "2026-03-11"}, {From: "2026-03-14", To: "2026-03-15"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bruteBetween counts working minutes one minute at a time.
func bruteBetween(c *Calendar, a, b time.Time) time.Duration {
	var d time.Duration
	for t := a; t.Before(b); t = t.Add(time.Minute) {
		if c.IsWorking(t) {
			d += time.Minute
		}
	}
	return d
}

// bruteAdd steps one minute at a time; start and d are whole minutes.
func bruteAdd(c *Calendar, start time.Time, d time.Duration) time.Time {
	t := start
	for d > 0 {
		if c.IsWorking(t) {
			d -= time.Minute
		}
		t = t.Add(time.Minute)
	}
	return t
}

func TestAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	base := at(2026, 1, 25, 0, 0)
	for _, c := range []*Calendar{Default(), testCalendar(t)} {
		for i := 0; i < 300; i++ {
			start := base.Add(time.Duration(r.IntN(100*24*60)) * time.Minute)
			d := time.Duration(r.IntN(40*60)+1) * time.Minute
			got, want := c.Add(start, d), bruteAdd(c, start, d)
			if !got.Equal(want) {
				t.Fatalf("Add(%s, %v) = %s, want %s", start.Format(fmtT), d, got.In(ict).Format(fmtT), want.In(ict).Format(fmtT))
			}
			end := start.Add(time.Duration(r.IntN(20*24*60)) * time.Minute)
			if got, want := c.Between(start, end), bruteBetween(c, start, end); got != want {
				t.Fatalf("Between(%s, %s) = %v, want %v", start.Format(fmtT), end.Format(fmtT), got, want)
			}
		}
	}
}

// TestAddBetweenProperty checks Between(s, Add(s, d)) == d and related
// laws over random starts (to the nanosecond) and durations.
func TestAddBetweenProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lo := at(2024, 6, 1, 0, 0).UnixNano()
	hi := at(2028, 6, 1, 0, 0).UnixNano()
	for _, c := range []*Calendar{Default(), testCalendar(t)} {
		for i := 0; i < 20000; i++ {
			s := time.Unix(0, lo+r.Int64N(hi-lo)).In(ict)
			var d time.Duration
			switch r.IntN(4) {
			case 0:
				d = time.Duration(r.Int64N(int64(time.Hour)))
			case 1:
				d = time.Duration(r.IntN(50)) * 30 * time.Minute
			case 2:
				d = time.Duration(r.IntN(80)) * (7*time.Hour + 30*time.Minute) // whole default weeks and days
			default:
				d = time.Duration(r.Int64N(int64(600 * time.Hour)))
			}
			end := c.Add(s, d)
			if got := c.Between(s, end); got != d {
				t.Fatalf("Between(s, Add(s, %v)) = %v with s = %s, end = %s", d, got, s.Format(fmtT), end.Format(fmtT))
			}
			if d == 0 {
				continue
			}
			if !end.After(s) || !c.IsWorking(end.Add(-1)) {
				t.Fatalf("Add(%s, %v) = %s: want after start and just after working time", s.Format(fmtT), d, end.Format(fmtT))
			}
			d1 := time.Duration(r.Int64N(int64(d) + 1))
			if a, b := c.Add(c.Add(s, d1), d-d1), end; d1 > 0 && !a.Equal(b) {
				t.Fatalf("Add(Add(s, %v), %v) = %s, want Add(s, %v) = %s (s = %s)", d1, d-d1, a.Format(fmtT), d, b.Format(fmtT), s.Format(fmtT))
			}
			m := time.Unix(0, s.UnixNano()+r.Int64N(end.UnixNano()-s.UnixNano()+1))
			if got := c.Between(s, m) + c.Between(m, end); got != d {
				t.Fatalf("Between(s, m) + Between(m, end) = %v, want %v (s = %s, m = %s)", got, d, s.Format(fmtT), m.Format(fmtT))
			}
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	c := Default()
	start := at(2026, 2, 10, 9, 17)
	for _, d := range []time.Duration{16 * time.Hour, 400 * time.Hour} {
		b.Run(d.String(), func(b *testing.B) {
			for b.Loop() {
				c.Add(start, d)
			}
		})
	}
}

func TestWorkDaysUseMondaysHours(t *testing.T) {
	c := testCalendar(t) // Monday 07:30-11:30,13:30-17:00; Wednesday off; Sat 10:00-11:00
	tests := []struct {
		name string
		day  time.Time
		want time.Duration
	}{
		{"extra Wednesday", at(2026, 3, 11, 0, 0), 7*time.Hour + 30*time.Minute},
		{"ordinary Wednesday", at(2026, 3, 18, 0, 0), 0},
		{"extra Saturday", at(2026, 3, 14, 0, 0), 7*time.Hour + 30*time.Minute},
		{"ordinary Saturday", at(2026, 3, 21, 0, 0), time.Hour},
		{"extra Sunday", at(2026, 3, 15, 0, 0), 7*time.Hour + 30*time.Minute},
		{"holiday Friday", at(2026, 3, 6, 0, 0), 0},
		{"ordinary Friday", at(2026, 3, 13, 0, 0), 5*time.Hour + 30*time.Minute},
	}
	for _, tt := range tests {
		if got := c.Between(tt.day, tt.day.AddDate(0, 0, 1)); got != tt.want {
			t.Errorf("%s %s: working time %v, want %v", tt.name, tt.day.Format(time.DateOnly), got, tt.want)
		}
	}
	if got, want := c.IsWorking(at(2026, 3, 11, 13, 45)), true; got != want {
		t.Errorf("IsWorking(extra Wednesday 13:45) = %v, want %v", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	start := at(2026, 2, 13, 16, 0)
	want := at(2026, 2, 23, 16, 30)
	done := make(chan time.Time)
	for range 8 {
		go func() { done <- Default().Add(start, 8*time.Hour) }()
	}
	for range 8 {
		if got := <-done; !got.Equal(want) {
			t.Errorf("concurrent Add() = %s, want %s", got.Format(fmtT), want.Format(fmtT))
		}
	}
}
