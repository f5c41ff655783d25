package q

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// validQueries pairs accepted queries with their canonical String().
// Examples 0-12 of clause 4.9 come first.
var validQueries = []struct{ in, want string }{
	{`temperature`, `temperature`},
	{`temperature==20`, `temperature==20`},
	{`brandName!="Mercedes"`, `brandName!="Mercedes"`},
	{`isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"`, `isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"`},
	{`speed>50;brandName!="Mercedes"`, `speed>50;brandName!="Mercedes"`},
	{`isMonitoredBy`, `isMonitoredBy`},
	{`((speed>50|rpm>3000);brandName=="Mercedes")`, `(speed>50|rpm>3000);brandName=="Mercedes"`},
	{`(temperature>=20;temperature<=25)|capacity<=10`, `temperature>=20;temperature<=25|capacity<=10`},
	{`temperature.observedAt>=2017-12-24T12:00:00Z`, `temperature.observedAt>=2017-12-24T12:00:00Z`},
	{`address[city]=="Berlin"`, `address[city]=="Berlin"`},
	{`sensor.rawdata[airquality.particulate]==40`, `sensor.rawdata[airquality.particulate]==40`},
	{`parkingTickets[value]=="Overstay 60 minutes"`, `parkingTickets[value]=="Overstay 60 minutes"`},
	{`gender==Male`, `gender==Male`},
	{`color[en]=="red"`, `color[en]=="red"`},
	{`color[*]!="red"`, `color[*]!="red"`},
	{`temperature==10..20`, `temperature==10..20`},
	{`temperature!=10..20`, `temperature!=10..20`},
	{`color=="black","red"`, `color=="black","red"`},
	// Relationship targets and URIs
	{`refDevice==urn:ngsi-ld:Device:x`, `refDevice==urn:ngsi-ld:Device:x`},
	{`refDevice==urn:a,urn:b`, `refDevice==urn:a,urn:b`},
	{`a==http://example.org/red?x=1#frag`, `a==http://example.org/red?x=1#frag`},
	{`a==urn:x%2Fy`, `a==urn:x%2Fy`},
	{`a==1,true,"x",urn:y`, `a==1,true,"x",urn:y`},
	{`a==urn:a..b`, `a==urn:a..b`},
	// precedence and grouping
	{`a==1|b==2;c==3`, `a==1|b==2;c==3`},
	{`(a==1|b==2);c==3`, `(a==1|b==2);c==3`},
	{`a==1;(b==2;c==3)`, `a==1;(b==2;c==3)`},
	{`a==1;b==2;c==3`, `a==1;b==2;c==3`},
	{`a|(b|c)`, `a|(b|c)`},
	{`(a|b)|c`, `a|b|c`},
	{`(((a)))`, `a`},
	{`a;(b|c);d`, `a;(b|c);d`},
	{`(a;b)|(c;d)`, `a;b|c;d`},
	// regular expressions
	{`name~=^Kim`, `name~=^Kim`},
	{`name!~=(?i)long$`, `name!~=(?i)long$`},
	{`name~=(Kim|Lee)`, `name~=(Kim|Lee)`},
	{`(name~=Kim;status=="ok")`, `name~=Kim;status=="ok"`},
	{`name~=[;|)]x|b`, `name~=[;|)]x|b`},
	{`name~=a\|b;c`, `name~=a\|b;c`},
	{`name~=Kim Long`, `name~=Kim Long`},
	{`name~=[[:alpha:];]+`, `name~=[[:alpha:];]+`},
	{`name~==x`, `name~==x`},
	// numbers
	{`temperature==-3.5e2`, `temperature==-350`},
	{`n==1e21`, `n==1e21`},
	{`n==1000`, `n==1000`},
	{`n==100000`, `n==1e5`},
	{`n==0.000001`, `n==1e-6`},
	{`n==1.50`, `n==1.5`},
	{`n==-0`, `n==-0`},
	{`n>=0.5E+1`, `n>=5`},
	// booleans and temporal values
	{`active==true`, `active==true`},
	{`active!=false`, `active!=false`},
	{`day==2026-01-01`, `day==2026-01-01`},
	{`day==2024-02-29`, `day==2024-02-29`},
	{`opens<08:30:00Z`, `opens<08:30:00Z`},
	{`opens<08:30:00,5Z`, `opens<08:30:00.5Z`},
	{`opens==08:30:00,5Z,09:00:00Z`, `opens==08:30:00.5Z,09:00:00Z`},
	{`opens==08:00:00,5Z..09:00:00,25Z`, `opens==08:00:00.5Z..09:00:00.25Z`},
	{`t==2026-01-01T00:00:00,5Z,1`, `t==2026-01-01T00:00:00.5Z,1`},
	{`t>2026-01-01T00:00:00.500000Z`, `t>2026-01-01T00:00:00.5Z`},
	{`t==2026-01-01T00:00:00Z..2026-12-31T23:59:59Z`, `t==2026-01-01T00:00:00Z..2026-12-31T23:59:59Z`},
	{`day!=2026-01-01..2026-06-30`, `day!=2026-01-01..2026-06-30`},
	// strings
	{`name=="Kim \"Long\""`, `name=="Kim \"Long\""`},
	{`name=="a\u00e9\/b"`, `name=="aé/b"`},
	{`name=="tab\there\\"`, `name=="tab\there\\"`},
	{`name=="\ud83d\ude00"`, `name=="😀"`},
	{`name=="x".."z"`, `name=="x".."z"`},
	{`a==""`, `a==""`},
	{`a=="; | ( ) , .."`, `a=="; | ( ) , .."`},
	// attribute names
	{`ngsi-ld:createdAt>2026-01-01T00:00:00Z`, `ngsi-ld:createdAt>2026-01-01T00:00:00Z`},
	{`schema:name=="x"`, `schema:name=="x"`},
	{`https://uri.etsi.org/ngsi-ld/default-context/temperature>20`, `https://uri.etsi.org/ngsi-ld/default-context/temperature>20`},
	{`urn:ngsi-ld:attr:t.x[y]==1`, `urn:ngsi-ld:attr:t.x[y]==1`},
	{`température>20`, `température>20`},
	{`a.b.c[d.e.f]`, `a.b.c[d.e.f]`},
	{`address.streetAddress~=^12`, `address.streetAddress~=^12`},
	{`label[@none]=="x"`, `label[@none]=="x"`},
	{`pm2_5>=35.5`, `pm2_5>=35.5`},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validQueries {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): unexpected error %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
			continue
		}
		e2, err := Parse(tc.want)
		if err != nil {
			t.Errorf("re-Parse(%q): %v", tc.want, err)
			continue
		}
		if !exprEqual(e, e2) {
			t.Errorf("re-Parse(%q) gave a different AST", tc.want)
		}
	}
}

// invalidQueries pairs rejected queries with the error position and a
// fragment the message must contain.
var invalidQueries = []struct {
	in   string
	pos  int
	frag string
}{
	{``, 0, "empty query"},
	{`(a==1`, 5, "missing ')' to close the '(' at position 0"},
	{`(a==1;b==2`, 10, "missing ')'"},
	{`((a==1)`, 7, "missing ')' to close the '(' at position 0"},
	{`a==1)`, 4, "unexpected ')' without a matching '('"},
	{`a==1)(`, 4, "unexpected ')'"},
	{`()`, 0, "empty parentheses"},
	{`(a)b`, 3, "unexpected 'b' after ')'"},
	{`((a)b)`, 4, "unexpected 'b' after ')'"},
	{`(a==1)(b==2)`, 6, "unexpected '(' after ')'"},
	{`(a==1) `, 6, "whitespace"},
	{`(;a)`, 1, "after '(', found ';'"},
	{`a==08:30:00,5`, 3, "invalid Time"},
	{`a==08:30:00,Z`, 3, "invalid Time"},
	{`a==1;`, 5, "expected a query term or '(' after ';', found end of query"},
	{`a==1|`, 5, "after '|'"},
	{`;a==1`, 0, "expected an attribute name or '('"},
	{`a==1;;b==2`, 5, "after ';', found ';'"},
	{`a==1||b==2`, 5, "after '|', found '|'"},
	{`a=1`, 1, "invalid operator '=': use '=='"},
	{`a!1`, 1, "expected '!=' or '!~='"},
	{`a~1`, 1, "expected '~='"},
	{`a=="abc`, 3, "unterminated string"},
	{`a=="abc\`, 3, "unterminated string"},
	{`a=="\x"`, 4, `invalid escape sequence "\\x"`},
	{`a=="\u12"`, 4, "four hexadecimal digits"},
	{"a==\"x\ty\"", 5, "control character"},
	{`a==`, 3, "expected a value after '==', found end of query"},
	{`a==;b`, 3, "expected a value after '==', found ';'"},
	{`a<>1`, 2, "expected a value after '<', found '>'"},
	{`a==1..`, 6, "expected a value after '..'"},
	{`a==..5`, 3, `invalid value "..5"`},
	{`a==1..5..7`, 7, "exactly two bounds"},
	{`a==1..5,6`, 7, "range cannot be combined with a value list"},
	{`a==1,2..3`, 6, "ranges are not allowed inside a value list"},
	{`a=="x"..5`, 8, "same type"},
	{`a==true..false`, 3, "invalid range bound"},
	{`a==2026-01-01..x`, 15, "invalid range bound"},
	{`a==1,`, 5, "expected a value after ','"},
	{`a==1,,2`, 5, "expected a value after ','"},
	{`a>true`, 2, "cannot compare booleans"},
	{`a>abc`, 2, `quote text`},
	{`a>1..5`, 3, "ranges are only allowed with '==' and '!='"},
	{`a>1,2`, 3, "value lists are only allowed"},
	{`a==12abc`, 3, `invalid number "12abc"`},
	{`a==-`, 3, "invalid number"},
	{`a==01`, 3, "invalid number"},
	{`a==1e999`, 3, "out of range"},
	{`a==2026-13-01`, 3, "invalid Date"},
	{`a==2026-02-29`, 3, "invalid Date"},
	{`a==2026-01-01T25:00:00Z`, 3, "invalid DateTime"},
	{`a==2026-01-01T10:00:00`, 3, "invalid DateTime"},
	{`a==2026-01-01T10:00:00+02:00`, 3, "invalid DateTime"},
	{`a==2026-01-01T00:00:00.1234567Z`, 3, "at most 6 fractional digits"},
	{`a==10:00:00`, 3, "invalid Time"},
	{`a==1:00:00Z`, 3, "invalid number"},
	{`a==urn:x%zz`, 8, "percent-encoding"},
	{`a==x y`, 4, "whitespace"},
	{`a==1 ;b==2`, 4, "whitespace"},
	{` a==1`, 0, "whitespace"},
	{`a==1(b)`, 4, "unexpected '(' after value"},
	{`a=="x"y`, 6, "after value"},
	{`a.`, 2, "expected a sub-attribute name after '.'"},
	{`a..b==1`, 2, "sub-attribute"},
	{`a[`, 2, "member name"},
	{`a[]`, 2, "member name"},
	{`a[b`, 3, "expected '.' or ']'"},
	{`a[b][c]`, 4, "only one trailing path"},
	{`a{b}==1`, 1, "linked-entity"},
	{`a[b]{c}==1`, 4, "linked-entity"},
	{`1abc==1`, 0, "expected an attribute name"},
	{`!a`, 0, "negated existence"},
	{`temp-1>5`, 4, "unexpected '-' after attribute path"},
	{`a(b)`, 1, "expected an operator"},
	{`a~=`, 3, "expected a regular expression after '~='"},
	{`a~=;b`, 3, "expected a regular expression"},
	{`a~=(`, 3, "invalid regular expression: missing closing )"},
	{`a~=[`, 3, "invalid regular expression: missing closing ]"},
	{`a!~=x**`, 4, "invalid nested repetition operator"},
	{`a~=` + strings.Repeat("x", MaxRegexpLen+1), 3, "regular expression is too long"},
	{`a~=[a-z]{1000}[a-z]{1000}`, 3, "too complex"},
	{`a~=x{999};b~=x{999};c~=x{999};d~=x{999};e~=x{999}`, 43, "together they expand"},
	{strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1), MaxDepth, "nested too deeply"},
	{`a==` + strings.Repeat("1", MaxQueryLen), MaxQueryLen, "query is too long"},
	{strings.Repeat("a;", MaxTerms) + "a", 2 * MaxTerms, "too many query terms"},
	{"a==\xff", 3, "not valid UTF-8"},
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidQueries {
		e, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, e, tc.frag)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): error %T is not a *SyntaxError", tc.in, err)
			continue
		}
		if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.frag) {
			t.Errorf("Parse(%q) error = pos %d %q, want pos %d containing %q", tc.in, se.Pos, se.Msg, tc.pos, tc.frag)
		}
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	_, err := Parse(`a=1`)
	want := "invalid query at position 1: invalid operator '=': use '==' to test equality"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestLimitsAccepted(t *testing.T) {
	for name, s := range map[string]string{
		"depth":  strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth),
		"terms":  strings.Repeat("a;", MaxTerms-1) + "a",
		"regexp": "a~=" + strings.Repeat("x", MaxRegexpLen),
		"length": `a=="` + strings.Repeat("x", MaxQueryLen-5) + `"`,
		"repeat": "a~=[a-z]{1000}",
	} {
		if _, err := Parse(s); err != nil {
			t.Errorf("%s: Parse at the limit failed: %v", name, err)
		}
	}
}

func mkTerm(path string, op string, v Value) Term {
	return Term{Path: Path{Attr: path}, Op: op, Value: v}
}

func numV(n float64) Value { return Value{Kind: Number, N: n} }

func TestPrecedence(t *testing.T) {
	a, b, c, d := mkTerm("a", "==", numV(1)), mkTerm("b", "==", numV(2)), mkTerm("c", "==", numV(3)), mkTerm("d", "==", numV(4))
	tests := []struct {
		in   string
		want Expr
	}{
		{`a==1|b==2;c==3`, Or{a, And{b, c}}},
		{`a==1;b==2|c==3`, Or{And{a, b}, c}},
		{`(a==1|b==2);c==3`, And{Or{a, b}, c}},
		{`a==1;b==2;c==3`, And{And{a, b}, c}},
		{`a==1|b==2|c==3`, Or{Or{a, b}, c}},
		{`a==1;(b==2|c==3);d==4`, And{And{a, Or{b, c}}, d}},
		{`a==1|b==2;c==3|d==4`, Or{Or{a, And{b, c}}, d}},
		{`((a==1))`, a},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !exprEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseTermFields(t *testing.T) {
	e, err := Parse(`sensor.rawdata[airquality.particulate]==40`)
	if err != nil {
		t.Fatal(err)
	}
	tm := e.(Term)
	if tm.Path.Attr != "sensor" || strings.Join(tm.Path.Sub, ",") != "rawdata" || strings.Join(tm.Path.Trail, ",") != "airquality,particulate" {
		t.Errorf("path = %#v", tm.Path)
	}
	if tm.Op != "==" || tm.Value.Kind != Number || tm.Value.N != 40 {
		t.Errorf("term = %#v", tm)
	}

	e, _ = Parse(`t>=2017-12-24T12:00:00,25Z`)
	v := e.(Term).Value
	want := time.Date(2017, 12, 24, 12, 0, 0, 250_000_000, time.UTC)
	if v.Kind != DateTime || !v.T.Equal(want) || v.S != "2017-12-24T12:00:00.25Z" {
		t.Errorf("DateTime value = %#v", v)
	}

	e, _ = Parse(`x==urn:a,"b",2`)
	l := e.(Term).List
	if len(l) != 3 || l[0].Kind != URI || l[0].S != "urn:a" || l[1].Kind != String || l[2].Kind != Number {
		t.Errorf("list = %#v", l)
	}

	e, _ = Parse(`x!=1..2.5`)
	r := e.(Term).Range
	if r == nil || r[0].N != 1 || r[1].N != 2.5 || e.(Term).List != nil {
		t.Errorf("range = %#v", r)
	}

	e, _ = Parse(`x`)
	if tm := e.(Term); tm.Op != "" || tm.Value.Kind != None {
		t.Errorf("existence term = %#v", tm)
	}
}

func TestAttrs(t *testing.T) {
	e, err := Parse(`temperature>20;status=="ok"|(pm25>=35.5;pm25<55);temperature.observedAt>2026-01-01T00:00:00Z;address[city]=="Huế"`)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Attrs(e), ",")
	if want := "temperature,status,pm25,address"; got != want {
		t.Errorf("Attrs = %s, want %s", got, want)
	}
}

func TestFormatNumber(t *testing.T) {
	for _, tc := range []struct {
		n    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "-0"}, {21.5, "21.5"}, {-350, "-350"},
		{1000, "1000"}, {25000, "25000"}, {100000, "1e5"}, {1.5e6, "1.5e6"},
		{0.001, "0.001"}, {0.0001, "1e-4"}, {1e21, "1e21"}, {123456789, "123456789"},
		{math.MaxFloat64, "1.7976931348623157e308"}, {5e-324, "5e-324"},
	} {
		if got := formatNumber(tc.n); got != tc.want {
			t.Errorf("formatNumber(%v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// exprEqual compares ASTs structurally: values by kind and meaning (time
// instants, numbers), regexps by source.
func exprEqual(a, b Expr) bool {
	switch a := a.(type) {
	case And:
		b, ok := b.(And)
		return ok && exprEqual(a.L, b.L) && exprEqual(a.R, b.R)
	case Or:
		b, ok := b.(Or)
		return ok && exprEqual(a.L, b.L) && exprEqual(a.R, b.R)
	case Term:
		b, ok := b.(Term)
		if !ok || a.Op != b.Op || !pathEqual(a.Path, b.Path) || !valueEqual(a.Value, b.Value) {
			return false
		}
		if (a.Regexp == nil) != (b.Regexp == nil) || a.Regexp != nil && a.Regexp.String() != b.Regexp.String() {
			return false
		}
		if (a.Range == nil) != (b.Range == nil) || a.Range != nil && (!valueEqual(a.Range[0], b.Range[0]) || !valueEqual(a.Range[1], b.Range[1])) {
			return false
		}
		if (a.List == nil) != (b.List == nil) || len(a.List) != len(b.List) {
			return false
		}
		for i := range a.List {
			if !valueEqual(a.List[i], b.List[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func pathEqual(a, b Path) bool {
	return a.Attr == b.Attr && strings.Join(a.Sub, "\x00") == strings.Join(b.Sub, "\x00") &&
		len(a.Sub) == len(b.Sub) && len(a.Trail) == len(b.Trail) &&
		strings.Join(a.Trail, "\x00") == strings.Join(b.Trail, "\x00")
}

func valueEqual(a, b Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case String, URI:
		return a.S == b.S
	case Number:
		return a.N == b.N && math.Signbit(a.N) == math.Signbit(b.N)
	case Bool:
		return a.B == b.B
	case DateTime, Date, Time:
		return a.T.Equal(b.T) && a.S == b.S
	}
	return true
}
