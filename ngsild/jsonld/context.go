package jsonld

import (
	_ "embed"
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// CoreURL is the URL of the NGSI-LD core @context this package embeds
// (GS CIM 009 V1.9.1, Annex B). Responses that name no other context link
// to it.
const CoreURL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"

// DefaultVocab is the @vocab of the core context: terms that no context
// defines expand to DefaultVocab + term.
const DefaultVocab = "https://uri.etsi.org/ngsi-ld/default-context/"

//go:embed ngsi-ld-core-context.jsonld
var coreDoc []byte

// CoreDocument returns a copy of the embedded core context document, for
// serving it to clients.
func CoreDocument() []byte { return append([]byte(nil), coreDoc...) }

// IsCoreURL reports whether url names the NGSI-LD core context: any
// version published under https://uri.etsi.org/ngsi-ld/v1/ (http too),
// e.g. …/ngsi-ld-core-context.jsonld or …/ngsi-ld-core-context-v1.8.jsonld.
// Build never loads these: it uses the embedded core context instead.
func IsCoreURL(url string) bool {
	var rest string
	switch {
	case strings.HasPrefix(url, "https://"):
		rest = url[len("https://"):]
	case strings.HasPrefix(url, "http://"):
		rest = url[len("http://"):]
	default:
		return false
	}
	const stem = "uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context"
	if !strings.HasPrefix(rest, stem) || !strings.HasSuffix(rest, ".jsonld") {
		return false
	}
	v := rest[len(stem) : len(rest)-len(".jsonld")]
	if v == "" {
		return true
	}
	// "-v1.8", "-v1.10", …
	if !strings.HasPrefix(v, "-v") {
		return false
	}
	major, minor, ok := strings.Cut(v[2:], ".")
	return ok && isDigits(major) && isDigits(minor)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Context is an active JSON-LD context: the core context with the term
// definitions, prefixes and @vocab of the contexts a request named merged
// over it. It is immutable after Build and safe for concurrent use; build
// one per distinct @context and reuse it.
//
// A nil *Context behaves as Core().
type Context struct {
	base  *Context            // the core context; nil for the core itself
	terms map[string]*termDef // this context's own terms (disjoint from base's)
	vocab string              // vocabulary mapping; "" when there is none

	once sync.Once // builds idx
	idx  inverse
}

// termDef is one term definition. Only what expansion and compaction of
// names need is interpreted; the rest is kept to detect redefinitions.
type termDef struct {
	iri       string // IRI mapping, or a keyword for an alias; "" = null mapping
	prefix    bool   // usable as the prefix of a compact IRI
	reverse   bool   // defined with @reverse
	protected bool
	core      bool   // defined by the core context
	typ       string // @type coercion, expanded
	container string // @container values, sorted, comma-separated
	extra     string // canonical JSON of @language, @direction, @index, @nest, @context
}

func (d *termDef) sameAs(o *termDef) bool {
	return d.iri == o.iri && d.prefix == o.prefix && d.reverse == o.reverse &&
		d.typ == o.typ && d.container == o.container && d.extra == o.extra
}

// inverse is the lookup table for compaction.
type inverse struct {
	terms    map[string]string // IRI → best term
	prefixes []prefixDef       // terms usable as compact-IRI prefixes
}

type prefixDef struct{ term, iri string }

var (
	coreOnce sync.Once
	coreCtx  *Context
	coreErr  error
)

func coreContext() (*Context, error) {
	coreOnce.Do(func() {
		var doc map[string]any
		if err := json.Unmarshal(coreDoc, &doc); err != nil {
			coreErr = &Error{Code: CodeInvalidRemoteContext, URL: CoreURL, Detail: "embedded core context is not JSON", kind: ErrInvalidContext, cause: err}
			return
		}
		b := &builder{terms: map[string]*termDef{}, buildingCore: true}
		if err := b.process(doc["@context"], 0, CoreURL); err != nil {
			coreErr = err
			return
		}
		coreCtx = &Context{terms: b.terms, vocab: b.vocab}
	})
	return coreCtx, coreErr
}

// Core returns the NGSI-LD core context alone, whose @vocab is
// DefaultVocab. The embedded document is checked by the tests; Core panics
// only if the package was built with a broken copy of it.
func Core() *Context {
	c, err := coreContext()
	if err != nil {
		panic("jsonld: the embedded NGSI-LD core context is broken: " + err.Error())
	}
	return c
}

func (c *Context) self() *Context {
	if c == nil {
		return Core()
	}
	return c
}

func (c *Context) lookup(term string) *termDef {
	if d, ok := c.terms[term]; ok {
		return d
	}
	if c.base != nil {
		return c.base.terms[term]
	}
	return nil
}

// Vocab returns the vocabulary mapping (@vocab) of the context, "" if a
// context removed it with "@vocab": null.
func (c *Context) Vocab() string { return c.self().vocab }

// reserved are the member names of NGSI-LD entities and attributes that
// the API treats structurally (GS CIM 009 clauses 4.5 and 5.2): ExpandTerm
// and CompactIRI leave them as they are, whatever the context says.
var reserved = map[string]bool{
	// Entity members.
	"id": true, "type": true, "scope": true, "location": true,
	"observationSpace": true, "operationSpace": true,
	"createdAt": true, "modifiedAt": true, "deletedAt": true,
	// Attribute members.
	"value": true, "object": true, "objectType": true, "languageMap": true,
	"valueList": true, "objectList": true, "vocab": true, "json": true,
	"observedAt": true, "unitCode": true, "datasetId": true, "instanceId": true,
	"lang": true, "expiresAt": true,
	"previousValue": true, "previousObject": true, "previousLanguageMap": true,
	"previousValueList": true, "previousObjectList": true,
	"previousVocab": true, "previousJson": true,
}

// IsReserved reports whether name is a keyword ("@context", "@id", …) or
// one of the NGSI-LD entity and attribute member names (id, type, scope,
// location, observationSpace, operationSpace, createdAt, modifiedAt,
// deletedAt, value, object, objectType, languageMap, valueList,
// objectList, vocab, json, observedAt, unitCode, datasetId, instanceId,
// lang, expiresAt, previousValue, previousObject, previousLanguageMap,
// previousValueList, previousObjectList, previousVocab, previousJson).
// ExpandTerm and CompactIRI return these unchanged.
func IsReserved(name string) bool {
	return reserved[name] || (name != "" && name[0] == '@')
}

// ExpandTerm expands an attribute name or a type name to an IRI:
//
//   - keywords ("@context", …) and the NGSI-LD member names of IsReserved
//     are returned unchanged;
//   - a term the context defines expands to its IRI mapping;
//   - a compact IRI "p:x" whose prefix p the context defines as a prefix
//     expands to p's IRI + "x";
//   - any other absolute IRI ("urn:…", "https://…") and blank node ("_:b")
//     is returned unchanged;
//   - anything else expands with the context's @vocab, which is
//     DefaultVocab unless a context changed it.
//
// It returns "" only when the result would not be an IRI: the term is
// explicitly mapped to null, or there is no @vocab ("@vocab": null) to
// expand an undefined term with. JSON-LD drops such properties; callers
// should reject them.
func (c *Context) ExpandTerm(term string) string {
	iri, _ := c.Expand(term)
	return iri
}

// Expand is ExpandTerm with ok reporting whether term expanded to an IRI
// (or was kept as a keyword or reserved name).
func (c *Context) Expand(term string) (iri string, ok bool) {
	c = c.self()
	if term == "" {
		return "", false
	}
	if term[0] == '@' || reserved[term] {
		return term, true
	}
	if d := c.lookup(term); d != nil {
		return d.iri, d.iri != ""
	}
	if i := strings.IndexByte(term[1:], ':'); i >= 0 {
		i++
		prefix, suffix := term[:i], term[i+1:]
		if prefix == "_" || strings.HasPrefix(suffix, "//") {
			return term, true
		}
		if d := c.lookup(prefix); d != nil && d.prefix && d.iri != "" {
			return d.iri + suffix, true
		}
		if isAbsoluteIRI(term) {
			return term, true
		}
	}
	if c.vocab != "" {
		return c.vocab + term, true
	}
	return "", false
}

// CompactIRI is the inverse of ExpandTerm: it returns the shortest term
// the context defines for iri (the lexically least on a tie), else the
// part after @vocab if that is not itself a term, else the shortest
// compact IRI "p:x" with a prefix the context defines, else iri itself.
// Every candidate is checked to expand back to iri, so
// ExpandTerm(CompactIRI(iri)) == iri whenever the result differs from iri.
// Keywords and reserved member names are returned unchanged.
//
// Term selection ignores @container, @type and @language (this package
// compacts names, not values), and skips @reverse terms and keyword
// aliases.
func (c *Context) CompactIRI(iri string) string {
	c = c.self()
	if iri == "" || iri[0] == '@' || reserved[iri] {
		return iri
	}
	own := c.index()
	var base *inverse
	if c.base != nil {
		base = c.base.index()
	}
	// 1. A term.
	best := own.terms[iri]
	if base != nil {
		if t, ok := base.terms[iri]; ok && (best == "" || shorter(t, best)) {
			best = t
		}
	}
	if best != "" {
		return best
	}
	// 2. Relative to @vocab.
	if c.vocab != "" && len(iri) > len(c.vocab) && strings.HasPrefix(iri, c.vocab) {
		s := iri[len(c.vocab):]
		if c.lookup(s) == nil {
			if e, ok := c.Expand(s); ok && e == iri {
				return s
			}
		}
	}
	// 3. A compact IRI.
	best = c.compactWith(iri, own.prefixes, "")
	if base != nil {
		best = c.compactWith(iri, base.prefixes, best)
	}
	if best != "" {
		return best
	}
	return iri
}

func (c *Context) compactWith(iri string, prefixes []prefixDef, best string) string {
	for _, p := range prefixes {
		if len(iri) <= len(p.iri) || !strings.HasPrefix(iri, p.iri) {
			continue
		}
		cand := p.term + ":" + iri[len(p.iri):]
		if best != "" && !shorter(cand, best) {
			continue
		}
		if e, ok := c.Expand(cand); !ok || e != iri {
			continue
		}
		best = cand
	}
	return best
}

// shorter orders candidate names: shorter first, then lexically least.
func shorter(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// index builds (once) the compaction table of c's own terms.
func (c *Context) index() *inverse {
	c.once.Do(func() {
		c.idx.terms = make(map[string]string, len(c.terms))
		for t, d := range c.terms {
			if d.iri == "" || d.reverse || d.iri[0] == '@' || IsReserved(t) {
				continue
			}
			if d.prefix {
				c.idx.prefixes = append(c.idx.prefixes, prefixDef{t, d.iri})
			}
			if e, ok := c.Expand(t); !ok || e != d.iri {
				continue
			}
			if cur, ok := c.idx.terms[d.iri]; !ok || shorter(t, cur) {
				c.idx.terms[d.iri] = t
			}
		}
	})
	return &c.idx
}

// Terms returns the names of the terms this context defines on top of the
// core context (none for Core() itself), for diagnostics.
func (c *Context) Terms() []string {
	c = c.self()
	out := make([]string, 0, len(c.terms))
	if c.base == nil {
		return out
	}
	for t := range c.terms {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// isKeyword reports whether s is a JSON-LD 1.1 keyword.
func isKeyword(s string) bool {
	switch s {
	case "@base", "@container", "@context", "@default", "@direction", "@embed",
		"@explicit", "@graph", "@id", "@import", "@included", "@index", "@json",
		"@language", "@list", "@nest", "@none", "@omitDefault", "@prefix",
		"@preserve", "@propagate", "@protected", "@requireAll", "@reverse",
		"@set", "@type", "@value", "@version", "@vocab":
		return true
	}
	return false
}

// hasKeywordForm reports whether s looks like a keyword: "@" followed by
// one or more ASCII letters. JSON-LD ignores such terms and IRIs.
func hasKeywordForm(s string) bool {
	if len(s) < 2 || s[0] != '@' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) {
			return false
		}
	}
	return true
}

func isAlpha(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// isAbsoluteIRI reports whether s has the form of an absolute IRI: a
// scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), a colon,
// and no spaces or control characters.
func isAbsoluteIRI(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 || !isAlpha(s[0]) {
		return false
	}
	for j := 1; j < i; j++ {
		b := s[j]
		if !isAlpha(b) && !('0' <= b && b <= '9') && b != '+' && b != '-' && b != '.' {
			return false
		}
	}
	for j := 0; j < len(s); j++ {
		if s[j] <= ' ' || s[j] == 0x7f {
			return false
		}
	}
	return true
}

func isBlankNode(s string) bool { return strings.HasPrefix(s, "_:") }

// endsWithGenDelim reports whether an IRI ends with one of RFC 3986's
// gen-delims, which makes a simple term usable as a prefix.
func endsWithGenDelim(s string) bool {
	if s == "" {
		return false
	}
	switch s[len(s)-1] {
	case ':', '/', '?', '#', '[', ']', '@':
		return true
	}
	return false
}
