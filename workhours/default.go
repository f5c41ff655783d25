package workhours

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
)

// vnHolidaysJSON is kept as data, not code, so that the yearly Government
// announcements can be reviewed and updated without touching Go.
//
//go:embed vn-holidays.json
var vnHolidaysJSON []byte

// holidayFile is the shape of vn-holidays.json.
type holidayFile struct {
	Comment string        `json:"comment"`
	Years   []holidayYear `json:"years"`
}

// holidayYear is one year of vn-holidays.json with where it comes from.
type holidayYear struct {
	Year     int         `json:"year"`
	Status   string      `json:"status"` // "official" or "estimated"
	Source   string      `json:"source"`
	Holidays []DateRange `json:"holidays"`
	WorkDays []DateRange `json:"work_days"`
}

// defaultWeek is the Vietnamese public-sector week.
var defaultWeek = map[string]string{
	"mon": "07:30-11:30,13:30-17:00",
	"tue": "07:30-11:30,13:30-17:00",
	"wed": "07:30-11:30,13:30-17:00",
	"thu": "07:30-11:30,13:30-17:00",
	"fri": "07:30-11:30,13:30-17:00",
	"sat": "",
	"sun": "",
}

var loadHolidayFile = sync.OnceValues(func() (holidayFile, error) {
	var f holidayFile
	if err := json.Unmarshal(vnHolidaysJSON, &f); err != nil {
		return f, fmt.Errorf("workhours: embedded vn-holidays.json: %w", err)
	}
	return f, nil
})

// DefaultConfig returns the configuration behind Default as a fresh copy,
// so that an administrator can start from it and edit it: UTC+7, Monday to
// Friday 07:30–11:30 and 13:30–17:00, and Vietnam's public holidays and
// swapped working days for 2025, 2026 and 2027 from vn-holidays.json.
func DefaultConfig() Config {
	f, err := loadHolidayFile()
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	c := Config{Zone: "+07:00", Week: maps.Clone(defaultWeek), Holidays: []DateRange{}, WorkDays: []DateRange{}}
	for _, y := range f.Years {
		c.Holidays = append(c.Holidays, y.Holidays...)
		c.WorkDays = append(c.WorkDays, y.WorkDays...)
	}
	return c
}

var defaultCalendar = sync.OnceValue(func() *Calendar {
	c, err := New(DefaultConfig())
	if err != nil {
		panic(fmt.Errorf("workhours: embedded vn-holidays.json: %w", err))
	}
	return c
})

// Default returns the calendar of Vietnamese state offices, so that callers
// have a sensible calendar without configuration: Monday to Friday
// 07:30–11:30 and 13:30–17:00 in UTC+7, weekends off, and the national
// public holidays of 2025–2027 (Labour Code 2019 art. 112) as announced by
// the Government, with swapped working Saturdays. Huế's actual office hours
// may differ (some agencies shift them by season) and years after 2027 have
// no holidays: build a Calendar with New from an edited DefaultConfig for
// those. The 2027 holidays are estimated until the Government announces
// them. The returned Calendar is shared and immutable.
func Default() *Calendar { return defaultCalendar() }
