package cityops

import (
	"context"
	"time"
)

// HandlingStat is how one agency, area or sector handled the reports that
// came in during a period: the public figures citizens judge the city by.
type HandlingStat struct {
	Key      string  `json:"key"`  // agency, area or sector code ("" = none yet)
	Name     string  `json:"name"` // filled by the caller for display
	Received int     `json:"received"`
	Resolved int     `json:"resolved"`
	OnTime   int     `json:"on_time"`
	Overdue  int     `json:"overdue"`   // open and past the deadline now
	AvgHours float64 `json:"avg_hours"` // receipt to resolution, on the clock
	// AvgRating is the mean of citizens' 1–5 ratings; Ratings how many.
	AvgRating float64 `json:"avg_rating"`
	Ratings   int     `json:"ratings"`
}

// Groupings of handling figures.
const (
	ByAgency = "agency"
	ByArea   = "area"
	BySector = "sector"
)

// StatsService computes public handling figures.
type StatsService interface {
	// HandlingStats groups the reports received in [since, until) by
	// agency, area or sector. Rejected and duplicate reports do not count.
	HandlingStats(ctx context.Context, by string, since, until time.Time) ([]*HandlingStat, error)
}
