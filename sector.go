package cityops

import (
	"context"
	"strings"
)

// The five sectors the Huế programme starts with. Cities add others as data.
const (
	SectorHealth      = "health"
	SectorEducation   = "education"
	SectorTourism     = "tourism"
	SectorTransport   = "transport"
	SectorEnvironment = "environment"
)

// Sector is a field of city life that agencies are responsible for and that
// reports, sensors and indicators belong to.
type Sector struct {
	ID    int64  `json:"id"`
	Code  string `json:"code"`
	Name  string `json:"name"`
	Names Names  `json:"names,omitempty"`
	// Position orders sectors in menus and dashboards.
	Position int `json:"position"`
}

// Validate checks a sector's fields.
func (s *Sector) Validate() error {
	var v Validation
	s.Code = strings.TrimSpace(s.Code)
	s.Name = strings.TrimSpace(s.Name)
	v.Check(ValidCode(s.Code), "code", "must be 1–64 letters, digits, '_', '.' or '-'")
	v.Check(s.Name != "", "name", "is required")
	v.Check(len(s.Name) <= 300, "name", "is longer than 300 characters")
	validateNames(&v, "names", s.Names)
	return v.Err()
}

// SectorUpdate holds the fields to change; nil fields stay as they are.
type SectorUpdate struct {
	Name     *string
	Names    *Names
	Position *int
}

// SectorService manages sectors.
type SectorService interface {
	// FindSectorByCode returns ENOTFOUND.
	FindSectorByCode(ctx context.Context, code string) (*Sector, error)
	// FindSectors returns every sector in display order.
	FindSectors(ctx context.Context) ([]*Sector, error)
	// CreateSector returns EINVALID, ECONFLICT, EFORBIDDEN.
	CreateSector(ctx context.Context, s *Sector) error
	// UpdateSector returns ENOTFOUND, EINVALID, EFORBIDDEN.
	UpdateSector(ctx context.Context, code string, upd SectorUpdate) (*Sector, error)
	// DeleteSector returns ENOTFOUND, ECONFLICT when in use, EFORBIDDEN.
	DeleteSector(ctx context.Context, code string) error
}
