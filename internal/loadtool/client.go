package loadtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         g.Dialer().DialContext,
		MaxIdleConns:        conns + 2,
		MaxIdleConnsPerHost: conns + 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{Base: strings.TrimSuffix(base, "/"), Key: key, HTTP: &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
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
func ErrorKind(err error) string {
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
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by server"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return "other: " + s
}
