// Package jsonld is the part of JSON-LD 1.1 that an NGSI-LD broker
// (ETSI GS CIM 009) needs: it turns the @context a request names into an
// active context, expands the short names of attributes and types to IRIs
// for storage, and compacts stored IRIs back to the names of the context
// a response is for.
//
// NGSI-LD clients name their context in one of two ways:
//
//   - application/ld+json: an "@context" member in the body, whose value
//     (a URL, an object, or an array of those) is given to Build;
//   - application/json: a Link header, whose URL ParseLink extracts and
//     Build loads through a Loader.
//
// The NGSI-LD core context (embedded, see ngsi-ld-core-context.SOURCE.md)
// always applies first and cannot be overridden; terms no context defines
// expand with the core @vocab, DefaultVocab
// (https://uri.etsi.org/ngsi-ld/default-context/), unless a context sets
// another @vocab.
//
// The machine may be offline: Cache is a Loader that serves context
// documents preloaded from files and refuses other URLs with
// ErrNotAvailable, which NGSI-LD reports as LdContextNotAvailable.
// Core-context URLs are never loaded.
//
// What is not here: full JSON-LD expansion and compaction of documents
// (values, @type coercion of values, @container handling, scoped contexts
// are checked and kept but not applied), document-relative IRIs (@base),
// and RDF. A Context only maps names.
//
// Typical use:
//
//	u, ok, err := jsonld.ParseLink(strings.Join(r.Header.Values("Link"), ", "))
//	…
//	ctx, err := jsonld.Build(u, cache) // or Build(body["@context"], cache)
//	if errors.Is(err, jsonld.ErrNotAvailable) { /* 503 LdContextNotAvailable */ }
//	iri := ctx.ExpandTerm("temperature")
//	name := ctx.CompactIRI(iri) // "temperature"
//
// Building a context costs a map per request; callers that see the same
// @context often should cache the *Context by its URL (or by the JSON of
// an inline context).
package jsonld
