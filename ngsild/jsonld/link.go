package jsonld

import (
	"fmt"
	"strings"
)

// ContextRel is the link relation of a JSON-LD context Link header.
const ContextRel = "http://www.w3.org/ns/json-ld#context"

// ContextType is the media type a JSON-LD context Link header names.
const ContextType = "application/ld+json"

// LinkHeader returns the Link header value that names url as the JSON-LD
// context, as NGSI-LD responses carry it.
func LinkHeader(url string) string {
	return "<" + url + `>; rel="` + ContextRel + `"; type="` + ContextType + `"`
}

// ParseLink finds the JSON-LD context in a Link header value (RFC 8288;
// join repeated Link header fields with ", " first:
// strings.Join(h.Values("Link"), ", ")).
//
// It returns ok=false and no error when no link has the relation type
// http://www.w3.org/ns/json-ld#context (links with other relations are
// ignored). It returns an error when the header is malformed, when more
// than one link names a JSON-LD context (JSON-LD 1.1 "multiple context
// link headers"), when such a link's type parameter is present but not
// application/ld+json, or when its target is not an absolute URL. A
// missing type parameter is accepted.
func ParseLink(header string) (url string, ok bool, err error) {
	p := linkParser{s: header}
	for {
		p.skipSeparators()
		if p.eof() {
			return url, ok, nil
		}
		target, params, err := p.linkValue()
		if err != nil {
			return "", false, err
		}
		rel, hasRel := params["rel"]
		if !hasRel || !hasRelation(rel, ContextRel) {
			continue
		}
		if ok {
			return "", false, fmt.Errorf("jsonld: more than one Link names a JSON-LD context (%s and %s)", quote(url), quote(target))
		}
		if t, has := params["type"]; has && !strings.EqualFold(strings.TrimSpace(t), ContextType) {
			return "", false, fmt.Errorf("jsonld: the JSON-LD context Link has type %s, want %s", quote(t), ContextType)
		}
		if !isAbsoluteIRI(target) {
			return "", false, fmt.Errorf("jsonld: the JSON-LD context Link target %s is not an absolute URL", quote(target))
		}
		url, ok = target, true
	}
}

// hasRelation reports whether a rel value (a space-separated list of
// relation types) contains want, compared case-insensitively (RFC 8288
// section 2.1.1).
func hasRelation(rel, want string) bool {
	for _, r := range strings.Fields(rel) {
		if strings.EqualFold(r, want) {
			return true
		}
	}
	return false
}

type linkParser struct {
	s string
	i int
}

func (p *linkParser) eof() bool { return p.i >= len(p.s) }

func (p *linkParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// skipSeparators skips whitespace and the commas between links (empty
// list elements are allowed, RFC 9110 section 5.6.1).
func (p *linkParser) skipSeparators() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *linkParser) errorf(format string, args ...any) error {
	return fmt.Errorf("jsonld: malformed Link header at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

// linkValue parses `<target> *( OWS ";" OWS param )`. Parameter names are
// lower-cased; only the first occurrence of a parameter counts.
func (p *linkParser) linkValue() (string, map[string]string, error) {
	if p.s[p.i] != '<' {
		return "", nil, p.errorf("expected '<' to start a link")
	}
	end := strings.IndexByte(p.s[p.i+1:], '>')
	if end < 0 {
		return "", nil, p.errorf("'<' without a closing '>'")
	}
	target := strings.TrimSpace(p.s[p.i+1 : p.i+1+end])
	if target == "" {
		return "", nil, p.errorf("empty link target")
	}
	for j := 0; j < len(target); j++ {
		if c := target[j]; c <= ' ' || c == 0x7f || c == '<' || c == '"' {
			return "", nil, p.errorf("the link target contains %q", c)
		}
	}
	p.i += end + 2
	params := map[string]string{}
	for {
		p.skipOWS()
		if p.eof() || p.s[p.i] == ',' {
			return target, params, nil
		}
		if p.s[p.i] != ';' {
			return "", nil, p.errorf("expected ';' or ',' after a link, found %q", p.s[p.i])
		}
		p.i++
		p.skipOWS()
		if p.eof() || p.s[p.i] == ',' {
			return target, params, nil // a trailing ';' is tolerated
		}
		name := p.token()
		if name == "" {
			return "", nil, p.errorf("expected a parameter name, found %q", p.s[p.i])
		}
		p.skipOWS()
		value := ""
		if !p.eof() && p.s[p.i] == '=' {
			p.i++
			p.skipOWS()
			var err error
			if value, err = p.paramValue(); err != nil {
				return "", nil, err
			}
		}
		name = strings.ToLower(name)
		if _, dup := params[name]; !dup {
			params[name] = value
		}
	}
}

// paramValue parses a quoted-string, or (leniently) a bare value up to the
// next ';', ',' or whitespace: clients often send rel=http://… unquoted.
func (p *linkParser) paramValue() (string, error) {
	if p.eof() {
		return "", p.errorf("missing parameter value")
	}
	if p.s[p.i] == '"' {
		p.i++
		var b strings.Builder
		for p.i < len(p.s) {
			c := p.s[p.i]
			switch {
			case c == '"':
				p.i++
				return b.String(), nil
			case c == '\\':
				if p.i+1 >= len(p.s) {
					return "", p.errorf("unterminated quoted string")
				}
				b.WriteByte(p.s[p.i+1])
				p.i += 2
			case c < ' ' && c != '\t' || c == 0x7f:
				return "", p.errorf("control character in a quoted string")
			default:
				b.WriteByte(c)
				p.i++
			}
		}
		return "", p.errorf("unterminated quoted string")
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == ';' || c == ',' || c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' {
			break
		}
		p.i++
	}
	if p.i == start {
		return "", p.errorf("missing parameter value")
	}
	return p.s[start:p.i], nil
}

// token parses an RFC 9110 token.
func (p *linkParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func isTokenChar(c byte) bool {
	if isAlpha(c) || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
