package http

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/cityops/cityops"
)

// list is the JSON shape of a paged list.
type list[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"`
}

func created(w http.ResponseWriter, location string, v any) {
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) handleAreaIndex(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	f := cityops.AreaFilter{
		ParentCode:   queryStr(r, "parent"),
		Kind:         queryStr(r, "kind"),
		ValidAt:      queryTime(r, &v, "valid_at"),
		WithBoundary: r.URL.Query().Get("boundary") == "true",
		Offset:       queryInt(r, &v, "offset", 0, 0, 1<<30),
		Limit:        queryInt(r, &v, "limit", 500, 1, 5000),
	}
	if r.URL.Query().Has("parent") && f.ParentCode == nil {
		root := ""
		f.ParentCode = &root // ?parent= lists the roots
	}
	if err := v.Err(); err != nil {
		return err
	}
	areas, total, err := s.Areas.FindAreas(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Area]{Items: areas, Total: total, Offset: f.Offset, Limit: f.Limit})
	return nil
}

// handleAreaGeoJSON serves the areas in force (or at ?at=) as a GeoJSON
// FeatureCollection for maps; the offline basemap is drawn from it.
func (s *Server) handleAreaGeoJSON(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	at := queryTime(r, &v, "at")
	if err := v.Err(); err != nil {
		return err
	}
	if at == nil {
		now := time.Now()
		at = &now
	}
	areas, _, err := s.Areas.FindAreas(r.Context(), cityops.AreaFilter{ValidAt: at, WithBoundary: true, Kind: queryStr(r, "kind")})
	if err != nil {
		return err
	}
	lang := langFrom(r.Context())
	type feature struct {
		Type       string          `json:"type"`
		ID         string          `json:"id"`
		Properties map[string]any  `json:"properties"`
		Geometry   json.RawMessage `json:"geometry"`
	}
	fc := struct {
		Type     string    `json:"type"`
		Features []feature `json:"features"`
	}{Type: "FeatureCollection", Features: []feature{}}
	for _, a := range areas {
		if len(a.Boundary) == 0 {
			continue
		}
		fc.Features = append(fc.Features, feature{Type: "Feature", ID: a.Code, Geometry: a.Boundary,
			Properties: map[string]any{"code": a.Code, "name": a.Names.In(lang, a.Name), "kind": a.Kind,
				"kind_label": s.Catalog.T(lang, "area.kind."+a.Kind), "depth": a.Depth, "parent": a.ParentCode,
				"approximate": a.Approximate, "url": "/staff/areas/" + url.PathEscape(a.Code)}})
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Header().Set("Cache-Control", "no-cache")
	return json.NewEncoder(w).Encode(fc)
}

func (s *Server) handleAreaView(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Areas.FindAreaByCode(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleAreaCreate(w http.ResponseWriter, r *http.Request) error {
	var a cityops.Area
	if err := decodeJSON(r, &a); err != nil {
		return err
	}
	if err := s.Areas.CreateArea(r.Context(), &a); err != nil {
		return err
	}
	created(w, "/api/v1/areas/"+url.PathEscape(a.Code), &a)
	return nil
}

func (s *Server) handleAreaUpdate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name        *string         `json:"name"`
		Names       *cityops.Names  `json:"names"`
		Kind        *string         `json:"kind"`
		Parent      *string         `json:"parent"`
		ValidFrom   optTime         `json:"valid_from"`
		ValidTo     optTime         `json:"valid_to"`
		Boundary    json.RawMessage `json:"boundary"`
		Approximate *bool           `json:"approximate"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	upd := cityops.AreaUpdate{Name: req.Name, Names: req.Names, Kind: req.Kind, ParentCode: req.Parent,
		ValidFrom: req.ValidFrom.ptr(), ValidTo: req.ValidTo.ptr(), Approximate: req.Approximate}
	if req.Boundary != nil {
		upd.Boundary = &req.Boundary
	}
	a, err := s.Areas.UpdateArea(r.Context(), r.PathValue("code"), upd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleAreaDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Areas.DeleteArea(r.Context(), r.PathValue("code")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleLocate answers which area a point lies in: ?lat=&lon=[&at=].
func (s *Server) handleLocate(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	lat, lon := queryFloat(r, &v, "lat"), queryFloat(r, &v, "lon")
	at := queryTime(r, &v, "at")
	if err := v.Err(); err != nil {
		return err
	}
	var t time.Time
	if at != nil {
		t = *at
	}
	a, err := s.Areas.LocateArea(r.Context(), lat, lon, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleSectorIndex(w http.ResponseWriter, r *http.Request) error {
	sectors, err := s.Sectors.FindSectors(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Sector]{Items: sectors, Total: len(sectors)})
	return nil
}

func (s *Server) handleSectorView(w http.ResponseWriter, r *http.Request) error {
	sec, err := s.Sectors.FindSectorByCode(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sec)
	return nil
}

func (s *Server) handleSectorCreate(w http.ResponseWriter, r *http.Request) error {
	var sec cityops.Sector
	if err := decodeJSON(r, &sec); err != nil {
		return err
	}
	if err := s.Sectors.CreateSector(r.Context(), &sec); err != nil {
		return err
	}
	created(w, "/api/v1/sectors/"+url.PathEscape(sec.Code), &sec)
	return nil
}

func (s *Server) handleSectorUpdate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name     *string        `json:"name"`
		Names    *cityops.Names `json:"names"`
		Position *int           `json:"position"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	sec, err := s.Sectors.UpdateSector(r.Context(), r.PathValue("code"), cityops.SectorUpdate{Name: req.Name, Names: req.Names, Position: req.Position})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sec)
	return nil
}

func (s *Server) handleSectorDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Sectors.DeleteSector(r.Context(), r.PathValue("code")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleCategoryIndex(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	f := cityops.CategoryFilter{Sector: queryStr(r, "sector"), Active: queryBool(r, &v, "active")}
	if err := v.Err(); err != nil {
		return err
	}
	cats, err := s.Categories.FindCategories(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Category]{Items: cats, Total: len(cats)})
	return nil
}

func (s *Server) handleCategoryView(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Categories.FindCategoryByCode(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) handleCategoryCreate(w http.ResponseWriter, r *http.Request) error {
	c := cityops.Category{Active: true}
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	if err := s.Categories.CreateCategory(r.Context(), &c); err != nil {
		return err
	}
	created(w, "/api/v1/categories/"+url.PathEscape(c.Code), &c)
	return nil
}

func (s *Server) handleCategoryUpdate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Sector      *string              `json:"sector"`
		Name        *string              `json:"name"`
		Names       *cityops.Names       `json:"names"`
		Urgent      *bool                `json:"urgent"`
		Active      *bool                `json:"active"`
		HoursTimed  *int                 `json:"hours_timed"`
		HoursUrgent *int                 `json:"hours_urgent"`
		Attributes  *[]cityops.Attribute `json:"attributes"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	c, err := s.Categories.UpdateCategory(r.Context(), r.PathValue("code"),
		cityops.CategoryUpdate{Sector: req.Sector, Name: req.Name, Names: req.Names, Urgent: req.Urgent, Active: req.Active,
			HoursTimed: req.HoursTimed, HoursUrgent: req.HoursUrgent, Attributes: req.Attributes})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) handleAgencyIndex(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	f := cityops.AgencyFilter{
		Kind:   queryStr(r, "kind"),
		Sector: queryStr(r, "sector"),
		Area:   queryStr(r, "area"),
		Active: queryBool(r, &v, "active"),
		Offset: queryInt(r, &v, "offset", 0, 0, 1<<30),
		Limit:  queryInt(r, &v, "limit", 500, 1, 5000),
	}
	if err := v.Err(); err != nil {
		return err
	}
	agencies, total, err := s.Agencies.FindAgencies(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Agency]{Items: agencies, Total: total, Offset: f.Offset, Limit: f.Limit})
	return nil
}

func (s *Server) handleAgencyView(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Agencies.FindAgencyByCode(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleAgencyCreate(w http.ResponseWriter, r *http.Request) error {
	a := cityops.Agency{Active: true}
	if err := decodeJSON(r, &a); err != nil {
		return err
	}
	if err := s.Agencies.CreateAgency(r.Context(), &a); err != nil {
		return err
	}
	created(w, "/api/v1/agencies/"+url.PathEscape(a.Code), &a)
	return nil
}

func (s *Server) handleAgencyUpdate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name    *string        `json:"name"`
		Names   *cityops.Names `json:"names"`
		Kind    *string        `json:"kind"`
		Sectors *[]string      `json:"sectors"`
		Areas   *[]string      `json:"areas"`
		Email   *string        `json:"email"`
		Phone   *string        `json:"phone"`
		Active  *bool          `json:"active"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	a, err := s.Agencies.UpdateAgency(r.Context(), r.PathValue("code"), cityops.AgencyUpdate{Name: req.Name, Names: req.Names,
		Kind: req.Kind, Sectors: req.Sectors, Areas: req.Areas, Email: req.Email, Phone: req.Phone, Active: req.Active})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleAgencyDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Agencies.DeleteAgency(r.Context(), r.PathValue("code")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
