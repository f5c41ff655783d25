package http

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// The temporal API (GS CIM 009 clause 6.18–6.19): an entity's attribute
// instances over time, from the history storage keeps of every write.

// maxInstances bounds the instances returned per attribute.
const maxInstances = 1000

// timeWindow reads timerel, timeAt, endTimeAt and lastN.
func timeWindow(r *http.Request) (from, to time.Time, limit int, lastN bool, err error) {
	qv := r.URL.Query()
	from, to = time.Unix(0, 0).UTC(), time.Now().Add(100*365*24*time.Hour)
	parse := func(name string) (time.Time, error) {
		s := qv.Get(name)
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			return time.Time{}, ngsiErr(errBadRequestData, "%s %q is not a date-time such as 2026-01-01T00:00:00Z", name, s)
		}
		return t, nil
	}
	switch rel := qv.Get("timerel"); rel {
	case "":
		if qv.Get("timeAt") != "" {
			return from, to, 0, false, ngsiErr(errBadRequestData, "timeAt needs timerel")
		}
	case "before":
		if to, err = parse("timeAt"); err != nil {
			return
		}
	case "after":
		if from, err = parse("timeAt"); err != nil {
			return
		}
	case "between":
		if from, err = parse("timeAt"); err != nil {
			return
		}
		if to, err = parse("endTimeAt"); err != nil {
			return
		}
		if !to.After(from) {
			return from, to, 0, false, ngsiErr(errBadRequestData, "endTimeAt must be after timeAt")
		}
	default:
		return from, to, 0, false, ngsiErr(errBadRequestData, "timerel %q: use before, after or between", rel)
	}
	limit = maxInstances
	if s := qv.Get("lastN"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > maxInstances {
			return from, to, 0, false, ngsiErr(errBadRequestData, "lastN must be 1 to %d", maxInstances)
		}
		limit, lastN = n, true
	}
	return from, to, limit, lastN, nil
}

// temporalEntity renders an entity's history: each attribute as an array
// of instances (or, with temporalValues, as [value, observedAt] pairs).
func (s *Server) temporalEntity(r *http.Request, e *cityops.Entity, c *jsonld.Context, attrs []string, from, to time.Time, limit int, lastN, values bool) (map[string]any, error) {
	out := map[string]any{"id": e.ID, "type": c.CompactIRI(e.Type)}
	names := attrs
	if len(names) == 0 {
		for n := range e.Attrs {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, name := range names {
		if _, ok := e.Attrs[name]; !ok {
			continue
		}
		hist, err := s.Entities.History(r.Context(), e.Tenant, e.ID, name, from, to, limit, lastN)
		if err != nil {
			return nil, err
		}
		if len(hist) == 0 {
			continue
		}
		key := c.CompactIRI(name)
		if values {
			pairs := make([][]any, 0, len(hist))
			kind := "Property"
			for _, in := range hist {
				v := in.Value["value"]
				if o, ok := in.Value["object"]; ok {
					v, kind = o, "Relationship"
				}
				pairs = append(pairs, []any{v, in.ObservedAt.Format(time.RFC3339Nano)})
			}
			out[key] = map[string]any{"type": kind, "values": pairs}
			continue
		}
		list := make([]any, 0, len(hist))
		for _, in := range hist {
			a := compactAttr(in.Value, c, false).(map[string]any)
			if _, ok := a["observedAt"]; !ok {
				a["observedAt"] = in.ObservedAt.Format(time.RFC3339Nano)
			}
			if in.ID != "" {
				a["instanceId"] = in.ID
			}
			list = append(list, a)
		}
		out[key] = list
	}
	return out, nil
}

func temporalOptions(r *http.Request) bool {
	for _, o := range strings.Split(r.URL.Query().Get("options"), ",") {
		if strings.TrimSpace(o) == "temporalValues" {
			return true
		}
	}
	return r.URL.Query().Get("format") == "temporalValues"
}

func (s *Server) handleTemporalRetrieve(w http.ResponseWriter, r *http.Request) error {
	tenant, c, u, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	from, to, limit, lastN, err := timeWindow(r)
	if err != nil {
		return err
	}
	e, err := s.Entities.FindEntity(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	attrs := expandList(c, r.URL.Query().Get("attrs"))
	if r.URL.Query().Get("aggrMethods") != "" {
		return s.handleTemporalAggregate(w, r, e, attrs, from, to, u)
	}
	out, err := s.temporalEntity(r, e, c, attrs, from, to, limit, lastN, temporalOptions(r))
	if err != nil {
		return err
	}
	writeNGSI(w, r, http.StatusOK, out, u)
	return nil
}

// handleTemporalQuery is GET /temporal/entities: entities by type, id,
// idPattern or q (on their current state), each with its attributes'
// history in the time window.
func (s *Server) handleTemporalQuery(w http.ResponseWriter, r *http.Request) error {
	tenant, c, u, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	if qv.Get("timerel") == "" {
		return ngsiErr(errBadRequestData, "a temporal query needs timerel and timeAt")
	}
	from, to, limit, lastN, err := timeWindow(r)
	if err != nil {
		return err
	}
	f, err := selection(r, c, tenant)
	if err != nil {
		return err
	}
	if len(f.Types) == 0 && len(f.IDs) == 0 && f.IDPattern == nil && f.Q == nil {
		return ngsiErr(errBadRequestData, "give type, id, idPattern or q")
	}
	var v cityops.Validation
	f.Limit = queryInt(r, &v, "limit", 20, 1, 100)
	f.Offset = queryInt(r, &v, "offset", 0, 0, 1<<30)
	f.Count = qv.Get("count") == "true"
	if err := v.Err(); err != nil {
		return ngsiErr(errBadRequestData, "%s", strings.TrimPrefix(err.Error(), "invalid: "))
	}
	list, total, err := s.Entities.FindEntities(r.Context(), f)
	if err != nil {
		return err
	}
	attrs := expandList(c, qv.Get("attrs"))
	out := []map[string]any{}
	for _, e := range list {
		e.Tenant = tenant
		te, err := s.temporalEntity(r, e, c, attrs, from, to, limit, lastN, temporalOptions(r))
		if err != nil {
			return err
		}
		out = append(out, te)
	}
	if qv.Get("count") == "true" {
		w.Header().Set("NGSILD-Results-Count", strconv.Itoa(total))
	}
	writeNGSI(w, r, http.StatusOK, out, u)
	return nil
}

// handleTemporalCreate is POST /temporal/entities: an entity in temporal
// representation (each attribute an array of instances) is added to the
// entity's history, creating it (201) or adding to it (204).
func (s *Server) handleTemporalCreate(w http.ResponseWriter, r *http.Request) error {
	obj, c, tenant, err := s.objectBody(r)
	if err != nil {
		return err
	}
	e, err := entityFromJSON(obj, c, tenant)
	if err != nil {
		return err
	}
	_, err = s.Entities.FindEntity(r.Context(), tenant, e.ID)
	created := cityops.ErrorCode(err) == cityops.ENOTFOUND
	if err != nil && !created {
		return err
	}
	errs, err := s.Entities.IngestEntities(r.Context(), tenant, []*cityops.Entity{e})
	if err != nil {
		return err
	}
	if err := errs[e.ID]; err != nil {
		return err
	}
	if created {
		w.Header().Set("Location", ngsiPrefix+"temporal/entities/"+url.PathEscape(e.ID))
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleTemporalAppend is POST /temporal/entities/{id}/attrs: instances
// added to an existing entity's history.
func (s *Server) handleTemporalAppend(w http.ResponseWriter, r *http.Request) error {
	attrs, _, err := s.attrsFromBody(r)
	if err != nil {
		return err
	}
	tenant, _ := ngsiTenant(r)
	cur, err := s.Entities.FindEntity(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if len(attrs) == 0 {
		return ngsiErr(errBadRequestData, "the body has no attribute")
	}
	e := &cityops.Entity{ID: cur.ID, Type: cur.Type, Tenant: tenant, Attrs: attrs}
	errs, err := s.Entities.IngestEntities(r.Context(), tenant, []*cityops.Entity{e})
	if err != nil {
		return err
	}
	if err := errs[e.ID]; err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleTemporalDeleteAttr is DELETE /temporal/entities/{id}/attrs/{attr}:
// the attribute's history (one datasetId, or all with deleteAll=true)
// and, with it, the attribute.
func (s *Server) handleTemporalDeleteAttr(w http.ResponseWriter, r *http.Request) error {
	tenant, c, _, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	attr := c.ExpandTerm(r.PathValue("attr"))
	all := qv.Get("deleteAll") == "true"
	if err := s.Entities.DeleteHistory(r.Context(), tenant, r.PathValue("id"), attr, qv.Get("datasetId"), all); err != nil {
		return err
	}
	err = s.Entities.DeleteAttr(r.Context(), tenant, r.PathValue("id"), attr, qv.Get("datasetId"), all)
	if err != nil && cityops.ErrorCode(err) != cityops.ENOTFOUND {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleTemporalPatchInstance is PATCH
// /temporal/entities/{id}/attrs/{attr}/{instanceId}: the instance is
// replaced by the body's (observedAt kept unless the body gives one).
func (s *Server) handleTemporalPatchInstance(w http.ResponseWriter, r *http.Request) error {
	attrs, c, err := s.attrsFromBody(r)
	if err != nil {
		return err
	}
	tenant, _ := ngsiTenant(r)
	attr := c.ExpandTerm(r.PathValue("attr"))
	list, ok := attrs[attr]
	if !ok || len(attrs) != 1 || len(list) != 1 {
		return ngsiErr(errBadRequestData, "send the one attribute %s with one instance", r.PathValue("attr"))
	}
	if err := s.Entities.ReplaceInstance(r.Context(), tenant, r.PathValue("id"), attr, r.PathValue("instance"), list[0]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleTemporalDeleteInstance is DELETE
// /temporal/entities/{id}/attrs/{attr}/{instanceId}.
func (s *Server) handleTemporalDeleteInstance(w http.ResponseWriter, r *http.Request) error {
	tenant, c, _, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	if err := s.Entities.ReplaceInstance(r.Context(), tenant, r.PathValue("id"), c.ExpandTerm(r.PathValue("attr")), r.PathValue("instance"), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
