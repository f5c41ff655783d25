package q

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Expr is a parsed query: an And, an Or or a Term. It is sealed so that
// Eval, Attrs and storage translators can switch over every case.
type Expr interface {
	// String prints the canonical form, which Parse turns back into an
	// equal Expr; it is meant for logs, cache keys and error reports.
	String() string
	write(b *strings.Builder)
}

// And is the ";" operator: both sides must match.
type And struct{ L, R Expr }

// Or is the "|" operator: at least one side must match.
type Or struct{ L, R Expr }

// Term is one predicate on an attribute path. Exactly one of Value, List,
// Range and Regexp is set for the operator, or none for an existence test.
type Term struct {
	Path Path
	// Op is "", "==", "!=", ">", ">=", "<", "<=", "~=" or "!~="; ""
	// tests that the target element exists.
	Op     string
	Value  Value
	List   []Value        // == / != against any of several values
	Range  *[2]Value      // == / != against min..max, both included
	Regexp *regexp.Regexp // ~= and !~=
}

// Path addresses the target element of a Term: an attribute, then
// sub-attributes (Properties of Properties, or system members such as
// observedAt), then an optional trailing path into the JSON value.
type Path struct {
	Attr  string   // top-level attribute name (short name, prefix:name or IRI)
	Sub   []string // dot-separated sub-attributes, resolved by the getter
	Trail []string // bracketed member path into a compound value, resolved by Eval; "*" is any member
}

// Kind tells which field of a Value is meaningful, so comparisons can
// refuse values of different types as clause 4.9 requires.
type Kind uint8

// The kinds of query values. None is the zero Kind, used by Terms that
// carry no single value (existence, list, range and pattern terms).
const (
	None     Kind = iota
	String        // quoted string, in S
	Number        // JSON number, in N
	Bool          // true or false, in B
	DateTime      // YYYY-MM-DDThh:mm:ss[.ffffff]Z, in T (UTC)
	Date          // YYYY-MM-DD, in T at midnight UTC
	Time          // hh:mm:ss[.ffffff]Z, in T on 0000-01-01 UTC
	URI           // unquoted URI or term, in S
)

var kindNames = [...]string{"none", "string", "number", "boolean", "DateTime", "Date", "Time", "URI"}

// String names the kind for error messages.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// comparable reports whether the kind is a ComparableValue of the ABNF,
// i.e. allowed with ordering operators and as range bounds.
func (k Kind) comparable() bool {
	switch k {
	case String, Number, DateTime, Date, Time:
		return true
	}
	return false
}

// Value is one literal of a query. S also holds the canonical text of
// DateTime, Date and Time values as produced by Parse, so storage layers
// can use it without reformatting.
type Value struct {
	Kind Kind
	S    string
	N    float64
	B    bool
	T    time.Time
}

// String prints the value in the canonical query syntax.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	switch v.Kind {
	case String:
		writeQuoted(b, v.S)
	case Number:
		b.WriteString(formatNumber(v.N))
	case Bool:
		b.WriteString(strconv.FormatBool(v.B))
	case DateTime:
		b.WriteString(formatDateTime(v.T))
	case Date:
		b.WriteString(formatDate(v.T))
	case Time:
		b.WriteString(formatTime(v.T))
	case URI:
		b.WriteString(v.S)
	}
}

// formatNumber prints a float64 with the fewest digits that round-trip,
// in plain decimal unless the exponent form is more than one byte
// shorter (so 1000 stays 1000 but 1e21 does not become 22 digits).
func formatNumber(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0"
		}
		return "0"
	}
	plain := strconv.FormatFloat(f, 'f', -1, 64)
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp[1:], "0")
	if exp == "" {
		exp = "0"
	}
	short := mant + "e" + sign + exp
	if len(plain) <= len(short)+1 {
		return plain
	}
	return short
}

func formatFrac(b []byte, ns int) []byte {
	if ns == 0 {
		return b
	}
	us := ns / 1000 // the query syntax carries at most six digits
	if us == 0 {
		return b
	}
	d := []byte{'.', 0, 0, 0, 0, 0, 0}
	for i := 6; i >= 1; i-- {
		d[i] = byte('0' + us%10)
		us /= 10
	}
	n := len(d)
	for d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

func formatDateTime(t time.Time) string {
	t = t.UTC()
	b := t.AppendFormat(make([]byte, 0, 32), "2006-01-02T15:04:05")
	b = formatFrac(b, t.Nanosecond())
	return string(append(b, 'Z'))
}

func formatDate(t time.Time) string {
	return t.UTC().Format("2006-01-02")
}

func formatTime(t time.Time) string {
	t = t.UTC()
	b := t.AppendFormat(make([]byte, 0, 24), "15:04:05")
	b = formatFrac(b, t.Nanosecond())
	return string(append(b, 'Z'))
}

// writeQuoted writes s as a JSON string, escaping only what JSON requires
// so the canonical form is never longer than the input was.
func writeQuoted(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
		i++
	}
	b.WriteByte('"')
}

// String prints the path as written in a query, e.g. a.b[c.d], so error
// messages and logs can name it.
func (p Path) String() string {
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p Path) write(b *strings.Builder) {
	b.WriteString(p.Attr)
	for _, s := range p.Sub {
		b.WriteByte('.')
		b.WriteString(s)
	}
	if len(p.Trail) > 0 {
		b.WriteByte('[')
		for i, s := range p.Trail {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
		b.WriteByte(']')
	}
}

// String prints the canonical form of the term (see Expr).
func (t Term) String() string {
	var b strings.Builder
	t.write(&b)
	return b.String()
}

func (t Term) write(b *strings.Builder) {
	t.Path.write(b)
	if t.Op == "" {
		return
	}
	b.WriteString(t.Op)
	switch {
	case t.Regexp != nil:
		b.WriteString(t.Regexp.String())
	case t.Range != nil:
		t.Range[0].write(b)
		b.WriteString("..")
		t.Range[1].write(b)
	case t.List != nil:
		for i, v := range t.List {
			if i > 0 {
				b.WriteByte(',')
			}
			v.write(b)
		}
	default:
		t.Value.write(b)
	}
}

// String prints the canonical form; parentheses appear only where the
// tree shape needs them (left-nested chains print flat).
func (e And) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e And) write(b *strings.Builder) {
	writeGrouped(b, e.L, isOr(e.L))
	b.WriteByte(';')
	writeGrouped(b, e.R, isOr(e.R) || isAnd(e.R))
}

// String prints the canonical form; parentheses appear only where the
// tree shape needs them (left-nested chains print flat).
func (e Or) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e Or) write(b *strings.Builder) {
	e.L.write(b)
	b.WriteByte('|')
	writeGrouped(b, e.R, isOr(e.R))
}

func writeGrouped(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	e.write(b)
	if paren {
		b.WriteByte(')')
	}
}

func isOr(e Expr) bool {
	switch e.(type) {
	case Or, *Or:
		return true
	}
	return false
}

func isAnd(e Expr) bool {
	switch e.(type) {
	case And, *And:
		return true
	}
	return false
}
