package http

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/geoq"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/ngsild/q"
)

// NGSI-LD subscriptions (clauses 5.8 and 5.2.12) at /ngsi-ld/v1/subscriptions.
// Names in a subscription (entity types, watched and notified attributes,
// the geoproperty) are expanded with the request's @context when stored,
// and compacted with the reading request's @context when shown; q is kept
// as written and read with the subscription's own @context. showChanges,
// cooldown, notifierInfo, csf, scopeQ and temporalQ are refused as not
// supported.

const subscriptionsPath = ngsiPrefix + "subscriptions/"

func (s *Server) subscriptions() (cityops.SubscriptionService, error) {
	if s.Subscriptions == nil {
		return nil, cityops.Errorf(cityops.EUNAVAILABLE, "subscriptions are not enabled on this server")
	}
	return s.Subscriptions, nil
}

// subscriptionBody reads a subscription (or a fragment of one): its
// members, the tenant, the context to expand names with, and that
// context as JSON for storage (nil for the core context).
func (s *Server) subscriptionBody(r *http.Request) (map[string]any, *jsonld.Context, string, json.RawMessage, error) {
	tenant, err := ngsiTenant(r)
	if err != nil {
		return nil, nil, "", nil, err
	}
	body, c, u, err := s.decodeNGSI(r)
	if err != nil {
		return nil, nil, "", nil, err
	}
	obj, ok := body.(map[string]any)
	if !ok {
		return nil, nil, "", nil, ngsiErr(errBadRequestData, "send one JSON object")
	}
	var raw json.RawMessage
	if local, ok := obj["@context"]; ok {
		raw, _ = json.Marshal(local)
	} else if u != "" {
		raw, _ = json.Marshal(u)
	}
	return obj, c, tenant, raw, nil
}

func (s *Server) handleSubscriptionCreate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.subscriptions()
	if err != nil {
		return err
	}
	obj, c, tenant, raw, err := s.subscriptionBody(r)
	if err != nil {
		return err
	}
	sub := &cityops.Subscription{Tenant: tenant, Active: true, Context: raw}
	if _, ok := obj["notification"]; !ok {
		return ngsiErr(errBadRequestData, "notification: is required (at least notification.endpoint.uri)")
	}
	if _, ok := obj["type"]; !ok {
		return ngsiErr(errBadRequestData, `type: is required and must be "Subscription"`)
	}
	if err := s.applySubscription(sub, obj, c, true); err != nil {
		return err
	}
	if err := svc.CreateSubscription(r.Context(), sub); err != nil {
		return err
	}
	w.Header().Set("Location", subscriptionsPath+url.PathEscape(sub.ID))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) handleSubscriptionIndex(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.subscriptions()
	if err != nil {
		return err
	}
	tenant, c, u, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	var v cityops.Validation
	limit := queryInt(r, &v, "limit", 20, 0, 1000)
	offset := queryInt(r, &v, "offset", 0, 0, 1<<30)
	if err := v.Err(); err != nil {
		return err
	}
	lim := limit
	if lim == 0 {
		lim = 1 // the count still needs a query
	}
	list, total, err := svc.FindSubscriptions(r.Context(), tenant, offset, lim)
	if err != nil {
		return err
	}
	if limit == 0 {
		list = nil
	}
	_, sys, _ := options(r)
	redact := !cityops.ActorFromContext(r.Context()).Can(cityops.PermDataWrite)
	out := []map[string]any{}
	for _, sub := range list {
		out = append(out, subscriptionJSON(sub, c, time.Now(), sys, redact))
	}
	if r.URL.Query().Get("count") == "true" {
		w.Header().Set("NGSILD-Results-Count", fmt.Sprint(total))
	}
	writeNGSI(w, r, http.StatusOK, out, u)
	return nil
}

func (s *Server) handleSubscriptionView(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.subscriptions()
	if err != nil {
		return err
	}
	tenant, c, u, err := s.ngsiReq(r)
	if err != nil {
		return err
	}
	id, err := subscriptionID(r)
	if err != nil {
		return err
	}
	sub, err := svc.FindSubscription(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	_, sys, _ := options(r)
	redact := !cityops.ActorFromContext(r.Context()).Can(cityops.PermDataWrite)
	writeNGSI(w, r, http.StatusOK, subscriptionJSON(sub, c, time.Now(), sys, redact), u)
	return nil
}

// handleSubscriptionUpdate is PATCH: the members given replace the
// stored ones (null removes an optional one); within notification, the
// members given replace those stored.
func (s *Server) handleSubscriptionUpdate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.subscriptions()
	if err != nil {
		return err
	}
	id, err := subscriptionID(r)
	if err != nil {
		return err
	}
	obj, c, tenant, _, err := s.subscriptionBody(r)
	if err != nil {
		return err
	}
	sub, err := svc.FindSubscription(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	if bid, ok := obj["id"]; ok && bid != id {
		return ngsiErr(errBadRequestData, "id: a subscription's id cannot change (the path names %s)", id)
	}
	members := 0
	for k := range obj {
		if k != "@context" && k != "id" && k != "type" {
			members++
		}
	}
	if members == 0 {
		return ngsiErr(errBadRequestData, "the fragment changes nothing")
	}
	if err := s.applySubscription(sub, obj, c, false); err != nil {
		return err
	}
	if err := svc.UpdateSubscription(r.Context(), sub); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleSubscriptionDelete(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.subscriptions()
	if err != nil {
		return err
	}
	tenant, err := ngsiTenant(r)
	if err != nil {
		return err
	}
	id, err := subscriptionID(r)
	if err != nil {
		return err
	}
	if err := svc.DeleteSubscription(r.Context(), tenant, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func subscriptionID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !cityops.ValidURI(id) {
		return "", ngsiErr(errBadRequestData, "subscription id %q is not a URI", id)
	}
	return id, nil
}

// subDecoder reads the members of a subscription, collecting every
// problem with the name of its field.
type subDecoder struct {
	v cityops.Validation
	c *jsonld.Context
}

func (d *subDecoder) str(field string, x any) string {
	s, ok := x.(string)
	if !ok {
		d.v.Add(field, "must be a string")
	}
	return s
}

func (d *subDecoder) boolean(field string, x any) bool {
	b, ok := x.(bool)
	if !ok {
		d.v.Add(field, "must be true or false")
	}
	return b
}

func (d *subDecoder) object(field string, x any) map[string]any {
	m, ok := x.(map[string]any)
	if !ok {
		d.v.Add(field, "must be a JSON object")
	}
	return m
}

// names reads a non-empty list of names and expands them.
func (d *subDecoder) names(field string, x any, expand bool) []string {
	list, ok := x.([]any)
	if !ok {
		d.v.Add(field, "must be an array of names")
		return nil
	}
	if len(list) == 0 {
		d.v.Add(field, "must not be empty; leave it out instead")
		return nil
	}
	out := make([]string, 0, len(list))
	seen := map[string]bool{}
	for _, it := range list {
		s, ok := it.(string)
		if !ok || s == "" {
			d.v.Add(field, "must be an array of non-empty strings")
			return nil
		}
		if expand {
			if s = d.c.ExpandTerm(s); s == "" {
				d.v.Add(field, "%s expands to nothing in the @context", it)
				return nil
			}
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// notSupported names a member cityops does not implement.
func (d *subDecoder) notSupported(field, why string) {
	d.v.Add(field, "is not supported%s", why)
}

// applySubscription sets the members of obj on sub: all of them on
// create, those present on update (where null clears an optional one).
func (s *Server) applySubscription(sub *cityops.Subscription, obj map[string]any, c *jsonld.Context, create bool) error {
	d := &subDecoder{c: c}
	for k, x := range obj {
		if x == nil && !create {
			switch k {
			case "subscriptionName":
				sub.Name = ""
			case "description":
				sub.Description = ""
			case "entities":
				sub.Entities = nil
			case "watchedAttributes":
				sub.WatchedAttributes = nil
			case "notificationTrigger":
				sub.Triggers = nil
			case "q":
				sub.Q = ""
			case "geoQ":
				sub.GeoQ = nil
			case "expiresAt":
				sub.ExpiresAt = nil
			case "throttling":
				sub.Throttling = 0
			case "timeInterval":
				sub.TimeInterval = 0
			case "lang":
				sub.Lang = ""
			case "jsonldContext":
				sub.JSONLDContext = ""
			case "isActive":
				sub.Active = true
			default:
				d.v.Add(k, "cannot be removed")
			}
			continue
		}
		if x == nil {
			continue
		}
		switch k {
		case "@context", "status", "createdAt", "modifiedAt":
			// Read-only members are ignored, so that a subscription read
			// back can be sent again.
		case "id":
			if create {
				sub.ID = d.str("id", x)
			}
		case "type":
			if d.str("type", x) != "Subscription" {
				d.v.Add("type", `must be "Subscription"`)
			}
		case "subscriptionName":
			sub.Name = d.str(k, x)
		case "description":
			sub.Description = d.str(k, x)
		case "lang":
			sub.Lang = d.str(k, x)
		case "entities":
			sub.Entities = d.entities(x)
		case "watchedAttributes":
			sub.WatchedAttributes = d.names(k, x, true)
		case "notificationTrigger":
			sub.Triggers = d.names(k, x, false)
		case "q":
			if sub.Q = d.str(k, x); sub.Q == "" {
				d.v.Add("q", "must not be empty; leave it out instead")
			} else if _, err := q.Parse(sub.Q); err != nil {
				d.v.Add("q", "%v", err)
			}
		case "geoQ":
			sub.GeoQ = d.geoQ(x)
		case "isActive":
			sub.Active = d.boolean(k, x)
		case "expiresAt":
			t, err := time.Parse(time.RFC3339Nano, d.str(k, x))
			if err != nil {
				d.v.Add(k, "must be a date-time such as 2030-01-01T00:00:00Z")
			} else {
				t = t.UTC()
				sub.ExpiresAt = &t
			}
		case "throttling":
			f, ok := x.(float64)
			if !ok || f <= 0 || f > cityops.MaxThrottling || math.IsNaN(f) {
				d.v.Add(k, "must be a positive number of seconds, at most %d", cityops.MaxThrottling)
			}
			sub.Throttling = f
		case "timeInterval":
			f, ok := x.(float64)
			if !ok || f < 1 || f > cityops.MaxThrottling {
				d.v.Add(k, "must be from 1 to %d seconds", cityops.MaxThrottling)
			}
			sub.TimeInterval = f
		case "jsonldContext":
			sub.JSONLDContext = d.str(k, x)
			if sub.JSONLDContext != "" && cityops.ValidEndpointURI(sub.JSONLDContext) {
				if _, err := jsonld.Build(sub.JSONLDContext, s.Contexts); err != nil {
					return contextErr(err)
				}
			}
		case "notification":
			d.notification(&sub.Notification, x)
		case "csf", "scopeQ", "temporalQ":
			d.notSupported(k, "")
		default:
			d.v.Add(k, "is not a member of a Subscription")
		}
	}
	// Storage checks the whole subscription (sub.Validate) once it has
	// its id.
	return d.v.Err()
}

func (d *subDecoder) entities(x any) []cityops.EntitySelector {
	list, ok := x.([]any)
	if !ok || len(list) == 0 {
		d.v.Add("entities", "must be a non-empty array of {id or idPattern, type}")
		return nil
	}
	out := make([]cityops.EntitySelector, 0, len(list))
	for i, it := range list {
		f := fmt.Sprintf("entities[%d]", i)
		m := d.object(f, it)
		var e cityops.EntitySelector
		for k, v := range m {
			switch k {
			case "id":
				e.ID = d.str(f+".id", v)
			case "idPattern":
				e.IDPattern = d.str(f+".idPattern", v)
			case "type":
				t := d.str(f+".type", v)
				if t != "" {
					if e.Type = d.c.ExpandTerm(t); e.Type == "" {
						d.v.Add(f+".type", "%s expands to nothing in the @context", t)
					}
				}
			default:
				d.v.Add(f+"."+k, "is not a member of an entity selector (id, idPattern, type)")
			}
		}
		if m != nil && e.Type == "" {
			d.v.Add(f+".type", "is required")
		}
		out = append(out, e)
	}
	return out
}

func (d *subDecoder) geoQ(x any) *cityops.GeoQuery {
	m := d.object("geoQ", x)
	if m == nil {
		return nil
	}
	g := &cityops.GeoQuery{}
	for k, v := range m {
		f := "geoQ." + k
		switch k {
		case "geometry":
			g.Geometry = d.str(f, v)
		case "georel":
			g.Georel = d.str(f, v)
		case "geoproperty":
			if p := d.str(f, v); p != "" {
				g.Geoproperty = d.c.ExpandTerm(p)
			}
		case "coordinates":
			switch c := v.(type) {
			case string: // the query-parameter form, "[107.58,16.47]"
				g.Coordinates = json.RawMessage(c)
			case []any:
				g.Coordinates, _ = json.Marshal(c)
			default:
				d.v.Add(f, "must be a GeoJSON coordinates array")
			}
		default:
			d.v.Add(f, "is not a member of a geoQ (geometry, coordinates, georel, geoproperty)")
		}
	}
	for _, req := range []struct{ name, val string }{{"georel", g.Georel}, {"geometry", g.Geometry}, {"coordinates", string(g.Coordinates)}} {
		if req.val == "" {
			d.v.Add("geoQ."+req.name, "is required")
		}
	}
	if d.v.Err() != nil {
		return g
	}
	if _, err := geoq.Parse(g.Georel, g.Geometry, string(g.Coordinates), g.Geoproperty); err != nil {
		d.v.Add("geoQ", "%s", cityops.ErrorMessage(err))
	}
	return g
}

// notification applies the members of a notification object over n.
func (d *subDecoder) notification(n *cityops.NotificationParams, x any) {
	m := d.object("notification", x)
	for k, v := range m {
		f := "notification." + k
		if v == nil {
			switch k {
			case "attributes":
				n.Attributes = nil
			case "format":
				n.Format = ""
			case "sysAttrs":
				n.SysAttrs = false
			default:
				d.v.Add(f, "cannot be removed")
			}
			continue
		}
		switch k {
		case "attributes":
			n.Attributes = d.names(f, v, true)
		case "format":
			n.Format = d.str(f, v)
		case "sysAttrs":
			n.SysAttrs = d.boolean(f, v)
		case "showChanges":
			if d.boolean(f, v) {
				d.notSupported(f, ": previous values are not kept")
			}
		case "endpoint":
			n.Endpoint = d.endpoint(v)
		case "status", "timesSent", "timesFailed", "lastNotification", "lastFailure", "lastSuccess":
			// read-only
		default:
			d.v.Add(f, "is not a member of notification (attributes, format, sysAttrs, endpoint)")
		}
	}
}

func (d *subDecoder) endpoint(x any) cityops.Endpoint {
	var e cityops.Endpoint
	m := d.object("notification.endpoint", x)
	for k, v := range m {
		f := "notification.endpoint." + k
		switch k {
		case "uri":
			e.URI = d.str(f, v)
		case "accept":
			e.Accept = d.str(f, v)
		case "timeout":
			t, ok := v.(float64)
			if !ok || t < 1 || t > 3600000 || t != math.Trunc(t) {
				d.v.Add(f, "must be a whole number of milliseconds")
			}
			e.Timeout = int(t)
		case "receiverInfo":
			list, ok := v.([]any)
			if !ok {
				d.v.Add(f, "must be an array of {key, value}")
				continue
			}
			for i, it := range list {
				kv := d.object(fmt.Sprintf("%s[%d]", f, i), it)
				key, _ := kv["key"].(string)
				val, ok := kv["value"].(string)
				if key == "" || !ok || len(kv) != 2 {
					d.v.Add(fmt.Sprintf("%s[%d]", f, i), "must be {\"key\": header name, \"value\": string}")
					continue
				}
				e.ReceiverInfo = append(e.ReceiverInfo, cityops.KeyValue{Key: key, Value: val})
			}
		case "cooldown", "notifierInfo":
			d.notSupported(f, "")
		default:
			d.v.Add(f, "is not a member of endpoint (uri, accept, timeout, receiverInfo)")
		}
	}
	if m != nil && e.URI == "" {
		d.v.Add("notification.endpoint.uri", "is required")
	}
	return e
}

const ngsiTime = "2006-01-02T15:04:05.000000Z"

// subscriptionJSON renders a subscription with names compacted with c.
// redact hides receiverInfo values (they often carry credentials) from
// readers who may not change the subscription.
func subscriptionJSON(sub *cityops.Subscription, c *jsonld.Context, now time.Time, sysAttrs, redact bool) map[string]any {
	out := map[string]any{"id": sub.ID, "type": "Subscription", "isActive": sub.Active, "status": sub.Status(now)}
	if sub.Name != "" {
		out["subscriptionName"] = sub.Name
	}
	if sub.Description != "" {
		out["description"] = sub.Description
	}
	if len(sub.Entities) > 0 {
		var list []map[string]any
		for _, e := range sub.Entities {
			m := map[string]any{"type": c.CompactIRI(e.Type)}
			if e.ID != "" {
				m["id"] = e.ID
			}
			if e.IDPattern != "" {
				m["idPattern"] = e.IDPattern
			}
			list = append(list, m)
		}
		out["entities"] = list
	}
	compactAll := func(names []string) []string {
		out := make([]string, 0, len(names))
		for _, n := range names {
			out = append(out, c.CompactIRI(n))
		}
		return out
	}
	if len(sub.WatchedAttributes) > 0 {
		out["watchedAttributes"] = compactAll(sub.WatchedAttributes)
	}
	if len(sub.Triggers) > 0 {
		out["notificationTrigger"] = sub.Triggers
	} else if sub.TimeInterval == 0 {
		out["notificationTrigger"] = cityops.DefaultTriggers
	}
	if sub.Q != "" {
		out["q"] = sub.Q
	}
	if g := sub.GeoQ; g != nil {
		m := map[string]any{"geometry": g.Geometry, "coordinates": g.Coordinates, "georel": g.Georel}
		if g.Geoproperty != "" {
			m["geoproperty"] = c.CompactIRI(g.Geoproperty)
		}
		out["geoQ"] = m
	}
	if sub.ExpiresAt != nil {
		out["expiresAt"] = sub.ExpiresAt.UTC().Format(ngsiTime)
	}
	if sub.Throttling > 0 {
		out["throttling"] = sub.Throttling
	}
	if sub.TimeInterval > 0 {
		out["timeInterval"] = sub.TimeInterval
	}
	if sub.Lang != "" {
		out["lang"] = sub.Lang
	}
	if sub.JSONLDContext != "" {
		out["jsonldContext"] = sub.JSONLDContext
	}
	n := sub.Notification
	ep := map[string]any{"uri": n.Endpoint.URI, "accept": "application/json"}
	if n.Endpoint.Accept != "" {
		ep["accept"] = n.Endpoint.Accept
	}
	if n.Endpoint.Timeout > 0 {
		ep["timeout"] = n.Endpoint.Timeout
	}
	if len(n.Endpoint.ReceiverInfo) > 0 {
		var list []map[string]string
		for _, kv := range n.Endpoint.ReceiverInfo {
			v := kv.Value
			if redact {
				v = "*****"
			}
			list = append(list, map[string]string{"key": kv.Key, "value": v})
		}
		ep["receiverInfo"] = list
	}
	nm := map[string]any{"format": cityops.FormatNormalized, "endpoint": ep}
	if n.Format != "" {
		nm["format"] = n.Format
	}
	if len(n.Attributes) > 0 {
		nm["attributes"] = compactAll(n.Attributes)
	}
	if n.SysAttrs {
		nm["sysAttrs"] = true
	}
	if n.Status != "" {
		nm["status"] = n.Status
	}
	if n.TimesSent > 0 {
		nm["timesSent"] = n.TimesSent
	}
	if n.TimesFailed > 0 {
		nm["timesFailed"] = n.TimesFailed
	}
	for k, t := range map[string]*time.Time{"lastNotification": n.LastNotification, "lastFailure": n.LastFailure, "lastSuccess": n.LastSuccess} {
		if t != nil {
			nm[k] = t.UTC().Format(ngsiTime)
		}
	}
	out["notification"] = nm
	if sysAttrs {
		out["createdAt"] = sub.CreatedAt.Format(ngsiTime)
		out["modifiedAt"] = sub.ModifiedAt.Format(ngsiTime)
	}
	return out
}
