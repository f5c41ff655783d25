package jsonld

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// MaxDocumentBytes caps the size of a context document the Cache accepts.
const MaxDocumentBytes = 8 << 20

// Cache is a Loader for servers that cannot (or must not) fetch contexts
// from the network: it serves the documents it was given at start-up with
// Add, AddFile or AddDir, keyed by URL, and answers every other URL with
// an error wrapping ErrNotAvailable. If Fallback is set, unknown URLs are
// asked of it instead and its answers are cached.
//
// The zero value is an empty, offline Cache. A Cache is safe for
// concurrent use; set Fallback before the first Load.
type Cache struct {
	// Fallback, when not nil, loads URLs that were not preloaded.
	Fallback Loader

	mu   sync.RWMutex
	docs map[string][]byte
}

// NewCache returns an empty, offline Cache.
func NewCache() *Cache { return &Cache{} }

// Add stores doc, a JSON object with an @context member, as the document
// at url (an absolute URL). It replaces an earlier document for url.
func (c *Cache) Add(url string, doc []byte) error {
	if c == nil {
		return fmt.Errorf("jsonld: Add on a nil *Cache")
	}
	if !isAbsoluteIRI(url) {
		return fmt.Errorf("jsonld: context URL %s is not an absolute URL", quote(url))
	}
	if err := checkDocument(doc); err != nil {
		return fmt.Errorf("jsonld: context for <%s>: %w", url, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs == nil {
		c.docs = map[string][]byte{}
	}
	c.docs[url] = slices.Clone(doc)
	return nil
}

// AddFile reads the file at path and stores it as the document at url.
func (c *Cache) AddFile(url, path string) error {
	doc, err := readDocument(path)
	if err != nil {
		return err
	}
	if err := c.Add(url, doc); err != nil {
		return fmt.Errorf("%w (file %s)", err, path)
	}
	return nil
}

// AddDir stores every *.jsonld and *.json file under dir (recursively) as
// the document at baseURL + "/" + its slash-separated path relative to dir:
// AddDir("https://example.org/ctx", "contexts") serves
// contexts/sdm/air.jsonld as https://example.org/ctx/sdm/air.jsonld.
// Other files are ignored. It returns how many documents it added; it
// stops at the first file that is not a JSON object with an @context and
// names it in the error. For URLs that do not share a base, call AddDir
// once per base, or AddFile.
func (c *Cache) AddDir(baseURL, dir string) (int, error) {
	baseURL = strings.TrimSuffix(baseURL, "/")
	if !isAbsoluteIRI(baseURL) {
		return 0, fmt.Errorf("jsonld: base URL %s is not an absolute URL", quote(baseURL))
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("jsonld: %w", err)
		}
		if d.IsDir() || !(strings.HasSuffix(d.Name(), ".jsonld") || strings.HasSuffix(d.Name(), ".json")) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return fmt.Errorf("jsonld: %w", err)
		}
		if err := c.AddFile(baseURL+"/"+filepath.ToSlash(rel), path); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// Load returns a copy of the document stored for url. Unknown URLs are
// asked of Fallback if it is set, else refused with an error wrapping
// ErrNotAvailable.
func (c *Cache) Load(url string) (json.RawMessage, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: <%s>: no contexts are configured", ErrNotAvailable, clip(url))
	}
	c.mu.RLock()
	doc, ok := c.docs[url]
	c.mu.RUnlock()
	if ok {
		return slices.Clone(doc), nil
	}
	if c.Fallback == nil {
		return nil, fmt.Errorf("%w: <%s> is not among the preloaded contexts and the server does not fetch contexts from the network", ErrNotAvailable, clip(url))
	}
	doc, err := c.Fallback.Load(url)
	if err != nil {
		return nil, err
	}
	if err := c.Add(url, doc); err != nil {
		return nil, err
	}
	return slices.Clone(doc), nil
}

// URLs returns the URLs the cache holds, sorted.
func (c *Cache) URLs() []string {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.docs))
	for u := range c.docs {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

func readDocument(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("jsonld: %w", err)
	}
	if st.Size() > MaxDocumentBytes {
		return nil, fmt.Errorf("jsonld: %s is larger than %d bytes", path, MaxDocumentBytes)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jsonld: %w", err)
	}
	return doc, nil
}

// checkDocument verifies that doc is a JSON object with an @context.
func checkDocument(doc []byte) error {
	if len(doc) > MaxDocumentBytes {
		return fmt.Errorf("the document is larger than %d bytes", MaxDocumentBytes)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if _, ok := m["@context"]; !ok {
		return fmt.Errorf("the document has no @context member")
	}
	return nil
}
