package http

import (
	"net/http"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// Retention policies: how long each entity type's history is kept.
// Types are given as NGSI-LD names, expanded with the core context (or a
// full IRI); "" is the tenant's default. The tenant is the NGSILD-Tenant
// header, as for the NGSI-LD API.

func (s *Server) handleRetentionIndex(w http.ResponseWriter, r *http.Request) error {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return plainErr(err)
	}
	items, err := s.Retention.RetentionPolicies(r.Context(), tenant)
	if err != nil {
		return err
	}
	for _, p := range items {
		p.EntityType = jsonld.Core().CompactIRI(p.EntityType)
	}
	writeJSON(w, http.StatusOK, list[*cityops.RetentionPolicy]{Items: items, Total: len(items)})
	return nil
}

// handleRetentionSet is PUT /api/v1/retention: create or replace the
// policy of the body's entity_type.
func (s *Server) handleRetentionSet(w http.ResponseWriter, r *http.Request) error {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return plainErr(err)
	}
	var p cityops.RetentionPolicy
	if err := decodeJSON(r, &p); err != nil {
		return err
	}
	short := p.EntityType
	if p.EntityType != "" {
		p.EntityType = jsonld.Core().ExpandTerm(p.EntityType)
	}
	p.Tenant = tenant
	if err := s.Retention.SetRetention(r.Context(), &p); err != nil {
		return err
	}
	p.EntityType = short
	writeJSON(w, http.StatusOK, &p)
	return nil
}

// handleRetentionDelete is DELETE /api/v1/retention?entity_type=T.
func (s *Server) handleRetentionDelete(w http.ResponseWriter, r *http.Request) error {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return plainErr(err)
	}
	t := r.URL.Query().Get("entity_type")
	if t != "" {
		t = jsonld.Core().ExpandTerm(t)
	}
	if err := s.Retention.DeleteRetention(r.Context(), tenant, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
