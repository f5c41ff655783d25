package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/geoq"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/ngsild/q"
	"github.com/cityops/cityops/ngsild/repr"
)

// The NGSI-LD API (ETSI GS CIM 009) at /ngsi-ld/v1: entities, batch
// operations, types and attributes. Names are expanded with the request's
// JSON-LD context (the @context of an application/ld+json body, or the
// Link header) and compacted back with it; errors are ProblemDetails with
// the NGSI-LD error types.

const ngsiPrefix = "/ngsi-ld/v1/"

// ngsiError is an NGSI-LD error type with its HTTP status.
type ngsiError struct {
	Type   string
	Status int
}

var (
	errBadRequestData     = ngsiError{"BadRequestData", http.StatusBadRequest}
	errInvalidRequest     = ngsiError{"InvalidRequest", http.StatusBadRequest}
	errResourceNotFound   = ngsiError{"ResourceNotFound", http.StatusNotFound}
	errAlreadyExists      = ngsiError{"AlreadyExists", http.StatusConflict}
	errLdContextNotAvail  = ngsiError{"LdContextNotAvailable", http.StatusServiceUnavailable}
	errInternal           = ngsiError{"InternalError", http.StatusInternalServerError}
	errTooLarge           = ngsiError{"RequestEntityTooLarge", http.StatusRequestEntityTooLarge}
	errUnsupportedMedia   = ngsiError{"InvalidRequest", http.StatusUnsupportedMediaType}
	errOperationForbidden = ngsiError{"Forbidden", http.StatusForbidden}
)

// problem is an RFC 7807 ProblemDetails body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	Status int    `json:"status"`
}

// ngsiProblemErr carries an NGSI-LD error type through the one error path.
type ngsiProblemErr struct {
	kind   ngsiError
	detail string
}

func (e *ngsiProblemErr) Error() string { return e.kind.Type + ": " + e.detail }

func ngsiErr(kind ngsiError, format string, args ...any) error {
	return &ngsiProblemErr{kind, fmt.Sprintf(format, args...)}
}

// problemFor maps any error to the NGSI-LD ProblemDetails the spec names.
func problemFor(err error) problem {
	var pe *ngsiProblemErr
	if e, ok := err.(*ngsiProblemErr); ok {
		pe = e
	}
	if pe == nil {
		kind := errInternal
		switch cityops.ErrorCode(err) {
		case cityops.EINVALID:
			kind = errBadRequestData
		case cityops.ENOTFOUND:
			kind = errResourceNotFound
		case cityops.ECONFLICT:
			kind = errAlreadyExists
		case cityops.ETOOLARGE:
			kind = errTooLarge
		case cityops.EUNAUTHORIZED:
			kind = ngsiError{"Unauthorized", http.StatusUnauthorized}
		case cityops.EFORBIDDEN:
			kind = errOperationForbidden
		case cityops.EUNAVAILABLE:
			kind = ngsiError{"ServiceUnavailable", http.StatusServiceUnavailable}
		case cityops.ETOOMANY:
			kind = ngsiError{"TooManyRequests", http.StatusTooManyRequests}
		}
		if ErrorStatus(err) == http.StatusRequestEntityTooLarge {
			kind = errTooLarge
		}
		detail := cityops.ErrorMessage(err)
		if f := cityops.ErrorFields(err); len(f) > 0 {
			var parts []string
			for k, v := range f {
				parts = append(parts, k+": "+v)
			}
			sort.Strings(parts)
			detail = strings.Join(parts, "; ")
		}
		pe = &ngsiProblemErr{kind, detail}
	}
	return problem{Type: "https://uri.etsi.org/ngsi-ld/errors/" + pe.kind.Type, Title: pe.kind.Type, Detail: pe.detail, Status: pe.kind.Status}
}

// writeNGSIError is called by Server.Error for NGSI-LD paths.
func writeNGSIError(w http.ResponseWriter, err error) {
	p := problemFor(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// ngsiTenant reads the NGSILD-Tenant header ("" is the default tenant).
func ngsiTenant(r *http.Request) (string, error) {
	t := r.Header.Get("NGSILD-Tenant")
	if !cityops.ValidTenant(t) {
		return "", ngsiErr(errBadRequestData, "NGSILD-Tenant %q: use 1–64 letters, digits, '_' or '-'", t)
	}
	return t, nil
}

// requestContext returns the JSON-LD context a request names: the Link
// header (for application/json or a GET), else the core context. A body's
// @context is handled by decodeNGSI.
func (s *Server) requestContext(r *http.Request) (*jsonld.Context, string, error) {
	link := strings.Join(r.Header.Values("Link"), ", ")
	if link == "" {
		return jsonld.Core(), "", nil
	}
	u, ok, err := jsonld.ParseLink(link)
	if err != nil {
		return nil, "", ngsiErr(errBadRequestData, "Link header: %v", err)
	}
	if !ok {
		return jsonld.Core(), "", nil
	}
	c, err := jsonld.Build(u, s.Contexts)
	if err != nil {
		return nil, "", contextErr(err)
	}
	return c, u, nil
}

func contextErr(err error) error {
	if errors.Is(err, jsonld.ErrNotAvailable) {
		return ngsiErr(errLdContextNotAvail, "%v", err)
	}
	return ngsiErr(errInvalidRequest, "@context: %v", err)
}

// decodeNGSI reads a JSON or JSON-LD body into v (an object or an array of
// objects) and returns the context to expand it with.
func (s *Server) decodeNGSI(r *http.Request) (any, *jsonld.Context, string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "application/ld+json" {
		return nil, nil, "", ngsiErr(errUnsupportedMedia, "send application/json or application/ld+json")
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, "", err
	}
	if err := plainJSON(b); err != nil {
		return nil, nil, "", ngsiErr(errBadRequestData, "%s", cityops.ErrorMessage(err))
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, nil, "", ngsiErr(errInvalidRequest, "the body is not valid JSON: %v", err)
	}
	if mt == "application/json" {
		c, u, err := s.requestContext(r)
		return v, c, u, err
	}
	if r.Header.Get("Link") != "" {
		return nil, nil, "", ngsiErr(errBadRequestData, "with application/ld+json the @context goes in the body, not in a Link header")
	}
	// application/ld+json: each object carries its @context.
	first := v
	if list, ok := v.([]any); ok && len(list) > 0 {
		first = list[0]
	}
	obj, _ := first.(map[string]any)
	local, ok := obj["@context"]
	if !ok {
		return nil, nil, "", ngsiErr(errBadRequestData, "an application/ld+json body needs an @context")
	}
	c, err := jsonld.Build(local, s.Contexts)
	if err != nil {
		return nil, nil, "", contextErr(err)
	}
	return v, c, "", nil
}

// objectBody reads a request whose body is one JSON object (an entity or
// a fragment of attributes), with its tenant and JSON-LD context.
func (s *Server) objectBody(r *http.Request) (map[string]any, *jsonld.Context, string, error) {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return nil, nil, "", err
	}
	body, c, _, err := s.decodeNGSI(r)
	if err != nil {
		return nil, nil, "", err
	}
	obj, ok := body.(map[string]any)
	if !ok {
		return nil, nil, "", ngsiErr(errBadRequestData, "send one JSON object")
	}
	return obj, c, tenant, nil
}

// entityFromJSON turns a request's entity object into a stored entity with
// expanded names.
func entityFromJSON(obj map[string]any, c *jsonld.Context, tenant string) (*cityops.Entity, error) {
	e := &cityops.Entity{Tenant: tenant, Attrs: map[string][]cityops.Attr{}}
	id, _ := obj["id"].(string)
	typ, _ := obj["type"].(string)
	if id == "" {
		return nil, ngsiErr(errBadRequestData, "the entity has no id")
	}
	if typ == "" {
		return nil, ngsiErr(errBadRequestData, "entity %s has no type", id)
	}
	e.ID, e.Type = id, c.ExpandTerm(typ)
	for k, v := range obj {
		switch k {
		case "id", "type", "@context", "createdAt", "modifiedAt":
			continue
		case "scope":
			return nil, ngsiErr(errBadRequestData, "scope is not supported")
		}
		list, err := attrInstances(k, v, c)
		if err != nil {
			return nil, err
		}
		name := c.ExpandTerm(k)
		if name == "" {
			return nil, ngsiErr(errBadRequestData, "attribute %s expands to nothing in the @context", k)
		}
		e.Attrs[name] = list
	}
	if e.Type == "" {
		return nil, ngsiErr(errBadRequestData, "type %s expands to nothing in the @context", typ)
	}
	return e, nil
}

// attrInstances reads an attribute (one instance or an array of them, per
// datasetId) and expands the names of its sub-attributes.
func attrInstances(name string, v any, c *jsonld.Context) ([]cityops.Attr, error) {
	var raw []any
	switch x := v.(type) {
	case map[string]any:
		raw = []any{x}
	case []any:
		raw = x
	default:
		return nil, ngsiErr(errBadRequestData, "attribute %s must be an object with a type (Property, Relationship, …)", name)
	}
	out := make([]cityops.Attr, 0, len(raw))
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, ngsiErr(errBadRequestData, "attribute %s must be an object with a type", name)
		}
		out = append(out, expandAttr(m, c))
	}
	return out, nil
}

func expandAttr(m map[string]any, c *jsonld.Context) cityops.Attr {
	plain := true
	for k := range m {
		if !cityops.AttrMembers[k] {
			plain = false
			break
		}
	}
	if plain {
		// Nothing to expand: the decoded map is the attribute.
		return cityops.Attr(m)
	}
	a := cityops.Attr{}
	for k, v := range m {
		if cityops.AttrMembers[k] {
			a[k] = v
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			a[c.ExpandTerm(k)] = map[string]any(expandAttr(sub, c))
			continue
		}
		a[c.ExpandTerm(k)] = v
	}
	return a
}

// compactAttr renders an instance normalized or keyValues.
func compactAttr(a cityops.Attr, c *jsonld.Context, keyValues bool) any {
	if keyValues {
		return repr.Attr(a, c, cityops.FormatKeyValues)
	}
	return repr.Attr(a, c, cityops.FormatNormalized)
}

// entityJSON renders an entity compacted with c.
func entityJSON(e *cityops.Entity, c *jsonld.Context, keyValues, sysAttrs bool) map[string]any {
	out := map[string]any{"id": e.ID, "type": c.CompactIRI(e.Type)}
	if sysAttrs {
		out["createdAt"] = e.CreatedAt.Format("2006-01-02T15:04:05.000000Z")
		out["modifiedAt"] = e.ModifiedAt.Format("2006-01-02T15:04:05.000000Z")
	}
	for name, list := range e.Attrs {
		key := c.CompactIRI(name)
		if len(list) == 1 {
			out[key] = compactAttr(list[0], c, keyValues)
			continue
		}
		var many []any
		for _, a := range list {
			many = append(many, compactAttr(a, c, keyValues))
		}
		out[key] = many
	}
	return out
}

// writeNGSI writes an NGSI-LD response: with the @context in the body for
// application/ld+json, else with a Link header to the context used.
func writeNGSI(w http.ResponseWriter, r *http.Request, status int, v any, ctxURL string) {
	if ctxURL == "" {
		ctxURL = jsonld.CoreURL
	}
	ld := strings.Contains(r.Header.Get("Accept"), "application/ld+json")
	if ld {
		w.Header().Set("Content-Type", "application/ld+json")
		switch x := v.(type) {
		case map[string]any:
			x["@context"] = ctxURL
		case []map[string]any:
			for _, m := range x {
				m["@context"] = ctxURL
			}
		}
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Link", `<`+ctxURL+`>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func options(r *http.Request) (keyValues, sysAttrs, noOverwrite bool) {
	for _, o := range strings.Split(r.URL.Query().Get("options"), ",") {
		switch strings.TrimSpace(o) {
		case "keyValues", "simplified":
			keyValues = true
		case "sysAttrs":
			sysAttrs = true
		case "noOverwrite":
			noOverwrite = true
		}
	}
	if r.URL.Query().Get("format") == "simplified" || r.URL.Query().Get("format") == "keyValues" {
		keyValues = true
	}
	return
}

func (s *Server) handleNGSICreate(w http.ResponseWriter, r *http.Request) error {
	obj, c, tenant, err := s.objectBody(r)
	if err != nil {
		return err
	}
	e, err := entityFromJSON(obj, c, tenant)
	if err != nil {
		return err
	}
	if err := s.Entities.CreateEntity(r.Context(), e); err != nil {
		return err
	}
	w.Header().Set("Location", ngsiPrefix+"entities/"+url.PathEscape(e.ID))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) handleNGSIRetrieve(w http.ResponseWriter, r *http.Request) error {
	tenant, c, u, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	e, err := s.Entities.FindEntity(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if attrs := r.URL.Query().Get("attrs"); attrs != "" {
		keep := map[string][]cityops.Attr{}
		for _, a := range strings.Split(attrs, ",") {
			if v, ok := e.Attrs[c.ExpandTerm(a)]; ok {
				keep[c.ExpandTerm(a)] = v
			}
		}
		e.Attrs = keep
	}
	kv, sys, _ := options(r)
	writeNGSI(w, r, http.StatusOK, entityJSON(e, c, kv, sys), u)
	return nil
}

// handleNGSIQuery is GET /entities: type, id, idPattern, attrs, q,
// limit/offset and count=true.
func (s *Server) handleNGSIQuery(w http.ResponseWriter, r *http.Request) error {
	tenant, c, u, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	f, err := selection(r, c, tenant)
	if err != nil {
		return err
	}
	expr, _ := f.Q.(q.Expr)
	prop := ""
	if p := qv.Get("geoproperty"); p != "" {
		prop = c.ExpandTerm(p)
	}
	gq, err := geoq.Parse(qv.Get("georel"), qv.Get("geometry"), qv.Get("coordinates"), prop)
	if err != nil {
		return ngsiErr(errBadRequestData, "%s", cityops.ErrorMessage(err))
	}
	if gq != nil {
		f.Box = gq.Box()
	}
	if len(f.Types) == 0 && len(f.IDs) == 0 && f.IDPattern == nil && expr == nil && qv.Get("attrs") == "" && gq == nil {
		return ngsiErr(errBadRequestData, "give at least one of type, id, idPattern, q or attrs")
	}
	var v cityops.Validation
	limit := queryInt(r, &v, "limit", 20, 0, 1000)
	offset := queryInt(r, &v, "offset", 0, 0, 1<<30)
	if err := v.Err(); err != nil {
		return ngsiErr(errBadRequestData, "%s", strings.TrimPrefix(err.Error(), "invalid: "))
	}
	attrs := expandList(c, qv.Get("attrs"))
	// Storage applies q (through its value index) and pages; a
	// geo-query is evaluated here on what a bounding box narrowed, and
	// the page cut afterwards.
	var list []*cityops.Entity
	var total int
	if gq == nil {
		f.Offset, f.Limit, f.Count = offset, limit, qv.Get("count") == "true"
		if limit == 0 {
			f.Limit = 1
		}
		if list, total, err = s.Entities.FindEntities(r.Context(), f); err != nil {
			return err
		}
		if limit == 0 {
			list = nil
		}
	} else {
		all, _, err := s.Entities.FindEntities(r.Context(), f)
		if err != nil {
			return err
		}
		for _, e := range all {
			if gq.Match(e) {
				list = append(list, e)
			}
		}
		total = len(list)
		if offset >= len(list) {
			list = nil
		} else {
			list = list[offset:]
		}
		if len(list) > limit {
			list = list[:limit]
		}
	}
	if len(attrs) > 0 {
		for _, e := range list {
			keep := map[string][]cityops.Attr{}
			for _, a := range attrs {
				if v, ok := e.Attrs[a]; ok {
					keep[a] = v
				}
			}
			e.Attrs = keep
		}
	}
	kv, sys, _ := options(r)
	out := []map[string]any{}
	for _, e := range list {
		out = append(out, entityJSON(e, c, kv, sys))
	}
	if qv.Get("count") == "true" {
		w.Header().Set("NGSILD-Results-Count", fmt.Sprint(total))
	}
	writeNGSI(w, r, http.StatusOK, out, u)
	return nil
}

// selection reads the entity selection of a query: type, id, idPattern
// and q (with the request's context to expand its names).
func selection(r *http.Request, c *jsonld.Context, tenant string) (cityops.EntityFilter, error) {
	qv := r.URL.Query()
	f := cityops.EntityFilter{Tenant: tenant, IDs: splitList(qv.Get("id"))}
	for _, t := range splitList(qv.Get("type")) {
		f.Types = append(f.Types, c.ExpandTerm(t))
	}
	if p := qv.Get("idPattern"); p != "" {
		if len(p) > 256 {
			return f, ngsiErr(errBadRequestData, "idPattern is longer than 256 characters")
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return f, ngsiErr(errBadRequestData, "idPattern is not a regular expression: %v", err)
		}
		f.IDPattern = re
	}
	if qs := qv.Get("q"); qs != "" {
		expr, err := q.Parse(qs)
		if err != nil {
			return f, ngsiErr(errBadRequestData, "q: %v", err)
		}
		f.Q, f.Expand = expr, c.ExpandTerm
	}
	return f, nil
}

// ngsiReq reads what every NGSI-LD read starts from: the tenant and the
// JSON-LD context the request names (and its URL, for the answer).
func (s *Server) ngsiReq(r *http.Request) (string, *jsonld.Context, string, error) {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return "", nil, "", err
	}
	c, u, err := s.requestContext(r)
	return tenant, c, u, err
}

// expandList expands a comma-separated list of names.
func expandList(c *jsonld.Context, s string) []string {
	var out []string
	for _, a := range splitList(s) {
		out = append(out, c.ExpandTerm(a))
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) handleNGSIReplace(w http.ResponseWriter, r *http.Request) error {
	obj, c, tenant, err := s.objectBody(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if bid, ok := obj["id"].(string); ok && bid != id {
		return ngsiErr(errBadRequestData, "the id in the body (%s) is not the one in the path (%s)", bid, id)
	}
	obj["id"] = id
	e, err := entityFromJSON(obj, c, tenant)
	if err != nil {
		return err
	}
	if err := s.Entities.ReplaceEntity(r.Context(), e); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleNGSIDelete(w http.ResponseWriter, r *http.Request) error {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return err
	}
	if err := s.Entities.DeleteEntity(r.Context(), tenant, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// attrsFromBody reads a fragment of attributes (POST/PATCH …/attrs).
func (s *Server) attrsFromBody(r *http.Request) (map[string][]cityops.Attr, *jsonld.Context, error) {
	obj, c, _, err := s.objectBody(r)
	if err != nil {
		return nil, nil, err
	}
	attrs := map[string][]cityops.Attr{}
	for k, v := range obj {
		switch k {
		case "@context", "id", "type":
			continue
		}
		list, err := attrInstances(k, v, c)
		if err != nil {
			return nil, nil, err
		}
		name := c.ExpandTerm(k)
		if name == "" {
			return nil, nil, ngsiErr(errBadRequestData, "attribute %s expands to nothing in the @context", k)
		}
		attrs[name] = list
	}
	if len(attrs) == 0 {
		return nil, nil, ngsiErr(errBadRequestData, "no attributes in the body")
	}
	return attrs, c, nil
}

// writeUpdateResult answers 204 when every attribute was written, else 207
// with the spec's UpdateResult.
func writeUpdateResult(w http.ResponseWriter, r *http.Request, attrs map[string][]cityops.Attr, notUpdated []string, c *jsonld.Context, reason string) {
	if len(notUpdated) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	skip := map[string]bool{}
	for _, n := range notUpdated {
		skip[n] = true
	}
	updated := []string{}
	for n := range attrs {
		if !skip[n] {
			updated = append(updated, c.CompactIRI(n))
		}
	}
	sort.Strings(updated)
	var not []map[string]string
	for _, n := range notUpdated {
		not = append(not, map[string]string{"attributeName": c.CompactIRI(n), "reason": reason})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMultiStatus)
	json.NewEncoder(w).Encode(map[string]any{"updated": updated, "notUpdated": not})
}

func (s *Server) handleNGSIAppend(w http.ResponseWriter, r *http.Request) error {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return err
	}
	attrs, c, err := s.attrsFromBody(r)
	if err != nil {
		return err
	}
	_, _, noOverwrite := options(r)
	not, err := s.Entities.AppendAttrs(r.Context(), tenant, r.PathValue("id"), attrs, noOverwrite)
	if err != nil {
		return err
	}
	writeUpdateResult(w, r, attrs, not, c, "attribute exists and options=noOverwrite")
	return nil
}

func (s *Server) handleNGSIUpdate(w http.ResponseWriter, r *http.Request) error {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return err
	}
	attrs, c, err := s.attrsFromBody(r)
	if err != nil {
		return err
	}
	not, err := s.Entities.UpdateAttrs(r.Context(), tenant, r.PathValue("id"), attrs)
	if err != nil {
		return err
	}
	writeUpdateResult(w, r, attrs, not, c, "attribute does not exist")
	return nil
}

func (s *Server) handleNGSIDeleteAttr(w http.ResponseWriter, r *http.Request) error {
	tenant, c, _, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	all := qv.Get("deleteAll") == "true"
	if err := s.Entities.DeleteAttr(r.Context(), tenant, r.PathValue("id"), c.ExpandTerm(r.PathValue("attr")), qv.Get("datasetId"), all || qv.Get("datasetId") == ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleNGSIBatch is POST /entityOperations/{create,upsert,update,delete}.
// Each entity stands or falls alone; the answer says which did which.
func (s *Server) handleNGSIBatch(w http.ResponseWriter, r *http.Request) error {
	op := r.PathValue("op")
	if op != "create" && op != "upsert" && op != "update" && op != "delete" {
		return ngsiErr(errResourceNotFound, "no batch operation %q; use create, upsert, update or delete", op)
	}
	tenant, err := ngsiTenant(r)
	if err != nil {
		return err
	}
	body, c, _, err := s.decodeNGSI(r)
	if err != nil {
		return err
	}
	items, ok := body.([]any)
	if !ok {
		return ngsiErr(errBadRequestData, "send a JSON array")
	}
	if len(items) > 1000 {
		return ngsiErr(errBadRequestData, "at most 1000 entities per batch")
	}
	type batchError struct {
		EntityID string  `json:"entityId"`
		Error    problem `json:"error"`
	}
	var success []string
	var failed []batchError
	fail := func(id string, err error) { failed = append(failed, batchError{id, problemFor(err)}) }
	ctx := r.Context()
	switch op {
	case "delete":
		for _, it := range items {
			id, ok := it.(string)
			if !ok {
				fail(fmt.Sprint(it), ngsiErr(errBadRequestData, "delete takes an array of entity ids"))
				continue
			}
			if err := s.Entities.DeleteEntity(ctx, tenant, id); err != nil {
				fail(id, err)
				continue
			}
			success = append(success, id)
		}
	default:
		var list []*cityops.Entity
		for _, it := range items {
			obj, _ := it.(map[string]any)
			if obj == nil {
				fail("", ngsiErr(errBadRequestData, "each item must be an entity object"))
				continue
			}
			e, err := entityFromJSON(obj, c, tenant)
			if err != nil {
				id, _ := obj["id"].(string)
				fail(id, err)
				continue
			}
			list = append(list, e)
		}
		switch op {
		case "create":
			for _, e := range list {
				if err := s.Entities.CreateEntity(ctx, e); err != nil {
					fail(e.ID, err)
					continue
				}
				success = append(success, e.ID)
			}
		case "upsert":
			replace := r.URL.Query().Get("options") == "replace"
			errs, err := s.Entities.UpsertEntities(ctx, tenant, list, replace)
			if err != nil {
				return err
			}
			for _, e := range list {
				if errs[e.ID] != nil {
					fail(e.ID, errs[e.ID])
				} else {
					success = append(success, e.ID)
				}
			}
		case "update":
			for _, e := range list {
				not, err := s.Entities.UpdateAttrs(ctx, tenant, e.ID, e.Attrs)
				if err != nil {
					fail(e.ID, err)
					continue
				}
				if len(not) > 0 {
					fail(e.ID, ngsiErr(errBadRequestData, "attributes not found: %s", strings.Join(not, ", ")))
					continue
				}
				success = append(success, e.ID)
			}
		}
	}
	if len(failed) == 0 {
		if op == "create" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(success)
			return nil
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if success == nil {
		success = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMultiStatus)
	json.NewEncoder(w).Encode(map[string]any{"success": success, "errors": failed})
	return nil
}

// handleNGSITypes lists the entity types present (GET /types).
func (s *Server) handleNGSITypes(w http.ResponseWriter, r *http.Request) error {
	return s.ngsiCatalogue(w, r, true)
}

// handleNGSIAttributes lists the attribute names present (GET /attributes).
func (s *Server) handleNGSIAttributes(w http.ResponseWriter, r *http.Request) error {
	return s.ngsiCatalogue(w, r, false)
}

func (s *Server) ngsiCatalogue(w http.ResponseWriter, r *http.Request, types bool) error {
	tenant, c, u, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	list, err := s.Entities.EntityCatalogue(r.Context(), tenant, types)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(list))
	for _, n := range list {
		names = append(names, c.CompactIRI(n))
	}
	sort.Strings(names)
	kind, key := "EntityTypeList", "typeList"
	if !types {
		kind, key = "AttributeList", "attributeList"
	}
	writeNGSI(w, r, http.StatusOK, map[string]any{"id": "urn:ngsi-ld:" + kind + ":" + tenantOrDefault(tenant), "type": kind, key: names}, u)
	return nil
}

func tenantOrDefault(t string) string {
	if t == "" {
		return "default"
	}
	return t
}
