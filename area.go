package cityops

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// Area kinds. Vietnam's two-level local government since 1 July 2025 has the
// city (thành phố trực thuộc trung ương) over wards (phường) and communes
// (xã); districts (quận/huyện) were abolished but old reports still refer to
// them, so they stay as superseded areas with validity dates.
const (
	AreaCity     = "city"
	AreaDistrict = "district"
	AreaWard     = "ward"
	AreaCommune  = "commune"
	AreaZone     = "zone" // any other unit: a special zone, a residential group
)

// AreaKinds lists the valid kinds.
var AreaKinds = []string{AreaCity, AreaDistrict, AreaWard, AreaCommune, AreaZone}

// Area is an administrative area in a tree of any depth. Areas are never
// deleted once referenced: a superseded unit gets ValidTo instead, so that a
// report filed under it still resolves to it.
type Area struct {
	ID         int64  `json:"id"`
	Code       string `json:"code"`
	Name       string `json:"name"`
	Names      Names  `json:"names,omitempty"`
	Kind       string `json:"kind"`
	ParentCode string `json:"parent,omitempty"`
	ParentID   int64  `json:"-"`
	// Depth is the level in the tree: 0 for a root.
	Depth     int        `json:"depth"`
	ValidFrom *time.Time `json:"valid_from,omitempty"`
	ValidTo   *time.Time `json:"valid_to,omitempty"`
	// Boundary is a GeoJSON Polygon or MultiPolygon geometry.
	Boundary json.RawMessage `json:"boundary,omitempty"`
	// Approximate marks a boundary that is not official (the demo's cells).
	Approximate bool      `json:"approximate"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ValidAt reports whether the area is in force at t.
func (a *Area) ValidAt(t time.Time) bool {
	if a.ValidFrom != nil && t.Before(*a.ValidFrom) {
		return false
	}
	if a.ValidTo != nil && !t.Before(*a.ValidTo) {
		return false
	}
	return true
}

var codeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidCode reports whether s is usable as a code: 1–64 letters, digits,
// '_', '.', '-', starting with a letter or digit. Codes appear in URLs.
func ValidCode(s string) bool { return codeRE.MatchString(s) }

func validateNames(v *Validation, field string, n Names) {
	for lang, s := range n {
		if !langRE.MatchString(lang) {
			v.Add(field, "%q is not a language tag such as \"en\"", lang)
		}
		if len(s) > 300 {
			v.Add(field, "the %s name is longer than 300 characters", lang)
		}
	}
}

var langRE = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// Validate checks the fields that do not need the database; the boundary's
// geometry is checked by the storage layer, which parses it.
func (a *Area) Validate() error {
	var v Validation
	a.Code = strings.TrimSpace(a.Code)
	a.Name = strings.TrimSpace(a.Name)
	v.Check(ValidCode(a.Code), "code", "must be 1–64 letters, digits, '_', '.' or '-'")
	v.Check(a.Name != "", "name", "is required")
	v.Check(len(a.Name) <= 300, "name", "is longer than 300 characters")
	validateNames(&v, "names", a.Names)
	v.Check(oneOf(a.Kind, AreaKinds), "kind", "must be one of %s", strings.Join(AreaKinds, ", "))
	if a.ValidFrom != nil && a.ValidTo != nil && !a.ValidTo.After(*a.ValidFrom) {
		v.Add("valid_to", "must be after valid_from")
	}
	if a.ParentCode != "" && a.ParentCode == a.Code {
		v.Add("parent", "an area cannot be its own parent")
	}
	return v.Err()
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// AreaFilter selects areas. Zero fields do not filter.
type AreaFilter struct {
	ID         *int64
	Code       *string
	ParentCode *string
	Kind       *string
	// ValidAt keeps only areas in force at that time.
	ValidAt *time.Time
	// WithBoundary loads the boundaries too (they can be large).
	WithBoundary bool
	Offset       int
	Limit        int
}

// AreaUpdate holds the fields to change; nil fields stay as they are.
type AreaUpdate struct {
	Name        *string
	Names       *Names
	Kind        *string
	ParentCode  *string
	ValidFrom   **time.Time
	ValidTo     **time.Time
	Boundary    *json.RawMessage
	Approximate *bool
}

// AreaService manages administrative areas and locates points in them.
type AreaService interface {
	// FindAreaByCode returns ENOTFOUND when there is no such area.
	FindAreaByCode(ctx context.Context, code string) (*Area, error)
	// FindAreas returns the matching areas and the total count before paging.
	FindAreas(ctx context.Context, f AreaFilter) ([]*Area, int, error)
	// CreateArea returns EINVALID for bad fields or geometry, ECONFLICT for
	// a code in use, EFORBIDDEN without org:write.
	CreateArea(ctx context.Context, a *Area) error
	// UpdateArea returns ENOTFOUND, EINVALID, EFORBIDDEN.
	UpdateArea(ctx context.Context, code string, upd AreaUpdate) (*Area, error)
	// DeleteArea returns ENOTFOUND, ECONFLICT when the area is referenced,
	// EFORBIDDEN.
	DeleteArea(ctx context.Context, code string) error
	// ImportAreas creates the areas whose codes are new and updates those
	// that exist (name, kind, parent, validity, boundary), all in one
	// transaction: a bad feature leaves the database as it was. Parents may
	// be in the same import. EINVALID names the area at fault.
	ImportAreas(ctx context.Context, areas []*Area) (created, updated int, err error)
	// LocateArea returns the innermost area in force at t that contains the
	// point, or ENOTFOUND when the point is outside every area.
	LocateArea(ctx context.Context, lat, lon float64, t time.Time) (*Area, error)
	// InArea reports whether a point lies in the area with that code or
	// in one below it, among the areas in force now.
	InArea(ctx context.Context, lat, lon float64, code string) (bool, error)
}
