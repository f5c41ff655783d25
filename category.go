package cityops

import (
	"context"
	"strings"
)

// Category is a kind of field report ("pothole", "uncollected rubbish"),
// grouped by sector. Routing and deadlines hang off it.
type Category struct {
	ID     int64  `json:"id"`
	Code   string `json:"code"`
	Sector string `json:"sector"` // sector code
	Name   string `json:"name"`
	Names  Names  `json:"names,omitempty"`
	// Urgent categories are handled at once, also at night.
	Urgent bool `json:"urgent"`
	Active bool `json:"active"`
	// HoursTimed is the deadline of a normal report in working hours;
	// HoursUrgent that of an urgent one in clock hours (emergencies do not
	// wait for office hours).
	HoursTimed  int `json:"hours_timed"`
	HoursUrgent int `json:"hours_urgent"`
	// Attributes are extra questions reports of this category answer.
	Attributes []Attribute `json:"attributes,omitempty"`
}

// Default deadlines for categories that do not set their own.
const (
	DefaultHoursTimed  = 40 // five working days
	DefaultHoursUrgent = 4
)

// Validate checks the fields that do not need the database.
func (c *Category) Validate() error {
	var v Validation
	c.Code = strings.TrimSpace(c.Code)
	c.Name = strings.TrimSpace(c.Name)
	v.Check(ValidCode(c.Code), "code", "must be 1–64 letters, digits, '_', '.' or '-'")
	v.Check(c.Sector != "", "sector", "is required")
	v.Check(c.Name != "", "name", "is required")
	v.Check(len(c.Name) <= 300, "name", "is longer than 300 characters")
	validateNames(&v, "names", c.Names)
	if c.HoursTimed == 0 {
		c.HoursTimed = DefaultHoursTimed
	}
	if c.HoursUrgent == 0 {
		c.HoursUrgent = DefaultHoursUrgent
	}
	v.Check(c.HoursTimed > 0 && c.HoursTimed <= 2000, "hours_timed", "must be 1 to 2000 working hours")
	v.Check(c.HoursUrgent > 0 && c.HoursUrgent <= 720, "hours_urgent", "must be 1 to 720 hours")
	validateAttributes(&v, c.Attributes)
	return v.Err()
}

// CategoryFilter selects categories. Zero fields do not filter.
type CategoryFilter struct {
	Sector *string
	Active *bool
}

// CategoryUpdate holds the fields to change; nil fields stay as they are.
type CategoryUpdate struct {
	Sector      *string
	Name        *string
	Names       *Names
	Urgent      *bool
	Active      *bool
	HoursTimed  *int
	HoursUrgent *int
	Attributes  *[]Attribute
}

// CategoryService manages report categories.
type CategoryService interface {
	// FindCategoryByCode returns ENOTFOUND.
	FindCategoryByCode(ctx context.Context, code string) (*Category, error)
	// FindCategories returns the matching categories by sector and name.
	FindCategories(ctx context.Context, f CategoryFilter) ([]*Category, error)
	// CreateCategory returns EINVALID (also for an unknown sector),
	// ECONFLICT, EFORBIDDEN.
	CreateCategory(ctx context.Context, c *Category) error
	// UpdateCategory returns ENOTFOUND, EINVALID, EFORBIDDEN.
	UpdateCategory(ctx context.Context, code string, upd CategoryUpdate) (*Category, error)
}
