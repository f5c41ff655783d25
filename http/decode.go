package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cityops/cityops"
)

// decodeJSON reads one JSON object from the body into v. Unknown fields,
// wrong types, trailing data and non-JSON bodies are EINVALID errors that
// say what is wrong and where.
func decodeJSON(r *http.Request, v any) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return cityops.Errorf(cityops.EINVALID, "send a JSON body with Content-Type: application/json")
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	if err := plainJSON(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return cityops.Errorf(cityops.EINVALID, "unexpected data after the JSON object")
	}
	return nil
}

// plainJSON refuses a JSON body whose text could not be stored as it was
// sent: bytes that are not UTF-8 (the decoder would replace them) and the
// NUL character, escaped as \u0000 (PostgreSQL's text cannot hold it).
func plainJSON(b []byte) error {
	if !utf8.Valid(b) {
		return cityops.Errorf(cityops.EINVALID, "the body is not valid UTF-8")
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return nil
		}
		j += i
		// Escaped only if the backslash is not itself escaped: an odd run
		// of backslashes ends at j.
		n := 0
		for k := j; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			return cityops.Errorf(cityops.EINVALID, "text may not hold the NUL character (\\u0000)")
		}
		i = j + 1
	}
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return cityops.Errorf(cityops.EINVALID, "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return cityops.Errorf(cityops.EINVALID, "the JSON body ends too early")
	case errors.As(err, &syn):
		return cityops.Errorf(cityops.EINVALID, "the body is not valid JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		// Embedded Go structs appear in the path by type name; clients
		// know only the JSON names, which are lowercase.
		for {
			head, rest, ok := strings.Cut(field, ".")
			if !ok || head == "" || head[0] < 'A' || head[0] > 'Z' {
				break
			}
			field = rest
		}
		if field == "" {
			return cityops.Errorf(cityops.EINVALID, "the body must be a JSON object")
		}
		return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{field: fmt.Sprintf("must be %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{name: "is not a known field"}}
	}
	var perr *cityops.Error
	if errors.As(err, &perr) {
		return perr
	}
	return cityops.Errorf(cityops.EINVALID, "the body could not be read as JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	}
	return "a " + kind
}

// optTime is a JSON timestamp in a PATCH body that tells apart "absent"
// (leave it), null (clear it) and a value.
type optTime struct {
	Set bool
	V   *time.Time
}

func (o *optTime) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.V = nil
		return nil
	}
	var t time.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return cityops.Errorf(cityops.EINVALID, "a time must be an RFC 3339 string such as \"2025-07-01T00:00:00+07:00\"")
	}
	t = t.UTC()
	o.V = &t
	return nil
}

// ptr returns a pointer to the field when it was set.
func (o optTime) ptr() **time.Time {
	if !o.Set {
		return nil
	}
	v := o.V
	return &v
}

// queryInt reads an integer query parameter within [min, max].
func queryInt(r *http.Request, v *cityops.Validation, name string, def, min, max int) int {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		v.Add(name, "must be a whole number from %d to %d", min, max)
		return def
	}
	return n
}

// queryFloat reads a required decimal query parameter.
func queryFloat(r *http.Request, v *cityops.Validation, name string) float64 {
	s := r.URL.Query().Get(name)
	if s == "" {
		v.Add(name, "is required")
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		v.Add(name, "must be a decimal number such as 16.4637")
		return 0
	}
	return f
}

// queryTime reads an optional RFC 3339 query parameter.
func queryTime(r *http.Request, v *cityops.Validation, name string) *time.Time {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		v.Add(name, "must be an RFC 3339 time such as 2025-07-01T00:00:00+07:00")
		return nil
	}
	return &t
}

// queryStr returns a pointer to a non-empty query parameter, or nil.
func queryStr(r *http.Request, name string) *string {
	if s := r.URL.Query().Get(name); s != "" {
		return &s
	}
	return nil
}

// queryBool reads an optional true/false query parameter.
func queryBool(r *http.Request, v *cityops.Validation, name string) *bool {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		v.Add(name, "must be true or false")
		return nil
	}
	return &b
}

// pathID reads a numeric path value.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, cityops.Errorf(cityops.ENOTFOUND, "%s %q not found", name, r.PathValue(name))
	}
	return id, nil
}
