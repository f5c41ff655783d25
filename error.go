package cityops

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Error codes are the small closed set every layer speaks. The HTTP and CLI
// layers map them to statuses and exit codes in exactly one place each.
const (
	EINVALID      = "invalid"      // the input is wrong; Fields says where
	ENOTFOUND     = "not_found"    // the object does not exist
	ECONFLICT     = "conflict"     // the object exists already or is in use
	EUNAUTHORIZED = "unauthorized" // no valid credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, not allowed
	ETOOLARGE     = "too_large"    // the request body or upload is over the limit
	ETOOMANY      = "too_many"     // too many attempts or requests; RetryAfter says when to try again
	EINTERNAL     = "internal"     // a bug or an outage; the text is never shown
	EUNAVAILABLE  = "unavailable"  // a dependency (the database) is down
)

// Error is the one error type of cityops. Message is safe to show to the
// person who caused it; internal errors are wrapped with fmt.Errorf instead.
type Error struct {
	Code    string
	Message string
	// Fields holds per-field problems for EINVALID, keyed by the field's
	// name as the client sent it (JSON name or form name).
	Fields map[string]string
	// RetryAfter, for ETOOMANY, is how long the caller should wait.
	RetryAfter time.Duration
}

// TooMany returns an ETOOMANY error asking the caller to wait d.
func TooMany(d time.Duration, format string, args ...any) *Error {
	e := Errorf(ETOOMANY, format, args...)
	e.RetryAfter = d
	return e
}

// ErrorRetryAfter returns how long the caller of a refused request should
// wait, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + e.Fields[k])
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, b.String())
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EINTERNAL when err is not an *Error.
// A nil error has no code.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-visible message of err. Internal errors get a
// generic text so that no detail of the system leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the per-field problems of a validation error, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Validation collects field problems so that a form or an API client learns
// about all of them at once rather than one per round trip.
type Validation struct {
	fields map[string]string
}

// Add records a problem with field; the first problem per field wins.
func (v *Validation) Add(field, format string, args ...any) {
	if v.fields == nil {
		v.fields = make(map[string]string)
	}
	if _, ok := v.fields[field]; !ok {
		v.fields[field] = fmt.Sprintf(format, args...)
	}
}

// Check adds the problem when ok is false.
func (v *Validation) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Err returns an EINVALID *Error listing every field problem, or nil.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "invalid input", Fields: v.fields}
}
