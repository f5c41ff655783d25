package cityops

import (
	"context"
	"time"
)

// IOCFilter narrows the operations centre's handling figures: reports of
// one sector, one area (and the areas below it), received in [Since,
// Until).
type IOCFilter struct {
	Sector string
	Area   string
	Since  time.Time
	Until  time.Time
}

// HandlingSummary is the centre's headline figures: today's flow (today in
// the city's time zone), what is overdue now, and how the reports received
// in the filter's period were handled.
type HandlingSummary struct {
	ReceivedToday int `json:"received_today"`
	ResolvedToday int `json:"resolved_today"`
	OpenNow       int `json:"open_now"`
	OverdueNow    int `json:"overdue_now"`
	// Over the period:
	Received int `json:"received"`
	Resolved int `json:"resolved"`
	OnTime   int `json:"on_time"`
	// OnTimeRate is OnTime / Resolved (0 when nothing was resolved).
	OnTimeRate float64 `json:"on_time_rate"`
	// MedianHours is the median time from receipt to resolution, in hours
	// on the clock, to the nearest 0.1 h.
	MedianHours float64 `json:"median_hours"`
	AvgRating   float64 `json:"avg_rating"`
	Ratings     int     `json:"ratings"`
}

// HandlingRow is one agency's, area's or sector's handling in a period,
// ranked among its peers.
type HandlingRow struct {
	Key  string `json:"key"`
	Name string `json:"name"` // filled by the caller for display
	HandlingSummary
	// Rank orders rows by on-time rate, then median time, then volume (1 =
	// best); rows with nothing resolved come last, unranked (0).
	Rank int `json:"rank"`
}

// CasePoint is an open case on the centre's map.
type CasePoint struct {
	Tracking   string     `json:"tracking"`
	Lat        float64    `json:"lat"`
	Lon        float64    `json:"lon"`
	Status     string     `json:"status"`
	Category   string     `json:"category"`
	Sector     string     `json:"sector"`
	Agency     string     `json:"agency,omitempty"`
	Urgent     bool       `json:"urgent"`
	DueAt      *time.Time `json:"due_at,omitempty"`
	Overdue    bool       `json:"overdue"`
	ReceivedAt time.Time  `json:"received_at"`
}

// HeatCell counts the reports received in one cell of a lat/lon grid.
type HeatCell struct {
	Lat   float64 `json:"lat"` // the cell's centre
	Lon   float64 `json:"lon"`
	Count int     `json:"count"`
}

// IOCService computes the operations centre's figures. Every method is
// scoped like the inbox: agency staff see their agency's reports only.
type IOCService interface {
	HandlingSummary(ctx context.Context, f IOCFilter) (*HandlingSummary, error)
	// HandlingBreakdown groups by ByAgency, ByArea or BySector and ranks.
	HandlingBreakdown(ctx context.Context, by string, f IOCFilter) ([]*HandlingRow, error)
	// OpenCases returns up to limit open cases that have a point, the most
	// urgent deadlines first.
	OpenCases(ctx context.Context, f IOCFilter, limit int) ([]*CasePoint, error)
	// ReportHeat counts the period's reports per grid cell of cell degrees.
	ReportHeat(ctx context.Context, f IOCFilter, cell float64) ([]HeatCell, error)
}

// ResponseTime is how fast urgent reports were taken on: from receipt to
// the lead agency's acceptance (ISO 37120's emergency response time, as
// far as the city's handling system sees it).
type ResponseTime struct {
	Reports       int     `json:"reports"` // urgent reports accepted
	MedianMinutes float64 `json:"median_minutes"`
	P90Minutes    float64 `json:"p90_minutes"`
}

// KPIService computes the indicators the steering board follows beyond
// the handling figures.
type KPIService interface {
	// UrgentResponse measures urgent reports received in the filter's
	// period (scoped like IOCService).
	UrgentResponse(ctx context.Context, f IOCFilter) (*ResponseTime, error)
}
