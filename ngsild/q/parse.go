package q

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits applied by Parse, exported so the HTTP layer can document them.
// They bound the work one request can cause: parsing and evaluation are
// linear in the query, and regexps are RE2 (linear-time matching).
const (
	MaxQueryLen  = 4096 // bytes in the whole query
	MaxDepth     = 32   // nested parentheses
	MaxTerms     = 64   // query terms
	MaxRegexpLen = 256  // bytes in one regular expression
)

// Caps on a pattern's size once counted repetitions are expanded; see
// regexpCost. Not exported: they are a safety net, not an API promise.
const (
	maxRegexpCost      = 2000
	maxQueryRegexpCost = 4000
)

// SyntaxError reports why a query was rejected. Pos is the 0-based byte
// offset in the query where the problem was found, and Msg says what was
// expected there; the text is meant to be returned to API clients as an
// NGSI-LD BadRequestData problem detail.
type SyntaxError struct {
	Pos int
	Msg string
}

// Error formats the position and message for clients and logs.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid query at position %d: %s", e.Pos, e.Msg)
}

func errAt(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses an NGSI-LD q query (already percent-decoded) into an Expr.
// The package documentation lists the accepted syntax and limits; any
// error is a *SyntaxError.
func Parse(s string) (Expr, error) {
	if len(s) > MaxQueryLen {
		return nil, errAt(MaxQueryLen, "query is too long: %d bytes, at most %d are allowed", len(s), MaxQueryLen)
	}
	return parse(s)
}

// parse is Parse without the length limit; tests use it to check the
// canonical form of queries close to the limit.
func parse(s string) (Expr, error) {
	if !utf8.ValidString(s) {
		i := 0
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		return nil, errAt(i, "query is not valid UTF-8")
	}
	if s == "" {
		return nil, errAt(0, "empty query: expected an attribute name or '('")
	}
	p := &parser{s: s}
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(s) {
		// Terms and groups only stop before ';', '|', ')' or the end, and
		// or() consumes ';' and '|', so this is an unmatched ')'.
		return nil, errAt(p.pos, "unexpected %s without a matching '('", p.found())
	}
	return e, nil
}

type parser struct {
	s      string
	pos    int
	terms  int // terms seen so far, against MaxTerms
	reCost int // summed regexpCost, against maxQueryRegexpCost
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// found describes what is at the current position for error messages.
func (p *parser) found() string {
	return describe(p.s, p.pos)
}

func describe(s string, pos int) string {
	if pos >= len(s) {
		return "end of query"
	}
	r, _ := utf8.DecodeRuneInString(s[pos:])
	if unicode.IsSpace(r) {
		return "whitespace (not allowed outside quoted strings)"
	}
	return strconv.QuoteRune(r)
}

// or parses Query: and-groups separated by '|'.
func (p *parser) or(depth int) (Expr, error) {
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == '|' {
		p.pos++
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		left = Or{L: left, R: right}
	}
	return left, nil
}

// and parses operands separated by ';'.
func (p *parser) and(depth int) (Expr, error) {
	left, err := p.operand(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == ';' {
		p.pos++
		right, err := p.operand(depth)
		if err != nil {
			return nil, err
		}
		left = And{L: left, R: right}
	}
	return left, nil
}

// operand parses a parenthesised query or a single term.
func (p *parser) operand(depth int) (Expr, error) {
	if p.eof() || p.peek() == ';' || p.peek() == '|' || p.peek() == ')' {
		if p.pos > 0 {
			switch prev := p.s[p.pos-1]; prev {
			case ';', '|', '(':
				return nil, errAt(p.pos, "expected a query term or '(' after '%c', found %s", prev, p.found())
			}
		}
		return nil, errAt(p.pos, "expected an attribute name or '(', found %s", p.found())
	}
	if p.peek() != '(' {
		return p.term()
	}
	open := p.pos
	if depth >= MaxDepth {
		return nil, errAt(open, "parentheses are nested too deeply: at most %d levels are allowed", MaxDepth)
	}
	p.pos++
	if p.peek() == ')' {
		return nil, errAt(open, "empty parentheses: expected a query term inside '()'")
	}
	e, err := p.or(depth + 1)
	if err != nil {
		return nil, err
	}
	if p.peek() != ')' {
		// or() stops at the end or, since terms and groups check what
		// follows them, before a ')'.
		return nil, errAt(p.pos, "missing ')' to close the '(' at position %d", open)
	}
	p.pos++
	if err := p.termEnd("')'"); err != nil {
		return nil, err
	}
	return e, nil
}

// termEnd checks that a term is followed by a logical operator, a ')' or
// the end of the query.
func (p *parser) termEnd(after string) error {
	if p.eof() {
		return nil
	}
	switch p.peek() {
	case ';', '|', ')':
		return nil
	}
	return errAt(p.pos, "unexpected %s after %s: expected ';' (AND), '|' (OR), ')' or end of query", p.found(), after)
}

func (p *parser) term() (Expr, error) {
	start := p.pos
	p.terms++
	if p.terms > MaxTerms {
		return nil, errAt(start, "too many query terms: at most %d are allowed", MaxTerms)
	}
	path, err := p.path()
	if err != nil {
		return nil, err
	}
	t := Term{Path: path}
	switch p.peek() {
	case ';', '|', ')':
		return t, nil
	}
	if p.eof() {
		return t, nil
	}
	t.Op, err = p.operator()
	if err != nil {
		return nil, err
	}
	switch t.Op {
	case "~=", "!~=":
		t.Regexp, err = p.regexp(t.Op)
		if err != nil {
			return nil, err
		}
		return t, nil // a pattern ends exactly where a term may end
	case "==", "!=":
		err = p.equalityValue(&t)
	default:
		err = p.orderedValue(&t)
	}
	if err != nil {
		return nil, err
	}
	if err := p.termEnd("value"); err != nil {
		return nil, err
	}
	return t, nil
}

func (p *parser) operator() (string, error) {
	rest := p.s[p.pos:]
	for _, op := range [...]string{"==", "!~=", "!=", ">=", ">", "<=", "<", "~="} {
		if strings.HasPrefix(rest, op) {
			p.pos += len(op)
			return op, nil
		}
	}
	switch rest[0] {
	case '=':
		return "", errAt(p.pos, "invalid operator '=': use '==' to test equality")
	case '!':
		return "", errAt(p.pos, "invalid operator after '!': expected '!=' or '!~='")
	case '~':
		return "", errAt(p.pos, "invalid operator after '~': expected '~='")
	case '{':
		return "", errAt(p.pos, "linked-entity queries with '{...}' are not supported")
	}
	return "", errAt(p.pos, "unexpected %s after attribute path: expected an operator (==, !=, >, >=, <, <=, ~=, !~=), ';', '|', ')' or end of query", p.found())
}

// ---- attribute paths ----

func isNameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_'
}

func (p *parser) path() (Path, error) {
	var path Path
	if end := iriEnd(p.s, p.pos); end > 0 {
		if err := checkPercent(p.s, p.pos, end); err != nil {
			return path, err
		}
		path.Attr = p.s[p.pos:end]
		p.pos = end
	} else {
		name, err := p.name("an attribute name")
		if err != nil {
			return path, err
		}
		path.Attr = name
		for p.peek() == '.' {
			p.pos++
			name, err := p.name("a sub-attribute name after '.'")
			if err != nil {
				return path, err
			}
			path.Sub = append(path.Sub, name)
		}
	}
	if p.peek() == '[' {
		p.pos++
		for {
			seg, err := p.member()
			if err != nil {
				return path, err
			}
			path.Trail = append(path.Trail, seg)
			if p.peek() == '.' {
				p.pos++
				continue
			}
			if p.peek() == ']' {
				p.pos++
				break
			}
			return path, errAt(p.pos, "expected '.' or ']' in trailing path, found %s", p.found())
		}
		if p.peek() == '[' {
			return path, errAt(p.pos, "only one trailing path '[...]' is allowed, at the end of the attribute path")
		}
	}
	if p.peek() == '{' {
		return path, errAt(p.pos, "linked-entity queries with '{...}' are not supported")
	}
	return path, nil
}

// name reads an AttrName, optionally compacted as prefix:name.
func (p *parser) name(what string) (string, error) {
	start := p.pos
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	if p.eof() || !unicode.IsLetter(r) {
		if r == '!' && !p.eof() && what == "an attribute name" {
			return "", errAt(start, "expected %s, found '!': negated existence is not part of the NGSI-LD query language", what)
		}
		return "", errAt(start, "expected %s (a letter followed by letters, digits or '_'), found %s", what, p.found())
	}
	i := start
	for i < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[i:])
		if !isNameRune(r) && r != '-' {
			break
		}
		i += size
	}
	if i+1 < len(p.s) && p.s[i] == ':' {
		if r, _ := utf8.DecodeRuneInString(p.s[i+1:]); unicode.IsLetter(r) {
			i++ // prefix:name
			for i < len(p.s) {
				r, size := utf8.DecodeRuneInString(p.s[i:])
				if !isNameRune(r) {
					break
				}
				i += size
			}
			p.pos = i
			return p.s[start:i], nil
		}
	}
	// Not a prefix: '-' is not an AttrName character.
	if j := strings.IndexByte(p.s[start:i], '-'); j >= 0 {
		i = start + j
	}
	p.pos = i
	return p.s[start:i], nil
}

// member reads one JSON member name of a trailing path.
func (p *parser) member() (string, error) {
	start := p.pos
	if p.peek() == '*' {
		p.pos++
		return "*", nil
	}
	for p.pos < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[p.pos:])
		if !isNameRune(r) && r != '-' && r != '@' && r != ':' {
			break
		}
		p.pos += size
	}
	if p.pos == start {
		return "", errAt(start, "expected a member name (letters, digits, '_', '-', '@', ':') or '*' in trailing path, found %s", p.found())
	}
	return p.s[start:p.pos], nil
}

// iriEnd returns the end of an expanded IRI attribute name starting at
// pos ("scheme://..." or "urn:..."), or 0 if there is none.
func iriEnd(s string, pos int) int {
	i := pos
	if i >= len(s) || !isASCIILetter(s[i]) {
		return 0
	}
	for i < len(s) && (isASCIILetter(s[i]) || isDigit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
		i++
	}
	if i >= len(s) || s[i] != ':' {
		return 0
	}
	body := i + 1
	if strings.HasPrefix(s[body:], "//") {
		body += 2
	} else if !strings.EqualFold(s[pos:i], "urn") {
		return 0
	}
	j := body
	for j < len(s) && iriChar(s[j]) {
		j++
	}
	if j == body {
		return 0
	}
	return j
}

func iriChar(c byte) bool {
	if c >= utf8.RuneSelf {
		return true
	}
	return isASCIILetter(c) || isDigit(c) || strings.IndexByte("-._:/?#@$&'*+%", c) >= 0
}

// checkPercent rejects '%' not followed by two hex digits in s[start:end].
func checkPercent(s string, start, end int) error {
	for i := start; i < end; i++ {
		if s[i] == '%' && (i+2 >= end || !isHex(s[i+1]) || !isHex(s[i+2])) {
			return errAt(i, "invalid percent-encoding: '%%' must be followed by two hexadecimal digits")
		}
	}
	return nil
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool       { return c >= '0' && c <= '9' }
func isHex(c byte) bool         { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// ---- values ----

// rawChar reports whether c may appear in an unquoted value: the RFC 3986
// URI characters minus the ones the query syntax uses ( ) , ;.
func rawChar(c byte) bool {
	if c >= utf8.RuneSelf {
		return true
	}
	return isASCIILetter(c) || isDigit(c) || strings.IndexByte("-._~:/?#[]@!$&'*+=%", c) >= 0
}

func rawEnd(s string, i int) int {
	for i < len(s) && rawChar(s[i]) {
		i++
	}
	return i
}

// endsWithSeconds reports whether tok ends in dd:dd:dd.
func endsWithSeconds(tok string) bool {
	n := len(tok)
	if n < 8 {
		return false
	}
	t := tok[n-8:]
	return isDigit(t[0]) && isDigit(t[1]) && t[2] == ':' && isDigit(t[3]) && isDigit(t[4]) && t[5] == ':' && isDigit(t[6]) && isDigit(t[7])
}

// scalar reads one value (quoted or not). For an unquoted token holding
// "..", only the part before it is consumed when that part is a
// comparable value, so that the caller sees the range operator.
func (p *parser) scalar(after string) (Value, int, error) {
	start := p.pos
	if p.peek() == '"' {
		v, err := p.quoted()
		return v, start, err
	}
	end := rawEnd(p.s, start)
	// Clause 4.6.3 allows a comma before fractional seconds, which clashes
	// with the ValueList comma. A list item cannot end in ":ss" without
	// its "Z", so ",digits Z" right after seconds belongs to the time.
	for end < len(p.s) && p.s[end] == ',' && isDigit(p.s[start]) && endsWithSeconds(p.s[start:end]) {
		j := end + 1
		for j < len(p.s) && isDigit(p.s[j]) {
			j++
		}
		if j == end+1 || j >= len(p.s) || p.s[j] != 'Z' {
			break
		}
		end = rawEnd(p.s, j+1)
	}
	if end == start {
		return Value{}, start, errAt(start, "expected a value after '%s', found %s", after, p.found())
	}
	tok := p.s[start:end]
	if i := strings.Index(tok, ".."); i > 0 {
		// A URI is never a range bound, so a token such as urn:a..b stays
		// whole; anything that starts like a number, a date or a boolean
		// is the lower bound of a range.
		v, err := classify(tok[:i], start)
		if err == nil && (v.Kind.comparable() || v.Kind == Bool) {
			p.pos = start + i
			return v, start, nil
		}
		if isDigit(tok[0]) || tok[0] == '-' {
			return Value{}, start, err
		}
	}
	v, err := classify(tok, start)
	if err != nil {
		return Value{}, start, err
	}
	p.pos = end
	return v, start, nil
}

// classify turns an unquoted token into a Value.
func classify(tok string, pos int) (Value, error) {
	switch tok {
	case "true":
		return Value{Kind: Bool, B: true}, nil
	case "false":
		return Value{Kind: Bool}, nil
	}
	c := tok[0]
	if isDigit(c) || c == '-' {
		if len(tok) >= 5 && isDigit(tok[0]) && isDigit(tok[1]) && isDigit(tok[2]) && isDigit(tok[3]) && tok[4] == '-' {
			if len(tok) == 10 {
				t, ok := parseDate(tok)
				if !ok {
					return Value{}, errAt(pos, "invalid Date %q: expected YYYY-MM-DD", tok)
				}
				return Value{Kind: Date, T: t, S: formatDate(t)}, nil
			}
			t, ok := parseDateTime(tok, 6)
			if !ok {
				return Value{}, errAt(pos, "invalid DateTime %q: expected YYYY-MM-DDThh:mm:ssZ with at most 6 fractional digits, in UTC ('Z')", tok)
			}
			return Value{Kind: DateTime, T: t, S: formatDateTime(t)}, nil
		}
		if len(tok) >= 3 && isDigit(tok[0]) && isDigit(tok[1]) && tok[2] == ':' {
			t, ok := parseTime(tok, 6)
			if !ok {
				return Value{}, errAt(pos, "invalid Time %q: expected hh:mm:ssZ with at most 6 fractional digits, in UTC ('Z')", tok)
			}
			return Value{Kind: Time, T: t, S: formatTime(t)}, nil
		}
		if !isJSONNumber(tok) {
			return Value{}, errAt(pos, "invalid number %q: expected a JSON number such as 42, -1.5 or 2.5e3", tok)
		}
		n, err := strconv.ParseFloat(tok, 64)
		if err != nil || math.IsInf(n, 0) {
			return Value{}, errAt(pos, "number %q is out of range", tok)
		}
		return Value{Kind: Number, N: n}, nil
	}
	if r, _ := utf8.DecodeRuneInString(tok); unicode.IsLetter(r) {
		if err := checkPercent(tok, 0, len(tok)); err != nil {
			err.(*SyntaxError).Pos += pos
			return Value{}, err
		}
		return Value{Kind: URI, S: tok}, nil
	}
	return Value{}, errAt(pos, "invalid value %q: expected a number, a quoted string, true, false, a date/time or a URI", tok)
}

// isJSONNumber matches RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// quoted reads a JSON string starting at the opening quote.
func (p *parser) quoted() (Value, error) {
	start := p.pos
	i := start + 1
	var b []byte // nil until an escape is seen
	from := i
	for {
		if i >= len(p.s) {
			return Value{}, errAt(start, "unterminated string: missing closing '\"' for the string starting at position %d", start)
		}
		c := p.s[i]
		switch {
		case c == '"':
			var s string
			if b == nil {
				s = p.s[from:i]
			} else {
				s = string(append(b, p.s[from:i]...))
			}
			p.pos = i + 1
			return Value{Kind: String, S: s}, nil
		case c < 0x20:
			return Value{}, errAt(i, "control character %s in string must be escaped", strconv.QuoteRune(rune(c)))
		case c == '\\':
			b = append(b, p.s[from:i]...)
			if i+1 >= len(p.s) {
				return Value{}, errAt(start, "unterminated string: missing closing '\"' for the string starting at position %d", start)
			}
			esc := p.s[i+1]
			switch esc {
			case '"', '\\', '/':
				b = append(b, esc)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(p.s, i+2)
				if !ok {
					return Value{}, errAt(i, "invalid escape: '\\u' must be followed by four hexadecimal digits")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(p.s, i+2); ok && p.s[i] == '\\' && p.s[i+1] == 'u' {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r = d
							i += 6
						}
					}
					if utf16.IsSurrogate(r) {
						r = utf8.RuneError // lone surrogate, as encoding/json does
					}
				}
				b = utf8.AppendRune(b, r)
				from = i
				continue
			default:
				return Value{}, errAt(i, "invalid escape sequence %q in string: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX", p.s[i:i+2])
			}
			i += 2
			from = i
		default:
			i++
		}
	}
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case isDigit(c):
			d = c - '0'
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			d = (c | 0x20) - 'a' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// equalityValue parses CompEqualityValue: a value, a value list or a range.
func (p *parser) equalityValue(t *Term) error {
	first, firstPos, err := p.scalar(t.Op)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(p.s[p.pos:], ".."):
		if !first.Kind.comparable() {
			return errAt(firstPos, "invalid range bound: a range needs numbers, quoted strings, dates, times or DateTimes, not a %s", first.Kind)
		}
		p.pos += 2
		second, secondPos, err := p.scalar("..")
		if err != nil {
			return err
		}
		if !second.Kind.comparable() {
			return errAt(secondPos, "invalid range bound: a range needs numbers, quoted strings, dates, times or DateTimes, not a %s", second.Kind)
		}
		if second.Kind != first.Kind {
			return errAt(secondPos, "range bounds must have the same type: %s..%s", first.Kind, second.Kind)
		}
		if strings.HasPrefix(p.s[p.pos:], "..") {
			return errAt(p.pos, "a range has exactly two bounds: unexpected second '..'")
		}
		if p.peek() == ',' {
			return errAt(p.pos, "a range cannot be combined with a value list")
		}
		t.Range = &[2]Value{first, second}
	case p.peek() == ',':
		t.List = []Value{first}
		for p.peek() == ',' {
			p.pos++
			v, _, err := p.scalar(",")
			if err != nil {
				return err
			}
			if strings.HasPrefix(p.s[p.pos:], "..") {
				return errAt(p.pos, "ranges are not allowed inside a value list")
			}
			t.List = append(t.List, v)
		}
	default:
		t.Value = first
	}
	return nil
}

// orderedValue parses the ComparableValue of >, >=, < and <=.
func (p *parser) orderedValue(t *Term) error {
	v, vPos, err := p.scalar(t.Op)
	if err != nil {
		return err
	}
	switch v.Kind {
	case Bool:
		return errAt(vPos, "operator '%s' cannot compare booleans: true and false only work with '==' and '!='", t.Op)
	case URI:
		return errAt(vPos, "operator '%s' needs a number, quoted string, date, time or DateTime, found unquoted %q; quote text as \"...\"", t.Op, v.S)
	}
	if strings.HasPrefix(p.s[p.pos:], "..") {
		return errAt(p.pos, "ranges are only allowed with '==' and '!=', not '%s'", t.Op)
	}
	if p.peek() == ',' {
		return errAt(p.pos, "value lists are only allowed with '==' and '!=', not '%s'", t.Op)
	}
	t.Value = v
	return nil
}

// ---- regular expressions ----

// regexp reads a pattern up to the first ';', '|' or unbalanced ')' that
// is outside brackets, escapes and the pattern's own parentheses.
func (p *parser) regexp(op string) (*regexp.Regexp, error) {
	start := p.pos
	s := p.s
	i := start
	depth := 0
scan:
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
			continue
		case '[':
			i = classEnd(s, i)
			continue
		case '(':
			depth++
		case ')':
			if depth == 0 {
				break scan
			}
			depth--
		case ';', '|':
			if depth == 0 {
				break scan
			}
		}
		i++
	}
	if i > len(s) {
		i = len(s)
	}
	p.pos = i
	src := s[start:i]
	if src == "" {
		return nil, errAt(start, "expected a regular expression after '%s', found %s", op, p.found())
	}
	if len(src) > MaxRegexpLen {
		return nil, errAt(start, "regular expression is too long: %d bytes, at most %d are allowed", len(src), MaxRegexpLen)
	}
	tree, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, errAt(start, "invalid regular expression: %s", reError(err))
	}
	cost := regexpCost(tree)
	if cost > maxRegexpCost {
		return nil, errAt(start, "regular expression is too complex: it expands to about %d instructions, at most %d are allowed (reduce counted repetitions such as {1000})", cost, maxRegexpCost)
	}
	p.reCost += cost
	if p.reCost > maxQueryRegexpCost {
		return nil, errAt(start, "regular expressions are too complex: together they expand to about %d instructions, at most %d are allowed per query", p.reCost, maxQueryRegexpCost)
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, errAt(start, "invalid regular expression: %s", reError(err))
	}
	return re, nil
}

func reError(err error) string {
	if se, ok := err.(*syntax.Error); ok {
		return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
	}
	return err.Error()
}

// classEnd returns the index just after the bracket expression starting
// at s[i] == '[', following RE2: a ']' right after '[' or '[^' is
// literal, '\' escapes, and [:name:] is a nested class name.
func classEnd(s string, i int) int {
	i++
	if i < len(s) && s[i] == '^' {
		i++
	}
	if i < len(s) && s[i] == ']' {
		i++
	}
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
			continue
		case '[':
			if i+1 < len(s) && s[i+1] == ':' {
				if j := strings.Index(s[i+2:], ":]"); j >= 0 {
					i += 2 + j + 2
					continue
				}
			}
		case ']':
			return i + 1
		}
		i++
	}
	return len(s)
}

// regexpCost estimates the compiled size of a pattern, multiplying by
// counted repetitions, which RE2 compiles by copying their operand.
func regexpCost(re *syntax.Regexp) int {
	sub := 0
	for _, r := range re.Sub {
		sub += regexpCost(r)
	}
	n := 1 + sub
	switch re.Op {
	case syntax.OpLiteral:
		n = len(re.Rune)
	case syntax.OpRepeat:
		m := re.Max
		if m < re.Min {
			m = re.Min // {n,}
		}
		n = 1 + m*sub
	}
	return min(n, 1<<20) // RE2 caps nesting at 1000; this keeps sums small
}

// ---- temporal values (clause 4.6.3) ----

func num(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// parseYMD parses exactly YYYY-MM-DD, validating the day of the month.
func parseYMD(s string) (y, m, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := num(s, 0, 4)
	m, ok2 := num(s, 5, 2)
	d, ok3 := num(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return 0, 0, 0, false
	}
	if d > time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// parseClock parses hh:mm:ss[(.|,)f{1,maxFrac}]Z exactly.
func parseClock(s string, maxFrac int) (h, m, sec, ns int, ok bool) {
	if len(s) < 9 || s[2] != ':' || s[5] != ':' || s[len(s)-1] != 'Z' {
		return 0, 0, 0, 0, false
	}
	h, ok1 := num(s, 0, 2)
	m, ok2 := num(s, 3, 2)
	sec, ok3 := num(s, 6, 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return 0, 0, 0, 0, false
	}
	frac := s[8 : len(s)-1]
	if frac != "" {
		if frac[0] != '.' && frac[0] != ',' {
			return 0, 0, 0, 0, false
		}
		digits := frac[1:]
		if len(digits) == 0 || len(digits) > maxFrac {
			return 0, 0, 0, 0, false
		}
		v, ok := num(digits, 0, len(digits))
		if !ok {
			return 0, 0, 0, 0, false
		}
		for k := len(digits); k < 9; k++ {
			v *= 10
		}
		ns = v
	}
	return h, m, sec, ns, true
}

func parseDate(s string) (time.Time, bool) {
	y, m, d, ok := parseYMD(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

func parseTime(s string, maxFrac int) (time.Time, bool) {
	h, m, sec, ns, ok := parseClock(s, maxFrac)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(0, 1, 1, h, m, sec, ns, time.UTC), true
}

func parseDateTime(s string, maxFrac int) (time.Time, bool) {
	if len(s) < 20 || s[10] != 'T' {
		return time.Time{}, false
	}
	y, mo, d, ok := parseYMD(s[:10])
	if !ok {
		return time.Time{}, false
	}
	h, m, sec, ns, ok := parseClock(s[11:], maxFrac)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, m, sec, ns, time.UTC), true
}
