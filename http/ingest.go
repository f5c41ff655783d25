package http

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// The bulk observation path, POST /api/v1/observations: newline-delimited
// JSON (application/x-ndjson), one NGSI-LD entity per line, normalized or
// in temporal representation (an attribute may be an array of instances),
// or with options=keyValues plain values observed at the line's
// observedAt. Names are expanded with the Link header's context. Lines
// are grouped by entity and stored in batches of IngestBatch
// observations, each batch one transaction, while the next is parsed.
// A bad line is refused alone, with its number; what was stored is
// reported, and nothing is reported stored that was not.

// bulkPath is the bulk path, which takes larger bodies.
const bulkPath = "/api/v1/observations"

// maxLine bounds one line.
const maxLine = 1 << 20

// maxRejected bounds the refusals listed in the answer.
const maxRejected = 1000

type lineError struct {
	Line  int    `json:"line"`
	ID    string `json:"id,omitempty"`
	Error string `json:"error"`
}

type ingestResult struct {
	Accepted     int         `json:"accepted"` // observations stored
	Entities     int         `json:"entities"` // entity batches written
	Lines        int         `json:"lines"`
	Rejected     []lineError `json:"rejected"`
	RejectedMore int         `json:"rejected_more,omitempty"`
}

func (res *ingestResult) reject(line int, id string, err error) {
	if len(res.Rejected) >= maxRejected {
		res.RejectedMore++
		return
	}
	msg := cityops.ErrorMessage(err)
	var e *cityops.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		var parts []string
		for k, v := range e.Fields {
			parts = append(parts, k+" "+v)
		}
		msg += ": " + strings.Join(parts, "; ")
	}
	var pe *ngsiProblemErr
	if errors.As(err, &pe) {
		msg = pe.detail
	}
	res.Rejected = append(res.Rejected, lineError{line, id, msg})
}

// ingestBatch is lines grouped by entity.
type ingestBatch struct {
	byID  map[string]*cityops.Entity
	order []*cityops.Entity
	lines map[string][]int
	obs   int
}

func newIngestBatch() *ingestBatch {
	return &ingestBatch{byID: map[string]*cityops.Entity{}, lines: map[string][]int{}}
}

// add merges a line's entity; a line that names an entity with another
// type than an earlier line is refused.
func (b *ingestBatch) add(e *cityops.Entity, line int) error {
	n := 0
	for _, l := range e.Attrs {
		n += len(l)
	}
	if cur := b.byID[e.ID]; cur != nil {
		if cur.Type != e.Type {
			return cityops.Errorf(cityops.EINVALID, "type differs from an earlier line's for the same entity")
		}
		for name, l := range e.Attrs {
			cur.Attrs[name] = append(cur.Attrs[name], l...)
		}
	} else {
		b.byID[e.ID] = e
		b.order = append(b.order, e)
	}
	b.lines[e.ID] = append(b.lines[e.ID], line)
	b.obs += n
	return nil
}

func (s *Server) handleObservations(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-ndjson" && mt != "application/jsonl" && mt != "application/json-lines" {
		return cityops.Errorf(cityops.EINVALID, "send application/x-ndjson: one JSON entity per line")
	}
	tenant, err := ngsiTenant(r)
	if err != nil {
		return plainErr(err)
	}
	c, _, err := s.requestContext(r)
	if err != nil {
		return plainErr(err)
	}
	kv, _, _ := options(r)
	size := s.IngestBatch
	if size <= 0 {
		size = 50_000
	}
	// The reader owns parsed, the writer res, until batches is closed.
	res := &ingestResult{Rejected: []lineError{}}
	parsed := &ingestResult{Rejected: []lineError{}}
	batches := make(chan *ingestBatch, 1)
	done := make(chan struct{})
	var readErr error
	go func() {
		defer close(batches)
		readErr = readObservations(r.Body, c, tenant, kv, size, parsed, batches, done)
	}()
	var storeErr error
	lastLine := 0
	for b := range batches {
		if storeErr != nil {
			continue // drain
		}
		errs, err := s.Entities.IngestEntities(r.Context(), tenant, b.order)
		if err != nil {
			storeErr = err
			close(done)
			continue
		}
		for _, e := range b.order {
			lines := b.lines[e.ID]
			if err := errs[e.ID]; err != nil {
				for _, l := range lines {
					res.reject(l, e.ID, err)
				}
				continue
			}
			for _, l := range e.Attrs {
				res.Accepted += len(l)
			}
			res.Entities++
			lastLine = max(lastLine, lines[len(lines)-1])
		}
	}
	res.Lines = parsed.Lines
	res.RejectedMore += parsed.RejectedMore
	for _, l := range parsed.Rejected {
		if len(res.Rejected) < maxRejected {
			res.Rejected = append(res.Rejected, l)
		} else {
			res.RejectedMore++
		}
	}
	sort.Slice(res.Rejected, func(i, j int) bool { return res.Rejected[i].Line < res.Rejected[j].Line })
	if storeErr != nil {
		s.Log.Error("bulk observations", "err", storeErr, "accepted", res.Accepted)
		return cityops.Errorf(cityops.EUNAVAILABLE, "storing failed after %d observations (of the lines up to %d); later lines were not stored: send them again", res.Accepted, lastLine)
	}
	if readErr != nil {
		var mbe *http.MaxBytesError
		if errors.As(readErr, &mbe) {
			return cityops.Errorf(cityops.ETOOLARGE, "the body is larger than %d bytes; %d observations before that were stored", mbe.Limit, res.Accepted)
		}
		return cityops.Errorf(cityops.EINVALID, "reading the body failed after %d lines (%d observations stored): %v", res.Lines, res.Accepted, readErr)
	}
	status := http.StatusOK
	switch {
	case len(res.Rejected) > 0 && res.Accepted == 0:
		status = http.StatusBadRequest
	case len(res.Rejected) > 0:
		status = http.StatusMultiStatus
	case res.Lines == 0:
		return cityops.Errorf(cityops.EINVALID, "the body has no lines")
	}
	s.metrics.observations.Add(float64(res.Accepted))
	writeJSON(w, status, res)
	return nil
}

// readObservations parses lines into batches of about size observations.
func readObservations(body io.Reader, c *jsonld.Context, tenant string, keyValues bool, size int, res *ingestResult, out chan<- *ingestBatch, done <-chan struct{}) error {
	br := bufio.NewReaderSize(body, 256<<10)
	b := newIngestBatch()
	send := func() bool {
		if len(b.order) == 0 {
			return true
		}
		select {
		case out <- b:
			b = newIngestBatch()
			return true
		case <-done:
			return false
		}
	}
	expand := map[string]string{}
	for line := 1; ; line++ {
		raw, err := readLine(br)
		if errors.Is(err, io.EOF) && len(raw) == 0 {
			break
		}
		if errors.Is(err, errLineTooLong) {
			res.Lines++
			res.reject(line, "", cityops.Errorf(cityops.EINVALID, "the line is longer than %d bytes", maxLine))
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			send()
			return err
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			if errors.Is(err, io.EOF) {
				break
			}
			continue
		}
		res.Lines++
		e, perr := parseObservationLine(raw, c, tenant, keyValues, expand)
		if perr == nil {
			perr = e.ValidateTemporal()
		}
		if perr == nil {
			perr = b.add(e, line)
		}
		if perr != nil {
			id := ""
			if e != nil {
				id = e.ID
			}
			res.reject(line, id, perr)
		}
		if b.obs >= size && !send() {
			return nil
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	send()
	return nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads up to a newline; a line over maxLine is skipped whole.
func readLine(br *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		part, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(part) > maxLine {
				// Skip to the end of the line.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				if err != nil && !errors.Is(err, io.EOF) {
					return nil, err
				}
				return nil, errLineTooLong
			}
			long = append(long, part...)
			continue
		}
		if long != nil {
			n := len(long) + len(part)
			if bytes.HasSuffix(part, []byte("\n")) {
				n--
			}
			if n > maxLine {
				return nil, errLineTooLong
			}
			return append(long, part...), err
		}
		return part, err
	}
}

// parseObservationLine reads one line's entity; expand caches the
// context's expansions for the request.
func parseObservationLine(raw []byte, c *jsonld.Context, tenant string, keyValues bool, expand map[string]string) (*cityops.Entity, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, cityops.Errorf(cityops.EINVALID, "not a JSON object: %v", err)
	}
	if !keyValues {
		return entityFromJSON(obj, c, tenant)
	}
	term := func(k string) string {
		v, ok := expand[k]
		if !ok {
			v = c.ExpandTerm(k)
			expand[k] = v
		}
		return v
	}
	id, _ := obj["id"].(string)
	typ, _ := obj["type"].(string)
	if id == "" || typ == "" {
		return nil, cityops.Errorf(cityops.EINVALID, "a line needs an id and a type")
	}
	e := &cityops.Entity{ID: id, Type: term(typ), Tenant: tenant, Attrs: map[string][]cityops.Attr{}}
	at, hasAt := obj["observedAt"].(string)
	for k, v := range obj {
		switch k {
		case "id", "type", "observedAt", "@context":
			continue
		}
		a := cityops.Attr{"type": cityops.KindProperty, "value": v}
		if g, ok := v.(map[string]any); ok && g["coordinates"] != nil {
			a["type"] = cityops.KindGeoProperty
		} else if hasAt {
			a["observedAt"] = at
		}
		e.Attrs[term(k)] = []cityops.Attr{a}
	}
	return e, nil
}

// plainErr turns an NGSI-LD problem into the cityops error the API
// answers with.
func plainErr(err error) error {
	var pe *ngsiProblemErr
	if !errors.As(err, &pe) {
		return err
	}
	code := cityops.EINVALID
	switch pe.kind.Status {
	case http.StatusServiceUnavailable:
		code = cityops.EUNAVAILABLE
	case http.StatusNotFound:
		code = cityops.ENOTFOUND
	}
	return cityops.Errorf(code, "%s", pe.detail)
}
