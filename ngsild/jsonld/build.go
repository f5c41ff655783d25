package jsonld

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Limits on the contexts Build processes.
const (
	// MaxDepth bounds nesting: a remote context that references another
	// counts one level, and so does an array inside an array.
	MaxDepth = 10
	// MaxRemoteContexts bounds the remote contexts (and @imports) loaded
	// by one Build, core context references not counted.
	MaxRemoteContexts = 20
	// maxTermChain bounds how deeply term definitions of one context may
	// depend on each other (a prefix defined by a prefix …).
	maxTermChain = 256
)

// Loader returns the JSON-LD document at url: a JSON object with an
// "@context" member. Implementations must be safe for concurrent use and
// should return an error wrapping ErrNotAvailable for URLs they cannot
// supply. Cache is the implementation for offline servers.
type Loader interface {
	Load(url string) (json.RawMessage, error)
}

// Build returns the active context for local, the value of an @context
// member (already decoded by encoding/json) or the URL of a Link header:
// a URL string, an object, null, or an array of those. local may also be a
// json.RawMessage or []byte holding that value as JSON. Remote contexts are
// fetched with l, which may be nil (then only core-context URLs work).
//
// Processing follows the JSON-LD 1.1 context processing algorithm, over
// the NGSI-LD core context that always applies first:
//
//   - terms: "t": "iri", "t": "p:x", "t": {"@id": …}, "t": null; keyword
//     aliases ("myId": "@id"); @reverse, @type, @container, @prefix,
//     @protected, @language, @direction, @index, @nest are checked;
//     scoped @context values are kept but not applied (this package
//     expands names, not nested values);
//   - prefixes: a simple term whose IRI ends in / # ? : [ ] @ (or any term
//     with "@prefix": true) makes "p:x" expand to its IRI + "x";
//   - @vocab (null removes it), @version (must be 1.1), @import, @base,
//     @language, @direction, @propagate, @protected are accepted;
//   - arrays are processed in order, later entries overriding earlier
//     ones; nested arrays are flattened (a leniency: JSON-LD rejects them);
//   - null resets to the core context (an error if a term a context
//     protected would be lost);
//   - a core-context URL (IsCoreURL) is never fetched; it re-applies the
//     embedded core context, which resets @vocab to DefaultVocab;
//   - the core context is protected: a context redefining one of its terms
//     differently is not an error, the core definition silently stays
//     (the NGSI-LD rule that core terms cannot be overridden); redefining
//     a term that a user context protected is an error.
//
// Errors are *Error values wrapping ErrNotAvailable (a remote context the
// Loader cannot supply) or ErrInvalidContext (anything malformed, cycles,
// more than MaxDepth levels or MaxRemoteContexts remote contexts).
func Build(local any, l Loader) (*Context, error) {
	core, err := coreContext()
	if err != nil {
		return nil, err
	}
	switch raw := local.(type) {
	case json.RawMessage:
		if local, err = decodeLocal(raw); err != nil {
			return nil, err
		}
	case []byte:
		if local, err = decodeLocal(raw); err != nil {
			return nil, err
		}
	}
	b := &builder{loader: l, core: core, terms: map[string]*termDef{}, vocab: core.vocab}
	if err := b.process(local, 0, ""); err != nil {
		return nil, err
	}
	if len(b.terms) == 0 && b.vocab == core.vocab {
		return core, nil
	}
	return &Context{base: core, terms: b.terms, vocab: b.vocab}, nil
}

func decodeLocal(raw []byte) (any, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, &Error{Code: CodeInvalidLocalContext, Detail: "the @context is not valid JSON", kind: ErrInvalidContext, cause: err}
	}
	return v, nil
}

// builder holds the active context while Build processes a local context.
type builder struct {
	loader        Loader
	core          *Context // nil while the core context itself is built
	buildingCore  bool
	terms         map[string]*termDef // terms defined on top of core
	vocab         string
	remotes       int      // remote contexts loaded so far
	stack         []string // remote contexts being processed, for cycles
	userProtected bool     // a non-core protected term exists
}

// localCtx is one context object whose terms are being defined.
type localCtx struct {
	m         map[string]any
	defined   map[string]bool // false: in progress; true: done
	protected bool            // the object's @protected
}

func (b *builder) lookup(term string) *termDef {
	if d, ok := b.terms[term]; ok {
		return d
	}
	if b.core != nil {
		return b.core.terms[term]
	}
	return nil
}

// process applies one local context value. url is the remote context it
// came from ("" for the request itself), for error messages.
func (b *builder) process(v any, depth int, url string) error {
	switch x := v.(type) {
	case nil:
		return b.reset(url)
	case string:
		return b.processURL(x, depth, url)
	case map[string]any:
		return b.processObject(x, url)
	case []any:
		for _, item := range x {
			d := depth
			if _, nested := item.([]any); nested {
				d++
				if d > MaxDepth {
					return &Error{Code: CodeContextOverflow, URL: url, Detail: fmt.Sprintf("contexts are nested more than %d levels deep", MaxDepth), kind: ErrInvalidContext}
				}
			}
			if err := b.process(item, d, url); err != nil {
				return err
			}
		}
		return nil
	default:
		return &Error{Code: CodeInvalidLocalContext, URL: url, Detail: "a context must be a URL string, an object, null or an array of those, not " + jsonKind(v), kind: ErrInvalidContext}
	}
}

// reset handles a null context: back to the core context.
func (b *builder) reset(url string) error {
	if b.buildingCore {
		return &Error{Code: CodeInvalidLocalContext, URL: url, Detail: "null in the core context", kind: ErrInvalidContext}
	}
	if b.userProtected {
		return &Error{Code: CodeInvalidNullification, URL: url, Detail: "null would remove protected term definitions", kind: ErrInvalidContext}
	}
	b.terms = map[string]*termDef{}
	b.vocab = b.core.vocab
	return nil
}

func (b *builder) processURL(u string, depth int, from string) error {
	if IsCoreURL(u) {
		if b.buildingCore {
			return &Error{Code: CodeRecursiveInclusion, URL: u, Detail: "the core context includes itself", kind: ErrInvalidContext}
		}
		// Re-applying the core context changes nothing but @vocab: its
		// terms are protected and identical, and no other term can have
		// a core term's name.
		b.vocab = b.core.vocab
		return nil
	}
	if !isAbsoluteIRI(u) {
		return &Error{Code: CodeInvalidLocalContext, URL: from, Detail: fmt.Sprintf("context URL %s is not an absolute URL (there is no base URL to resolve it against)", quote(u)), kind: ErrInvalidContext}
	}
	if slices.Contains(b.stack, u) {
		return &Error{Code: CodeRecursiveInclusion, URL: u, Detail: "the context includes itself (via " + strings.Join(clipAll(b.stack), " → ") + ")", kind: ErrInvalidContext}
	}
	if depth+1 > MaxDepth {
		return &Error{Code: CodeContextOverflow, URL: u, Detail: fmt.Sprintf("remote contexts are nested more than %d levels deep", MaxDepth), kind: ErrInvalidContext}
	}
	doc, err := b.fetch(u)
	if err != nil {
		return err
	}
	ctx, ok := doc["@context"]
	if !ok {
		return &Error{Code: CodeInvalidRemoteContext, URL: u, Detail: "the document has no @context member", kind: ErrInvalidContext}
	}
	b.stack = append(b.stack, u)
	err = b.process(ctx, depth+1, u)
	b.stack = b.stack[:len(b.stack)-1]
	return err
}

// fetch loads and decodes a remote context document, counting it.
func (b *builder) fetch(u string) (map[string]any, error) {
	b.remotes++
	if b.remotes > MaxRemoteContexts {
		return nil, &Error{Code: CodeContextOverflow, URL: u, Detail: fmt.Sprintf("more than %d remote contexts", MaxRemoteContexts), kind: ErrInvalidContext}
	}
	if b.loader == nil {
		return nil, &Error{Code: CodeLoadingFailed, URL: u, Detail: "no context loader is configured", kind: ErrNotAvailable}
	}
	raw, err := b.loader.Load(u)
	if err != nil {
		return nil, &Error{Code: CodeLoadingFailed, URL: u, kind: ErrNotAvailable, cause: err}
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, &Error{Code: CodeInvalidRemoteContext, URL: u, Detail: "the document is not valid JSON", kind: ErrInvalidContext, cause: err}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, &Error{Code: CodeInvalidRemoteContext, URL: u, Detail: "the document is " + jsonKind(doc) + ", not a JSON object", kind: ErrInvalidContext}
	}
	return m, nil
}

func (b *builder) processObject(m map[string]any, url string) error {
	if imp, ok := m["@import"]; ok {
		merged, err := b.importInto(m, imp)
		if err != nil {
			return withURL(err, url)
		}
		m = merged
	}
	if v, ok := m["@version"]; ok {
		if f, ok := v.(float64); !ok || f != 1.1 {
			return withURL(invalid(CodeInvalidVersion, "", "@version must be the number 1.1"), url)
		}
	}
	if v, ok := m["@base"]; ok {
		if _, ok := v.(string); !ok && v != nil {
			return withURL(invalid(CodeInvalidBaseIRI, "", "@base must be a string or null"), url)
		}
	}
	if v, ok := m["@vocab"]; ok {
		switch x := v.(type) {
		case nil:
			b.vocab = ""
		case string:
			e, err := b.expandIRI(x, true, nil, 0)
			if err != nil {
				return withURL(err, url)
			}
			if !isAbsoluteIRI(e) && !isBlankNode(e) {
				return withURL(invalid(CodeInvalidVocabMapping, "", fmt.Sprintf("@vocab %s does not expand to an absolute IRI", quote(x))), url)
			}
			b.vocab = e
		default:
			return withURL(invalid(CodeInvalidVocabMapping, "", "@vocab must be a string or null"), url)
		}
	}
	if v, ok := m["@language"]; ok {
		if _, ok := v.(string); !ok && v != nil {
			return withURL(invalid(CodeInvalidDefaultLanguage, "", "@language must be a string or null"), url)
		}
	}
	if v, ok := m["@direction"]; ok && !validDirection(v) {
		return withURL(invalid(CodeInvalidBaseDirection, "", `@direction must be "ltr", "rtl" or null`), url)
	}
	if v, ok := m["@propagate"]; ok {
		if _, ok := v.(bool); !ok {
			return withURL(invalid(CodeInvalidPropagate, "", "@propagate must be true or false"), url)
		}
	}
	lc := &localCtx{m: m, defined: make(map[string]bool, len(m))}
	if v, ok := m["@protected"]; ok {
		p, ok := v.(bool)
		if !ok {
			return withURL(invalid(CodeInvalidProtected, "", "@protected must be true or false"), url)
		}
		lc.protected = p
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		switch k {
		case "@base", "@direction", "@import", "@language", "@propagate", "@protected", "@version", "@vocab":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic errors
	for _, k := range keys {
		if err := b.createTerm(lc, k, 0); err != nil {
			return withURL(err, url)
		}
	}
	return nil
}

// importInto implements @import: the imported context object's entries,
// overridden by m's own.
func (b *builder) importInto(m map[string]any, imp any) (map[string]any, error) {
	u, ok := imp.(string)
	if !ok || !isAbsoluteIRI(u) {
		return nil, invalid(CodeInvalidImport, "", "@import must be an absolute URL")
	}
	var doc map[string]any
	if IsCoreURL(u) {
		if err := json.Unmarshal(coreDoc, &doc); err != nil {
			return nil, &Error{Code: CodeInvalidRemoteContext, URL: u, kind: ErrInvalidContext, cause: err}
		}
	} else {
		var err error
		if doc, err = b.fetch(u); err != nil {
			return nil, err
		}
	}
	ic, ok := doc["@context"].(map[string]any)
	if !ok {
		return nil, &Error{Code: CodeInvalidRemoteContext, URL: u, Detail: "an @import-ed document's @context must be a single object", kind: ErrInvalidContext}
	}
	if _, ok := ic["@import"]; ok {
		return nil, &Error{Code: CodeInvalidContextEntry, URL: u, Detail: "an @import-ed context cannot itself use @import", kind: ErrInvalidContext}
	}
	merged := make(map[string]any, len(ic)+len(m))
	for k, v := range ic {
		merged[k] = v
	}
	for k, v := range m {
		merged[k] = v
	}
	delete(merged, "@import")
	return merged, nil
}

// createTerm is JSON-LD 1.1's Create Term Definition algorithm (4.2.2),
// limited to what name expansion needs.
func (b *builder) createTerm(lc *localCtx, term string, chain int) error {
	if done, seen := lc.defined[term]; seen {
		if done {
			return nil
		}
		return invalid(CodeCyclicIRIMapping, term, "its definition depends on itself")
	}
	if chain > maxTermChain {
		return invalid(CodeInvalidTermDefinition, term, fmt.Sprintf("term definitions depend on each other more than %d deep", maxTermChain))
	}
	if term == "" {
		return invalid(CodeInvalidTermDefinition, "", "a term must not be the empty string")
	}
	lc.defined[term] = false
	value := lc.m[term]

	if term == "@type" {
		// JSON-LD 1.1 allows exactly {"@container": "@set"} (and @protected).
		obj, ok := value.(map[string]any)
		if !ok || obj["@container"] != "@set" {
			return invalid(CodeKeywordRedefinition, term, `@type can only be given {"@container": "@set"}`)
		}
		for k, v := range obj {
			if _, isBool := v.(bool); k != "@container" && !(k == "@protected" && isBool) {
				return invalid(CodeKeywordRedefinition, term, `@type can only be given {"@container": "@set"}`)
			}
		}
		lc.defined[term] = true
		return nil
	}
	if isKeyword(term) {
		return invalid(CodeKeywordRedefinition, term, "keywords cannot be redefined")
	}
	if hasKeywordForm(term) {
		lc.defined[term] = true // JSON-LD ignores terms that look like keywords
		return nil
	}

	var m map[string]any
	simple := false
	switch v := value.(type) {
	case nil:
		m = map[string]any{"@id": nil}
	case string:
		m = map[string]any{"@id": v}
		simple = true
	case map[string]any:
		m = v
	default:
		return invalid(CodeInvalidTermDefinition, term, "a term definition must be a string, an object or null, not "+jsonKind(value))
	}
	for k := range m {
		switch k {
		case "@container", "@context", "@direction", "@id", "@index", "@language", "@nest", "@prefix", "@protected", "@reverse", "@type":
		default:
			return invalid(CodeInvalidTermDefinition, term, "unexpected entry "+quote(k)+" in its definition")
		}
	}
	def := &termDef{protected: lc.protected, core: b.buildingCore}
	if v, ok := m["@protected"]; ok {
		p, ok := v.(bool)
		if !ok {
			return invalid(CodeInvalidProtected, term, "@protected must be true or false")
		}
		def.protected = p
	}
	if v, ok := m["@type"]; ok {
		s, ok := v.(string)
		if !ok {
			return invalid(CodeInvalidTypeMapping, term, "@type must be a string")
		}
		e, err := b.expandIRI(s, true, lc, chain+1)
		if err != nil {
			return err
		}
		switch e {
		case "@id", "@json", "@none", "@vocab":
		default:
			if !isAbsoluteIRI(e) {
				return invalid(CodeInvalidTypeMapping, term, fmt.Sprintf("@type %s is not @id, @json, @none, @vocab or an absolute IRI", quote(s)))
			}
		}
		def.typ = e
	}

	idStr, idIsString := m["@id"].(string)
	_, hasID := m["@id"]
	if r, ok := m["@reverse"]; ok {
		if hasID {
			return invalid(CodeInvalidReverseProperty, term, "@reverse and @id cannot both be given")
		}
		if _, ok := m["@nest"]; ok {
			return invalid(CodeInvalidReverseProperty, term, "@reverse and @nest cannot both be given")
		}
		s, ok := r.(string)
		if !ok {
			return invalid(CodeInvalidIRIMapping, term, "@reverse must be a string")
		}
		if hasKeywordForm(s) {
			lc.defined[term] = true // ignored, as JSON-LD says
			return nil
		}
		e, err := b.expandIRI(s, true, lc, chain+1)
		if err != nil {
			return err
		}
		if !isAbsoluteIRI(e) && !isBlankNode(e) {
			return invalid(CodeInvalidIRIMapping, term, fmt.Sprintf("@reverse %s does not expand to an absolute IRI", quote(s)))
		}
		def.iri, def.reverse = e, true
	} else if hasID && !(idIsString && idStr == term) {
		switch {
		case m["@id"] == nil:
			def.iri = "" // null mapping: the term is not expanded
		case !idIsString:
			return invalid(CodeInvalidIRIMapping, term, "@id must be a string or null")
		case !isKeyword(idStr) && hasKeywordForm(idStr):
			lc.defined[term] = true // ignored, as JSON-LD says
			return nil
		default:
			e, err := b.expandIRI(idStr, true, lc, chain+1)
			if err != nil {
				return err
			}
			if e == "@context" {
				return invalid(CodeInvalidKeywordAlias, term, "@context cannot be aliased")
			}
			if !isKeyword(e) && !isAbsoluteIRI(e) && !isBlankNode(e) {
				return invalid(CodeInvalidIRIMapping, term, fmt.Sprintf("@id %s does not expand to an absolute IRI", quote(idStr)))
			}
			if looksLikeIRI(term) {
				// A term that is itself an IRI or compact IRI must expand
				// to its own @id.
				lc.defined[term] = true
				te, err := b.expandIRI(term, true, lc, chain+1)
				if err != nil {
					return err
				}
				if te != e {
					return invalid(CodeInvalidIRIMapping, term, fmt.Sprintf("the term has the form of an IRI and expands to %s, not to its @id %s", quote(te), quote(e)))
				}
			} else if simple && (endsWithGenDelim(e) || isBlankNode(e)) {
				def.prefix = true
			}
			def.iri = e
		}
	} else if i := strings.IndexByte(term[1:], ':'); i >= 0 {
		// "p:x" or an absolute IRI used as a term, without @id.
		i++
		prefix, suffix := term[:i], term[i+1:]
		if _, ok := lc.m[prefix]; ok {
			if err := b.createTerm(lc, prefix, chain+1); err != nil {
				return err
			}
		}
		if pd := b.lookup(prefix); pd != nil && pd.iri != "" && pd.iri[0] != '@' {
			def.iri = pd.iri + suffix
		} else {
			def.iri = term
		}
	} else if strings.Contains(term, "/") {
		// A relative IRI used as a term: it expands with @vocab.
		e, err := b.expandIRI(term, true, nil, chain+1)
		if err != nil {
			return err
		}
		if !isAbsoluteIRI(e) {
			return invalid(CodeInvalidIRIMapping, term, "the term looks like a relative IRI and there is no @vocab to expand it with")
		}
		def.iri = e
	} else if b.vocab != "" {
		def.iri = b.vocab + term
	} else {
		return invalid(CodeInvalidIRIMapping, term, "it has no @id and there is no @vocab to derive one from")
	}

	if v, ok := m["@container"]; ok {
		c, err := containerOf(v)
		if err != nil {
			return invalid(CodeInvalidContainer, term, err.Error())
		}
		if def.reverse && c != "" && c != "@set" && c != "@index" {
			return invalid(CodeInvalidReverseProperty, term, "a @reverse term's @container can only be @set or @index")
		}
		def.container = c
	}
	if v, ok := m["@index"]; ok {
		s, ok := v.(string)
		if !ok || isKeyword(s) || !strings.Contains(def.container, "@index") {
			return invalid(CodeInvalidTermDefinition, term, `@index must be a property name and needs "@container": "@index"`)
		}
	}
	if v, ok := m["@language"]; ok {
		if _, ok := v.(string); !ok && v != nil {
			return invalid(CodeInvalidLanguageMapping, term, "@language must be a string or null")
		}
	}
	if v, ok := m["@direction"]; ok && !validDirection(v) {
		return invalid(CodeInvalidBaseDirection, term, `@direction must be "ltr", "rtl" or null`)
	}
	if v, ok := m["@nest"]; ok {
		s, ok := v.(string)
		if !ok || (isKeyword(s) && s != "@nest") {
			return invalid(CodeInvalidNest, term, "@nest must be @nest or a term")
		}
	}
	if v, ok := m["@prefix"]; ok {
		if strings.ContainsAny(term, ":/") {
			return invalid(CodeInvalidTermDefinition, term, "@prefix is not allowed on a term containing ':' or '/'")
		}
		p, ok := v.(bool)
		if !ok {
			return invalid(CodeInvalidPrefix, term, "@prefix must be true or false")
		}
		if p && def.iri != "" && def.iri[0] == '@' {
			return invalid(CodeInvalidTermDefinition, term, "a keyword alias cannot be a prefix")
		}
		def.prefix = p
	}
	extra, err := canonicalExtra(m)
	if err != nil {
		return invalid(CodeInvalidTermDefinition, term, err.Error())
	}
	def.extra = extra

	if prev := b.lookup(term); prev != nil && prev.protected {
		lc.defined[term] = true
		if prev.sameAs(def) {
			return nil
		}
		if prev.core {
			return nil // core terms cannot be overridden: keep the core one
		}
		return invalid(CodeProtectedRedefinition, term, "a context protected this term and the new definition differs")
	}
	b.terms[term] = def
	if def.protected && !b.buildingCore {
		b.userProtected = true
	}
	lc.defined[term] = true
	return nil
}

// expandIRI is JSON-LD 1.1's IRI Expansion algorithm (5.2.2) on the
// active context being built, defining terms of lc on demand.
// It returns "" for values JSON-LD maps to null.
func (b *builder) expandIRI(value string, vocab bool, lc *localCtx, chain int) (string, error) {
	if isKeyword(value) {
		return value, nil
	}
	if hasKeywordForm(value) {
		return "", nil
	}
	if lc != nil {
		if _, ok := lc.m[value]; ok && !lc.defined[value] {
			if err := b.createTerm(lc, value, chain); err != nil {
				return "", err
			}
		}
	}
	if d := b.lookup(value); d != nil {
		if d.iri != "" && d.iri[0] == '@' {
			return d.iri, nil
		}
		if vocab {
			return d.iri, nil
		}
	}
	if len(value) > 0 {
		if i := strings.IndexByte(value[1:], ':'); i >= 0 {
			i++
			prefix, suffix := value[:i], value[i+1:]
			if prefix == "_" || strings.HasPrefix(suffix, "//") {
				return value, nil
			}
			if lc != nil {
				if _, ok := lc.m[prefix]; ok && !lc.defined[prefix] {
					if err := b.createTerm(lc, prefix, chain); err != nil {
						return "", err
					}
				}
			}
			if d := b.lookup(prefix); d != nil && d.prefix && d.iri != "" {
				return d.iri + suffix, nil
			}
			if isAbsoluteIRI(value) {
				return value, nil
			}
		}
	}
	if vocab && b.vocab != "" {
		return b.vocab + value, nil
	}
	return value, nil
}

// looksLikeIRI reports whether a term contains a colon other than as its
// first or last character, or a slash (JSON-LD 1.1, 4.2.2 step 14.2.4).
func looksLikeIRI(term string) bool {
	if strings.Contains(term, "/") {
		return true
	}
	return len(term) > 2 && strings.Contains(term[1:len(term)-1], ":")
}

func containerOf(v any) (string, error) {
	var vals []string
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		vals = []string{x}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("@container values must be strings")
			}
			vals = append(vals, s)
		}
	default:
		return "", fmt.Errorf("@container must be a string or an array of strings")
	}
	for _, s := range vals {
		switch s {
		case "@list", "@set", "@index", "@language", "@id", "@graph", "@type":
		default:
			return "", fmt.Errorf("%s is not a container type", quote(s))
		}
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)
	return strings.Join(vals, ","), nil
}

func validDirection(v any) bool {
	return v == nil || v == "ltr" || v == "rtl"
}

// canonicalExtra encodes the parts of a term definition this package does
// not interpret, so that redefinitions of protected terms can be compared.
func canonicalExtra(m map[string]any) (string, error) {
	var extra map[string]any
	for _, k := range []string{"@context", "@direction", "@index", "@language", "@nest"} {
		if v, ok := m[k]; ok {
			if extra == nil {
				extra = map[string]any{}
			}
			extra[k] = v
		}
	}
	if extra == nil {
		return "", nil
	}
	j, err := json.Marshal(extra) // sorted keys: canonical for decoded JSON
	if err != nil {
		return "", fmt.Errorf("cannot encode its definition: %v", err)
	}
	return string(j), nil
}

func withURL(err error, url string) error {
	if e, ok := err.(*Error); ok && e.URL == "" {
		e.URL = url
	}
	return err
}

func clipAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clip(s)
	}
	return out
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a Go %T", v)
}
