package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// verifyChunk is how many ids one GET asks for, well under requests.json's
// cap of 1,000 per page and short enough for any URL limit.
const verifyChunk = 100

// durability is the outcome of looking every accepted id up again.
type durability struct {
	Unique     int      // distinct accepted ids
	Duplicates int      // ids the server handed out more than once
	Found      int      // of Unique, those the restarted server lists
	Missing    int      // Unique - Found
	Sample     []string // up to 10 missing ids, to look into
}

// verifyDurable asks the (restarted) server at base for every id through
// GET /open311/v2/requests.json?service_request_id=…, in chunks.
func verifyDurable(ctx context.Context, base string, ids *idList) (*durability, error) {
	if err := guard.CheckTargetURL(base); err != nil {
		return nil, err
	}
	all := make([]string, ids.Len())
	for i := range all {
		all[i] = ids.At(i)
	}
	slices.Sort(all)
	uniq := slices.Compact(all)
	d := &durability{Unique: len(uniq), Duplicates: len(all) - len(uniq)}
	client := newClient(1)
	defer client.CloseIdleConnections()
	for chunk := range slices.Chunk(uniq, verifyChunk) {
		u := strings.TrimSuffix(base, "/") + "/open311/v2/requests.json?" +
			url.Values{"service_request_id": {strings.Join(chunk, ",")}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET requests.json: HTTP %d: %.200s", res.StatusCode, body)
		}
		var got []struct {
			ID string `json:"service_request_id"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			return nil, fmt.Errorf("GET requests.json: %w", err)
		}
		present := make(map[string]bool, len(got))
		for _, g := range got {
			present[strings.ToUpper(g.ID)] = true
		}
		for _, id := range chunk {
			if present[strings.ToUpper(id)] {
				d.Found++
				continue
			}
			d.Missing++
			if len(d.Sample) < 10 {
				d.Sample = append(d.Sample, id)
			}
		}
	}
	return d, nil
}
