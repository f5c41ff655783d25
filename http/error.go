package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

// statuses maps error codes to HTTP statuses. This table and Error are the
// only places that know about both.
var statuses = map[string]int{
	cityops.EINVALID:      http.StatusBadRequest,
	cityops.ENOTFOUND:     http.StatusNotFound,
	cityops.ECONFLICT:     http.StatusConflict,
	cityops.EUNAUTHORIZED: http.StatusUnauthorized,
	cityops.EFORBIDDEN:    http.StatusForbidden,
	cityops.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	cityops.ETOOMANY:      http.StatusTooManyRequests,
	cityops.EUNAVAILABLE:  http.StatusServiceUnavailable,
	cityops.EINTERNAL:     http.StatusInternalServerError,
}

// errMethod is a request with a method its path does not take. It is an
// HTTP matter only, so it is not among the domain's codes.
type errMethod struct{ method, allow string }

func (e errMethod) Error() string {
	return fmt.Sprintf("method %s is not allowed here; allowed: %s", e.method, e.allow)
}

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int {
	var pe *ngsiProblemErr
	if errors.As(err, &pe) {
		return pe.kind.Status
	}
	if errors.As(err, new(errMethod)) {
		return http.StatusMethodNotAllowed
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	if s, ok := statuses[cityops.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every API error.
type errorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	} `json:"error"`
}

// Error writes err to the client: JSON for API requests, an HTML page for
// browsers (or a redirect to sign-in when they are not signed in). Internal
// errors are logged and their text hidden.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	if b, ok := r.Body.(*limitedBody); ok && b.over != nil && ErrorStatus(err) == http.StatusBadRequest {
		err = b.over
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = cityops.Errorf(cityops.ETOOLARGE, "request body is larger than %d bytes", mbe.Limit)
	}
	code, status := cityops.ErrorCode(err), ErrorStatus(err)
	s.auditRefusal(r, status, err)
	var em errMethod
	if errors.As(err, &em) {
		err = cityops.Errorf(cityops.EINVALID, "%s", em.Error())
		code = "method_not_allowed"
	}
	if d := cityops.ErrorRetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
	if code == cityops.EINTERNAL {
		s.Log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if strings.HasPrefix(r.URL.Path, ngsiPrefix) {
		if ErrorStatus(err) >= 500 {
			s.Log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeNGSIError(w, err)
		return
	}
	if strings.HasPrefix(r.URL.Path, open311Prefix) {
		writeOpen311Error(w, r, err)
		return
	}
	if wantsJSON(r) {
		var body errorBody
		body.Error.Code, body.Error.Message, body.Error.Fields = code, cityops.ErrorMessage(err), cityops.ErrorFields(err)
		if code == cityops.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cityops"`)
		}
		writeJSON(w, status, body)
		return
	}
	if code == cityops.EUNAUTHORIZED && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.WriteHeader(status)
	lang := langFrom(r.Context())
	s.render(w, r, "error.html", map[string]any{
		"Status":  status,
		"Title":   s.Catalog.T(lang, "error."+code),
		"Message": cityops.ErrorMessage(err),
		"Fields":  cityops.ErrorFields(err),
	})
}

// wantsJSON reports whether the client is an API client rather than a
// browser page.
func wantsJSON(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		return true
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// writeJSON writes v as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}
