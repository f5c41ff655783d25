package loadtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"time"
)

// maxReply caps how much of an answer a Client keeps: a month of
// one-minute aggregates is about 12 MB of JSON.
const maxReply = 256 << 20

// Client sends requests with an API key to one cityops server on this
// machine, with one kept-alive connection per worker and a dialer that
// connects only to loopback addresses. Bodies are built by the caller, so
// that a load tool spends little of the cores it shares with cityops.
type Client struct {
	Base string // http://127.0.0.1:PORT, checked to be on a loopback address
	Key  string // sent as Authorization: Bearer
	// Header holds headers sent with every request besides the key, such
	// as NGSILD-Tenant; nil for none.
	Header http.Header
	// HTTP is the underlying client: no proxy, no redirects, no
	// compression. Streams (Server-Sent Events) use it directly.
	HTTP *http.Client
}

// NewClient returns a client for base with conns kept-alive connections;
// a request taking longer than timeout fails as a "timeout" (0: no limit,
// for streams).
func (g Guard) NewClient(base, key string, conns int, timeout time.Duration) (*Client, error) {
	if err := g.CheckTargetURL(base); err != nil {
		return nil, err
	}
	return &Client{Base: strings.TrimSuffix(base, "/"), Key: key, HTTP: g.HTTPClient(conns+2, timeout)}, nil
}

// HTTPClient returns the client a Client uses, for tools that build their
// own requests: at most idle kept-alive connections, no proxy, no
// redirects, no compression, and the guard's dialer, which connects only
// to loopback addresses. A request taking longer than timeout fails as a
// "timeout" (0: no limit).
func (g Guard) HTTPClient(idle int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         g.Dialer().DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Reply is what a request got back.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request makes a request for path with the API key; body may be nil.
func (c *Client) Request(ctx context.Context, method, path, contentType string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	return req, nil
}

// Do sends one request and reads the whole answer. The error is a
// transport error; any HTTP status is a reply.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte) (*Reply, error) {
	req, err := c.Request(ctx, method, path, contentType, body)
	if err != nil {
		return nil, err
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxReply))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	return &Reply{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// Close drops the kept-alive connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// StatusKind names a failed reply by its status and the start of its
// body, so that failures of one kind are counted together.
func StatusKind(r *Reply) string {
	s := fmt.Sprintf("HTTP %d", r.Status)
	if b := strings.TrimSpace(string(r.Body)); b != "" {
		if len(b) > 80 {
			b = b[:80] + "…"
		}
		s += ": " + b
	}
	return s
}

// ErrorKind names a transport error by its cause, without addresses or
// ports, so that errors of one kind are counted together.
func ErrorKind(err error) string { return ErrorNaming{}.Kind(err) }

// ErrorNaming says how Kind names transport errors; the zero value names
// them as ErrorKind does.
type ErrorNaming struct {
	// Sockets names broken pipes and running out of local ports too,
	// which a load of many fresh connections meets.
	Sockets bool
	// Innermost names an error of no known cause by the innermost error
	// it wraps, cut at 60 bytes, rather than by its whole text cut at 80
	// with an ellipsis.
	Innermost bool
}

// Kind names a transport error by its cause, without addresses or ports,
// so that errors of one kind are counted together.
func (n ErrorNaming) Kind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, ErrNotLoopback):
		return "refused: not a loopback address"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case n.Sockets && errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case n.Sockets && errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by server"
	}
	if n.Innermost {
		for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(err) {
			err = u
		}
		s := err.Error()
		if len(s) > 60 {
			s = s[:60]
		}
		return "other: " + s
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return "other: " + s
}

// MaxErrorKinds caps the distinct error kinds CountError keeps, so that
// odd error texts cannot grow a map without bound.
const MaxErrorKinds = 32

// CountError counts one failure of kind in m; once m holds MaxErrorKinds
// kinds, a new kind counts as "other (too many kinds)".
func CountError(m map[string]int64, kind string) {
	if _, ok := m[kind]; !ok && len(m) >= MaxErrorKinds {
		kind = "other (too many kinds)"
	}
	m[kind]++
}

// ErrorsText lists error kinds, the most frequent first: their total, then
// "kind: count" joined with sep, at most most of them (0: all).
func ErrorsText(m map[string]int64, most int, sep string) string {
	if len(m) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(m))
	var total int64
	for k, v := range m {
		kinds = append(kinds, k)
		total += v
	}
	sort.Slice(kinds, func(i, j int) bool {
		if m[kinds[i]] != m[kinds[j]] {
			return m[kinds[i]] > m[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	if most > 0 && len(kinds) > most {
		kinds = kinds[:most]
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, sep))
}
