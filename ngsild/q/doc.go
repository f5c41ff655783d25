// Package q implements the NGSI-LD query language: the q parameter of
// ETSI GS CIM 009 (clause 4.9, checked against V1.9.1), used to filter
// Entities by the values of their Attributes.
//
// Parse turns a query string into an AST (Expr), String prints an AST in
// a canonical form that parses back to an equal AST, Eval evaluates an AST
// against one Entity through a getter, and Attrs lists the attributes a
// query touches so storage can choose indexes.
//
// # Syntax
//
// The ABNF of clause 4.9 is followed, with these documented choices:
//
//   - Logical operators: ";" is AND, "|" is OR, AND binds tighter than OR,
//     both are left-associative, and parentheses group. The ABNF's
//     QueryTermAssoc only allows one level of parentheses, but the
//     clause's own Example 6 nests them, so any nesting up to MaxDepth is
//     accepted.
//   - No whitespace is allowed outside quoted strings and regular
//     expressions: the ABNF has none, and in a URL a "+" decodes to a
//     space, so a stray space is far more likely a client encoding bug
//     than intent. Percent-decoding is the HTTP layer's job.
//   - Attribute paths (ValuePath): AttrName *("." AttrName) ["[" trail "]"].
//     AttrName is a Unicode letter followed by letters, numbers or "_"
//     (clause 4.6.2), optionally compacted as prefix:name where the
//     prefix may also contain "-" (as in "ngsi-ld:"). An expanded IRI is
//     accepted as the top-level attribute when it starts with
//     "scheme://" or "urn:"; it is taken whole, dots included, and runs
//     until one of = ! < > ~ [ ] { } ( ) ; | , " or whitespace, so it
//     cannot be followed by ".sub" attributes (use compacted names for
//     that). The trailing path in brackets names JSON members: one or more
//     of letters, numbers, "_", "-", "@", ":", or the single wildcard "*"
//     which selects every member (the spec's languageMap form color[*]).
//     Linked-entity paths (sensor{humidity}, clause 4.5.23) are rejected
//     with an explicit "not supported" error.
//   - Values: JSON numbers and strings (IETF RFC 8259, with all JSON
//     escapes), true and false, and the clause 4.6.3 temporal forms:
//     DateTime YYYY-MM-DDThh:mm:ss[.ffffff]Z, Date YYYY-MM-DD and Time
//     hh:mm:ss[.ffffff]Z, with "." or "," before at most six fractional
//     digits and only "Z" as time zone. The comma form clashes with the
//     ValueList comma; since a list item cannot end in ":ss" without its
//     "Z", a "," that follows the seconds and precedes digits and "Z"
//     belongs to the time (t==08:00:00,5Z,09:00:00Z is a two-item list).
//     Canonical output always uses ".". Any other unquoted token that
//     starts with a letter is a URI (kind URI); this covers RFC 3986 URIs
//     such as urn:ngsi-ld:Device:x and bare terms meant for expandValues
//     (the spec's gender==Male). URI tokens may contain letters, digits,
//     non-ASCII characters and - . _ ~ : / ? # [ ] @ ! $ & ' * + = and
//     %XX escapes; ( ) , ; are structural and end the token.
//   - Per the ABNF, booleans, URIs, value lists (a,b,c) and ranges
//     (min..max) are only valid after == and !=; >, >=, <, <= need a
//     number, string, Date, Time or DateTime. Unquoted URIs are also
//     accepted inside value lists (the semantics text speaks of lists of
//     URIs). Range bounds must be of the same kind; a range whose minimum
//     exceeds its maximum is valid and matches nothing.
//   - Regular expressions use Go's RE2 syntax (a near superset of the
//     POSIX ERE of IEEE 1003.2 that the spec cites, and linear-time). The
//     spec asks for the target to be "in the L(R)" of the pattern, which
//     could be read as a whole-string match; matching is unanchored
//     instead, as with POSIX regexec: name~=Kim matches "Kim Long", and
//     ^...$ gives a whole-string match. A pattern
//     is taken verbatim and ends at the first ";", "|" or unbalanced ")"
//     that is outside a bracket expression, an escape and its own
//     parentheses, so a top-level alternation must be parenthesised:
//     name~=(Kim|Lee).
//
// Limits against abuse: MaxQueryLen bytes, MaxDepth nested parentheses,
// MaxTerms terms, MaxRegexpLen bytes per pattern, and a cap on the
// pattern size after counted repetitions are expanded (about 2000
// instructions per pattern and 4000 per query; x{1000} counts 1001),
// because a 250-byte pattern can otherwise compile to 17 MB in 20 ms.
// Errors are *SyntaxError values whose Pos is a 0-based byte offset into
// the query.
//
// The canonical form printed by String respells numbers (1.50 becomes
// 1.5, 100000 becomes 1e5) and DateTimes (a "," or trailing zeros in the
// fraction), drops redundant parentheses and JSON escapes, and keeps
// everything else verbatim. It parses back to an equal AST; only a query
// already at MaxQueryLen can, through respelled numbers such as 1e3 ->
// 1000, print a few bytes longer than the limit.
//
// # Semantics
//
// Eval follows the semantics list at the end of clause 4.9:
//
//   - Every operator, including != and !~=, requires the target element to
//     exist ("a matching Entity shall contain the target element"), so a
//     missing attribute makes every term false.
//   - The getter resolves the attribute and its sub-attributes; Eval walks
//     the bracketed trailing path itself as an ECMA-262 member expression
//     on JSON objects. If the walk yields nothing the target is treated as
//     non-existent (clause 4.9), so even the existence test fails.
//   - The getter may return several values (multi-instance attributes with
//     datasetIds: "any Value of such instances"), and each value may be a
//     JSON array. The candidates are the values, with arrays replaced by
//     their elements (one level). ==, >, >=, <, <= and ~= match if any
//     candidate matches; != matches if no candidate is equal (so an array
//     matches != "red" only if it does not contain "red"); !~= matches if
//     there is at least one string candidate and none matches the pattern.
//   - Comparisons only happen between values of the same type; a type
//     mismatch never matches, which makes != true ("shall be considered
//     unequal"). Numbers compare as float64; strings compare byte-wise
//     (code point order; the optional Unicode Collation Algorithm is not
//     implemented). A DateTime, Date or Time query value is compared with
//     string targets parsed as the same temporal type, in time order;
//     there is no cross-type comparison (a DateTime target never matches
//     a Date query value). URI values match string targets exactly.
//   - The clause 4.9 rule that a Relationship only supports == and != is
//     not enforced: Eval does not know attribute types, and a getter that
//     does can hide Relationships from other operators.
package q
