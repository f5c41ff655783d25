package cityops

import (
	"context"
	"net/mail"
	"strings"
	"time"
)

// Agency kinds, after the handling units of Huế's field-report service.
const (
	AgencyOperations = "operations"  // the operations centre (IOC)
	AgencyDepartment = "department"  // a city department (Sở)
	AgencyLocal      = "local"       // a ward/commune People's Committee
	AgencyPublicUnit = "public_unit" // a public service unit
	AgencyEnterprise = "enterprise"  // a utility or public-works company
	AgencyCommittee  = "committee"   // a standing committee (disaster command)
)

// AgencyKinds lists the valid kinds.
var AgencyKinds = []string{AgencyOperations, AgencyDepartment, AgencyLocal, AgencyPublicUnit, AgencyEnterprise, AgencyCommittee}

// Agency is a unit that handles reports and alarms: a department, a ward's
// People's Committee, a utility. Its sectors and areas say what it is
// responsible for and where; routing rules build on them.
type Agency struct {
	ID    int64  `json:"id"`
	Code  string `json:"code"`
	Name  string `json:"name"`
	Names Names  `json:"names,omitempty"`
	Kind  string `json:"kind"`
	// Sectors and Areas are codes. An agency with no areas is city-wide.
	Sectors   []string  `json:"sectors"`
	Areas     []string  `json:"areas"`
	Email     string    `json:"email,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the fields that do not need the database.
func (a *Agency) Validate() error {
	var v Validation
	a.Code = strings.TrimSpace(a.Code)
	a.Name = strings.TrimSpace(a.Name)
	a.Email = strings.TrimSpace(a.Email)
	v.Check(ValidCode(a.Code), "code", "must be 1–64 letters, digits, '_', '.' or '-'")
	v.Check(a.Name != "", "name", "is required")
	v.Check(len(a.Name) <= 300, "name", "is longer than 300 characters")
	validateNames(&v, "names", a.Names)
	v.Check(oneOf(a.Kind, AgencyKinds), "kind", "must be one of %s", strings.Join(AgencyKinds, ", "))
	if a.Email != "" {
		_, err := mail.ParseAddress(a.Email)
		v.Check(err == nil, "email", "is not an e-mail address")
	}
	v.Check(len(a.Phone) <= 40, "phone", "is longer than 40 characters")
	return v.Err()
}

// AgencyFilter selects agencies. Zero fields do not filter.
type AgencyFilter struct {
	Code   *string
	Kind   *string
	Sector *string // responsible for this sector
	Area   *string // responsible in this area (or city-wide)
	Active *bool
	Offset int
	Limit  int
}

// AgencyUpdate holds the fields to change; nil fields stay as they are.
type AgencyUpdate struct {
	Name    *string
	Names   *Names
	Kind    *string
	Sectors *[]string
	Areas   *[]string
	Email   *string
	Phone   *string
	Active  *bool
}

// AgencyService manages agencies.
type AgencyService interface {
	// FindAgencyByCode returns ENOTFOUND.
	FindAgencyByCode(ctx context.Context, code string) (*Agency, error)
	// FindAgencies returns the matching agencies and the total count.
	FindAgencies(ctx context.Context, f AgencyFilter) ([]*Agency, int, error)
	// CreateAgency returns EINVALID (also for unknown sector or area
	// codes), ECONFLICT, EFORBIDDEN.
	CreateAgency(ctx context.Context, a *Agency) error
	// UpdateAgency returns ENOTFOUND, EINVALID, EFORBIDDEN.
	UpdateAgency(ctx context.Context, code string, upd AgencyUpdate) (*Agency, error)
	// DeleteAgency returns ENOTFOUND, ECONFLICT when in use, EFORBIDDEN.
	DeleteAgency(ctx context.Context, code string) error
}
