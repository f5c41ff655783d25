package cityops

import (
	"context"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Report statuses: the states of the cross-agency case workflow.
const (
	StatusReceived   = "received"    // in the operations centre's triage queue
	StatusAssigned   = "assigned"    // routed to a lead agency, not yet accepted
	StatusAccepted   = "accepted"    // the agency took it on
	StatusInProgress = "in_progress" // work has started
	StatusResolved   = "resolved"    // the agency says it is done; the citizen may confirm or reopen
	StatusClosed     = "closed"      // confirmed by the citizen or closed after the confirmation period
	StatusRejected   = "rejected"    // invalid report (spam, not a city matter), with a reason
	StatusDuplicate  = "duplicate"   // merged into another report
)

// Statuses lists every status in workflow order.
var Statuses = []string{StatusReceived, StatusAssigned, StatusAccepted, StatusInProgress, StatusResolved, StatusClosed, StatusRejected, StatusDuplicate}

// OpenStatuses lists the statuses of reports that still need handling.
var OpenStatuses = []string{StatusReceived, StatusAssigned, StatusAccepted, StatusInProgress}

// Open reports whether a report in status s still needs handling.
func Open(s string) bool {
	switch s {
	case StatusResolved, StatusClosed, StatusRejected, StatusDuplicate:
		return false
	}
	return true
}

// Channels a report can arrive by.
const (
	ChannelWeb     = "web"
	ChannelApp     = "app"
	ChannelHotline = "hotline"
	ChannelEmail   = "email"
	ChannelSocial  = "social"
	ChannelOpen311 = "open311"
	ChannelAPI     = "api"
	// ChannelSensor marks cases opened by an alarm on the city's live data.
	ChannelSensor = "sensor"
)

// Channels lists the valid channels.
var Channels = []string{ChannelWeb, ChannelApp, ChannelHotline, ChannelEmail, ChannelSocial, ChannelOpen311, ChannelAPI}

// Report is a citizen's field report and the case that handles it. The
// reporter's identity is personal data: the Reporter fields are only filled
// for staff allowed to see them, never in public output.
type Report struct {
	ID          int64    `json:"id"`
	Tracking    string   `json:"tracking"` // the public code the citizen follows it by
	Category    string   `json:"category"`
	Sector      string   `json:"sector"`
	Description string   `json:"description"`
	Lat         *float64 `json:"lat,omitempty"`
	Lon         *float64 `json:"lon,omitempty"`
	Address     string   `json:"address,omitempty"`
	Area        string   `json:"area,omitempty"` // innermost area code
	Channel     string   `json:"channel"`
	Urgent      bool     `json:"urgent"`
	Status      string   `json:"status"`
	Agency      string   `json:"agency,omitempty"` // lead agency code
	// Supporting lists the agencies coordinating under the lead one, each
	// with its own task and whether it is done.
	Supporting []Support `json:"supporting,omitempty"`
	// QueuedUntil is set for non-urgent reports that arrived at night:
	// handling starts in the morning.
	QueuedUntil *time.Time `json:"queued_until,omitempty"`
	DueAt       *time.Time `json:"due_at,omitempty"`
	// Escalation is 1 once the agency head was told the report is overdue,
	// 2 once the centre was.
	Escalation  int        `json:"escalation,omitempty"`
	ReceivedAt  time.Time  `json:"received_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	Resolution  string     `json:"resolution,omitempty"` // the agency's public answer
	DuplicateOf string     `json:"duplicate_of,omitempty"`
	Rating      *int       `json:"rating,omitempty"`
	RatingNote  string     `json:"rating_comment,omitempty"`
	// Pending requests awaiting the centre: a transfer or a new deadline.
	TransferTo  string     `json:"transfer_to,omitempty"`
	ExtensionTo *time.Time `json:"extension_to,omitempty"`
	Photos      []Photo    `json:"photos,omitempty"`
	// MediaURL links to media held by the system that sent the report
	// (Open311 media_url); cityops does not fetch it.
	MediaURL string `json:"media_url,omitempty"`
	// Answers holds the answers to the category's attributes.
	Answers         map[string][]string `json:"attributes,omitempty"`
	ReporterName    string              `json:"reporter_name,omitempty"`
	ReporterPhone   string              `json:"reporter_phone,omitempty"`
	ReporterEmail   string              `json:"reporter_email,omitempty"`
	ReporterVisible bool                `json:"-"` // the Reporter fields were loaded for this viewer
}

// Overdue reports whether an open report is past its deadline at t.
func (r *Report) Overdue(t time.Time) bool {
	return r.DueAt != nil && Open(r.Status) && t.After(*r.DueAt)
}

// Public returns a copy without personal data, for public pages and APIs.
// A supporting agency's task is an internal note (the add_support event is
// internal): the public sees who supports, not what they were asked.
func (r *Report) Public() *Report {
	c := *r
	c.ReporterName, c.ReporterPhone, c.ReporterEmail, c.ReporterVisible = "", "", "", false
	c.TransferTo, c.ExtensionTo = "", nil
	if r.Supporting != nil {
		c.Supporting = make([]Support, len(r.Supporting))
		for i, sp := range r.Supporting {
			c.Supporting[i] = Support{Agency: sp.Agency, DoneAt: sp.DoneAt}
		}
	}
	return &c
}

// Support is a supporting agency's part in a report.
type Support struct {
	Agency string     `json:"agency"`
	Task   string     `json:"task"`
	DoneAt *time.Time `json:"done_at,omitempty"`
}

// Photo is a stored image shown with a report: by the citizen, or with the
// agency's result.
type Photo struct {
	Hash   string `json:"hash"`
	Thumb  string `json:"thumb"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Kind   string `json:"kind"` // "report" or "resolution"
}

// MaxPhotos is how many photos a citizen may attach to a report.
const MaxPhotos = 5

// Limits on report text.
const (
	MaxDescription = 4000
	MaxAddress     = 300
)

// ReportInput is what a reporter submits, by any channel.
type ReportInput struct {
	Category    string   `json:"category"`
	Description string   `json:"description"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
	Address     string   `json:"address"`
	Channel     string   `json:"channel"`
	Name        string   `json:"name"`
	Phone       string   `json:"phone"`
	Email       string   `json:"email"`
	// Consent is the reporter's agreement to the processing of their
	// contact data; contact fields are refused without it.
	Consent bool `json:"consent"`
	// Photos are photos stored already (see the media package).
	Photos []Photo `json:"-"`
	// Answers to the category's attributes, by attribute code.
	Answers map[string][]string `json:"-"`
	// MediaURL is an http(s) link to media held elsewhere.
	MediaURL string `json:"media_url"`
	// IdempotencyKey makes a retried submission return the first one.
	IdempotencyKey string `json:"-"`
	// Agency and DueHours, set only by cityops itself (an alarm rule),
	// replace the routing's agency and the category's deadline.
	// FromAlarm is the alarm that opened the case (channel "sensor").
	Agency    string `json:"-"`
	DueHours  int    `json:"-"`
	FromAlarm int64  `json:"-"`
}

// Validate checks the fields that do not need the database. Text is kept
// as typed (HTML included) and escaped on output.
func (in *ReportInput) Validate() error {
	var v Validation
	in.Description = strings.TrimSpace(in.Description)
	in.Address = strings.TrimSpace(in.Address)
	in.Name, in.Phone, in.Email = strings.TrimSpace(in.Name), strings.TrimSpace(in.Phone), strings.TrimSpace(in.Email)
	v.Check(in.Category != "", "category", "is required")
	n := utf8.RuneCountInString(in.Description)
	v.Check(n > 0, "description", "is required")
	v.Check(n <= MaxDescription, "description", "is %d characters; at most %d", n, MaxDescription)
	v.Check(utf8.ValidString(in.Description), "description", "is not valid UTF-8")
	v.Check(utf8.RuneCountInString(in.Address) <= MaxAddress, "address", "is longer than %d characters", MaxAddress)
	// Text no database column takes: PostgreSQL refuses NUL bytes and
	// bytes that are not UTF-8.
	for field, s := range map[string]string{"category": in.Category, "description": in.Description, "address": in.Address,
		"name": in.Name, "media_url": in.MediaURL} {
		v.Check(utf8.ValidString(s) && !strings.ContainsRune(s, 0), field, "is not valid UTF-8 text (or holds a NUL byte)")
	}
	if (in.Lat == nil) != (in.Lon == nil) {
		v.Add("lat", "give both lat and lon, or neither")
	}
	if in.Lat != nil && in.Lon != nil {
		v.Check(*in.Lat >= -90 && *in.Lat <= 90, "lat", "must be between -90 and 90")
		v.Check(*in.Lon >= -180 && *in.Lon <= 180, "lon", "must be between -180 and 180")
	} else if in.Address == "" {
		v.Add("lat", "give a location (lat and lon) or an address")
	}
	if in.Channel == "" {
		in.Channel = ChannelWeb
	}
	v.Check(oneOf(in.Channel, Channels) || (in.Channel == ChannelSensor && in.FromAlarm != 0), "channel", "must be one of %s", strings.Join(Channels, ", "))
	v.Check(utf8.RuneCountInString(in.Name) <= 200, "name", "is longer than 200 characters")
	v.Check(len(in.Phone) <= 30 && phoneOK(in.Phone), "phone", "must be a phone number of digits, spaces, '+', '-', '.'")
	if in.Email != "" {
		u := User{Email: in.Email, Role: RoleCitizen}
		if err := u.Validate(); err != nil {
			v.Add("email", "is not an e-mail address")
		}
	}
	if (in.Name != "" || in.Phone != "" || in.Email != "") && !in.Consent {
		v.Add("consent", "must be given to leave a name, phone or e-mail")
	}
	v.Check(len(in.Photos) <= MaxPhotos, "photos", "at most %d photos", MaxPhotos)
	if in.MediaURL != "" {
		u, err := url.Parse(in.MediaURL)
		v.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(in.MediaURL) <= 2000,
			"media_url", "must be an http(s) URL of at most 2000 characters")
	}
	v.Check(len(in.IdempotencyKey) <= 200, "Idempotency-Key", "is longer than 200 characters")
	return v.Err()
}

func phoneOK(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9') && !strings.ContainsRune("+-. ()", r) {
			return false
		}
	}
	return true
}

// ReportFilter selects reports for inboxes and public lists.
type ReportFilter struct {
	Tracking   []string
	Categories []string
	Status     []string
	Sector     *string
	Category   *string
	Agency     *string // lead or supporting
	Area       *string // the area or any area below it
	Overdue    *bool
	Text       *string
	// IncludeQueued shows reports still queued for the morning.
	IncludeQueued bool
	Since, Until  *time.Time
	// UpdatedSince and UpdatedUntil bound the last change.
	UpdatedSince, UpdatedUntil *time.Time
	// Near keeps reports within Radius metres of a point.
	Near *Circle
	// WithoutReporter leaves the reporter's identity and contact out, for
	// lists that do not show them: nothing is decrypted, nothing audited.
	WithoutReporter bool
	Offset, Limit   int
}

// Circle is a point and a radius in metres.
type Circle struct {
	Lat, Lon, Radius float64
}

// Event is one entry of a report's timeline: a transition or a note, with
// who did it and when. Internal events are visible to staff only.
type Event struct {
	ID       int64     `json:"id"`
	Tracking string    `json:"tracking,omitempty"` // set in lists that span reports
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"` // "citizen", "system", a user's e-mail, an API key prefix
	Action   string    `json:"action"`
	From     string    `json:"from,omitempty"`
	To       string    `json:"to,omitempty"`
	Agency   string    `json:"agency,omitempty"`
	Note     string    `json:"note,omitempty"`
	Internal bool      `json:"internal,omitempty"`
}

// Action is a request to move a report through the workflow.
type Action struct {
	Name   string     `json:"action"`
	Note   string     `json:"note"`
	Agency string     `json:"agency"` // assign, request_transfer, add_support
	Target string     `json:"target"` // duplicate: the tracking code of the original
	Due    *time.Time `json:"due"`    // request_extension
	Rating int        `json:"rating"` // rate
	Reason string     `json:"reason"` // decline, reject
	Urgent *bool      `json:"urgent"` // assign may change the priority
	Token  string     `json:"-"`      // the citizen's token for citizen actions
	Photo  *Photo     `json:"-"`      // resolve: a stored photo of the result
}

// ReportService takes reports in and moves them through the workflow.
type ReportService interface {
	// CreateReport validates, locates, routes and stores a report and
	// returns it with the citizen's secret token (for confirming, reopening
	// and rating). EINVALID names the fields at fault. A repeated
	// IdempotencyKey returns the first report and an empty token.
	CreateReport(ctx context.Context, in *ReportInput) (r *Report, token string, err error)
	// FindReportByTracking returns ENOTFOUND. Personal data is included
	// only for staff allowed to see it.
	FindReportByTracking(ctx context.Context, tracking string) (*Report, error)
	// FindReports returns the matching reports and their total count.
	FindReports(ctx context.Context, f ReportFilter) ([]*Report, int, error)
	// ReportEvents returns the timeline; internal notes only for staff.
	ReportEvents(ctx context.Context, tracking string) ([]*Event, error)
	// SimilarReports lists open reports of the category within the
	// configured radius and time window of a point, nearest first, without
	// personal data: a citizen may follow one instead of filing another.
	SimilarReports(ctx context.Context, category string, lat, lon float64) ([]*Report, error)
	// PublicEvents lists the public timeline entries of all reports in
	// [since, until), oldest first, at most limit.
	PublicEvents(ctx context.Context, since, until time.Time, limit int) ([]*Event, error)
	// Act applies an action. ECONFLICT (with the allowed actions) for an
	// action the status does not allow, EFORBIDDEN for one the actor may
	// not take, EINVALID for missing fields.
	Act(ctx context.Context, tracking string, a Action) (*Report, error)
	// ExportPersonalData returns every report whose reporter gave the
	// e-mail address or phone number asked for, with what they wrote, and
	// records the export in the audit trail. EFORBIDDEN without
	// PermPersonalData, EINVALID unless exactly one of the two is given.
	ExportPersonalData(ctx context.Context, q PersonalDataQuery) (*PersonalData, error)
}
