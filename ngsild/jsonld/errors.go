package jsonld

import (
	"errors"
	"strconv"
	"strings"
)

// ErrNotAvailable is wrapped by every error that comes from a remote
// context the Loader cannot supply (unknown URL, offline, read failure).
// NGSI-LD maps it to the ProblemDetails type LdContextNotAvailable (503).
var ErrNotAvailable = errors.New("remote JSON-LD context not available")

// ErrInvalidContext is wrapped by every error about a malformed context:
// a bad term definition, a bad remote document, a cycle, a limit exceeded.
// NGSI-LD maps it to InvalidRequest or BadRequestData (400).
var ErrInvalidContext = errors.New("invalid JSON-LD context")

// JSON-LD 1.1 error codes used in Error.Code (JSON-LD 1.1 API, section 9.4.2).
const (
	CodeLoadingFailed          = "loading remote context failed"
	CodeInvalidRemoteContext   = "invalid remote context"
	CodeInvalidLocalContext    = "invalid local context"
	CodeContextOverflow        = "context overflow"
	CodeRecursiveInclusion     = "recursive context inclusion"
	CodeInvalidVersion         = "invalid @version value"
	CodeInvalidImport          = "invalid @import value"
	CodeInvalidContextEntry    = "invalid context entry"
	CodeInvalidBaseIRI         = "invalid base IRI"
	CodeInvalidVocabMapping    = "invalid vocab mapping"
	CodeInvalidDefaultLanguage = "invalid default language"
	CodeInvalidBaseDirection   = "invalid base direction"
	CodeInvalidPropagate       = "invalid @propagate value"
	CodeInvalidProtected       = "invalid @protected value"
	CodeKeywordRedefinition    = "keyword redefinition"
	CodeInvalidTermDefinition  = "invalid term definition"
	CodeCyclicIRIMapping       = "cyclic IRI mapping"
	CodeInvalidIRIMapping      = "invalid IRI mapping"
	CodeInvalidKeywordAlias    = "invalid keyword alias"
	CodeInvalidReverseProperty = "invalid reverse property"
	CodeInvalidTypeMapping     = "invalid type mapping"
	CodeInvalidContainer       = "invalid container mapping"
	CodeInvalidLanguageMapping = "invalid language mapping"
	CodeInvalidNest            = "invalid @nest value"
	CodeInvalidPrefix          = "invalid @prefix value"
	CodeProtectedRedefinition  = "protected term redefinition"
	CodeInvalidNullification   = "invalid context nullification"
)

// Error is the error Build returns. Its text names the JSON-LD error code,
// the term and the remote context involved, and what was wrong; it is meant
// to be shown to the client in a ProblemDetails "detail".
//
// errors.Is(err, ErrNotAvailable) or errors.Is(err, ErrInvalidContext)
// tells the two kinds apart; errors.As gives the Code.
type Error struct {
	Code   string // JSON-LD 1.1 error code, one of the Code… constants
	Term   string // the term being defined, if any
	URL    string // the remote context being processed, if any
	Detail string // what exactly was wrong

	kind  error // ErrNotAvailable or ErrInvalidContext
	cause error // an underlying error (Loader, JSON syntax), may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("jsonld: ")
	b.WriteString(e.Code)
	if e.Term != "" {
		b.WriteString(" for term ")
		b.WriteString(quote(e.Term))
	}
	if e.URL != "" {
		b.WriteString(" in context <")
		b.WriteString(clip(e.URL))
		b.WriteString(">")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Unwrap returns the kind (ErrNotAvailable or ErrInvalidContext) and the
// underlying cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func invalid(code, term, detail string) *Error {
	return &Error{Code: code, Term: term, Detail: detail, kind: ErrInvalidContext}
}

// maxShown caps how much of a client-supplied string goes into an error.
const maxShown = 120

func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	// Cut on a rune boundary.
	n := maxShown
	for n > 0 && !startsRune(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func startsRune(b byte) bool { return b&0xC0 != 0x80 }

func quote(s string) string { return strconv.Quote(clip(s)) }
