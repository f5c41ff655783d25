// Package xlsx writes small Office Open XML spreadsheets (.xlsx, ECMA-376
// SpreadsheetML) with the standard library only.
//
// Every text cell is an inline string (t="inlineStr"), so no shared-strings
// table is written, and no cell is ever a formula (<f>): a value such as
// "=1+1" is stored and shown as the text "=1+1". Formula ("CSV") injection is
// therefore not possible in files written by this package. CSV exports need
// CSVSafe instead.
package xlsx

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
)

// Limits of the SpreadsheetML format as implemented by Excel.
const (
	maxRows     = 1 << 20 // rows per sheet
	maxCols     = 1 << 14 // columns per sheet (A … XFD)
	maxCellText = 32767   // UTF-16 code units per cell
	maxNameLen  = 31      // UTF-16 code units per sheet name
	maxWidth    = 255     // column width in characters
)

// Indexes into cellXfs of styles.xml; styleDate is added to a base style.
const (
	styleDefault = 0
	styleBold    = 1
	styleDate    = 2 // 2 = date, 3 = bold date
)

const (
	nsMain  = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	nsRel   = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsPkg   = "http://schemas.openxmlformats.org/package/2006/relationships"
	ctBase  = "application/vnd.openxmlformats-officedocument.spreadsheetml."
	xmlDecl = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
)

var (
	// Excel serial day 0; serials are correct from 1900-03-01 (after Excel's
	// fictitious 1900-02-29) through 9999-12-31.
	epoch   = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	minDate = time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	modTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC) // fixed, for reproducible files
)

// Workbook collects sheets and writes them as one .xlsx file.
type Workbook struct {
	sheets []*Sheet
}

// New returns an empty workbook. A workbook written without sheets gets one
// empty sheet, since a spreadsheet must have at least one.
func New() *Workbook { return &Workbook{} }

// Sheet is one worksheet. Rows are rendered to XML as they are added.
type Sheet struct {
	name   string
	data   bytes.Buffer // <row> elements
	rows   int
	cols   int // widest row
	frozen bool
	widths []float64
	err    error
}

// Sheet adds a sheet and returns it. The name is made valid: characters
// []:*?/\ become '_', control characters are dropped, surrounding spaces and
// apostrophes are trimmed, it is cut to 31 characters, an empty (or the
// reserved "History") name becomes "SheetN", and a name already used
// (case-insensitively) gets a " (2)", " (3)" … suffix.
func (w *Workbook) Sheet(name string) *Sheet {
	s := &Sheet{name: w.uniqueName(cleanName(name), len(w.sheets)+1)}
	w.sheets = append(w.sheets, s)
	return s
}

// cleanName makes name a valid sheet name, or "" (see Workbook.Sheet).
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		if !validXML(r) || unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	trim := func(s string) string {
		return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\'' })
	}
	return trim(truncUTF16(trim(name), maxNameLen))
}

// uniqueName returns base, or "SheetN" for an empty or reserved base, made
// unique among the workbook's sheets with a " (i)" suffix.
func (w *Workbook) uniqueName(base string, n int) string {
	if base == "" || strings.EqualFold(base, "History") {
		base = "Sheet" + strconv.Itoa(n)
	}
	name := base
	for i := 2; slices.ContainsFunc(w.sheets, func(s *Sheet) bool { return strings.EqualFold(s.name, name) }); i++ {
		suffix := " (" + strconv.Itoa(i) + ")"
		name = truncUTF16(base, maxNameLen-len(suffix)) + suffix
	}
	return name
}

// Row appends a row. Cells may be string, int, int64, float64 (NaN/Inf
// written as empty), bool, time.Time (written as a number with a date-time
// style, in the time's own location wall clock), nil (empty), or
// fmt.Stringer (or error). Other integer, float, bool and string kinds are
// written accordingly, pointers are dereferenced (nil is empty) and anything
// else is written as text with fmt.Sprint. A zero time.Time is empty; a time
// outside Excel's date range (before 1900-03-01 or after 9999) is written as
// text. Text is cut to Excel's 32,767 characters per cell.
func (s *Sheet) Row(cells ...any) { s.addRow(false, cells) }

// Header appends a row written in bold, and freezes it (pane) when it is
// the first row.
func (s *Sheet) Header(cells ...any) {
	if s.rows == 0 {
		s.frozen = true
	}
	s.addRow(true, cells)
}

// Widths sets column widths in characters (optional); the i-th width applies
// to the i-th column, and widths <= 0 leave a column at the default width.
func (s *Sheet) Widths(w ...float64) { s.widths = append([]float64(nil), w...) }

// addRow renders one row; the sheet keeps the first limit error for WriteTo.
func (s *Sheet) addRow(bold bool, cells []any) {
	if s.rows >= maxRows {
		s.err = cmp.Or(s.err, fmt.Errorf("xlsx: sheet %q: more than %d rows", s.name, maxRows))
		return
	}
	if len(cells) > maxCols {
		s.err = cmp.Or(s.err, fmt.Errorf("xlsx: sheet %q: more than %d columns", s.name, maxCols))
		cells = cells[:maxCols]
	}
	s.rows++
	row := strconv.Itoa(s.rows)
	b := &s.data
	b.WriteString(`<row r="` + row + `">`)
	for i, v := range cells {
		writeCell(b, colName(i)+row, v, bold)
	}
	b.WriteString(`</row>`)
	s.cols = max(s.cols, len(cells))
}

// colName returns the column letters of the 0-based column i: A … Z, AA ….
func colName(i int) string {
	var buf [8]byte
	p := len(buf)
	for n := i + 1; n > 0; n = (n - 1) / 26 {
		p--
		buf[p] = byte('A' + (n-1)%26)
	}
	return string(buf[p:])
}

// Kinds of cell value.
const (
	kindEmpty = iota
	kindText
	kindNumber
	kindBool
	kindDate
)

// cellValue classifies v and renders it as the text of <v> or <t>.
func cellValue(v any) (int, string) {
	switch x := v.(type) {
	case nil:
		return kindEmpty, ""
	case string:
		return kindText, x
	case time.Time:
		if x.IsZero() {
			return kindEmpty, ""
		}
		if serial, ok := excelSerial(x); ok {
			return kindDate, strconv.FormatFloat(serial, 'g', -1, 64)
		}
		return kindText, x.Format("2006-01-02 15:04:05")
	case fmt.Stringer, error:
		return kindText, fmt.Sprint(x) // fmt recovers from a panicking String or Error
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return kindEmpty, ""
		}
		return cellValue(rv.Elem().Interface())
	case reflect.String:
		return kindText, rv.String()
	case reflect.Bool:
		if rv.Bool() {
			return kindBool, "1"
		}
		return kindBool, "0"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindNumber, strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kindNumber, strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		if f := rv.Float(); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return kindNumber, strconv.FormatFloat(f, 'g', -1, rv.Type().Bits())
		}
		return kindEmpty, ""
	}
	return kindText, fmt.Sprint(v)
}

// excelSerial returns t's wall clock as an Excel serial date: days since
// 1899-12-30 plus the fraction of the day.
func excelSerial(t time.Time) (float64, bool) {
	y, mo, d := t.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	if day.Before(minDate) || !day.Before(maxDate) {
		return 0, false
	}
	h, mi, sec := t.Clock()
	days := (day.Unix() - epoch.Unix()) / 86400
	secs := float64(h*3600+mi*60+sec) + float64(t.Nanosecond())/1e9
	return float64(days) + secs/86400, true
}

// writeCell writes v as cell ref; nil, NaN, Inf and empty text write nothing.
func writeCell(b *bytes.Buffer, ref string, v any, bold bool) {
	kind, val := cellValue(v)
	if kind == kindText {
		val = truncUTF16(cleanXML(val), maxCellText)
	}
	if kind == kindEmpty || val == "" {
		return
	}
	style := styleDefault
	if bold {
		style = styleBold
	}
	if kind == kindDate {
		style += styleDate
	}
	b.WriteString(`<c r="` + ref + `"`)
	if style != styleDefault {
		b.WriteString(` s="` + strconv.Itoa(style) + `"`)
	}
	switch kind {
	case kindText:
		// Inline string: shown as text, never evaluated, whatever it starts with.
		b.WriteString(` t="inlineStr"><is><t xml:space="preserve">`)
		escape(b, val, true)
		b.WriteString(`</t></is></c>`)
		return
	case kindBool:
		b.WriteString(` t="b"`)
	}
	b.WriteString(`><v>` + val + `</v></c>`)
}

// validXML reports whether r is a character allowed by XML 1.0.
func validXML(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// cleanXML drops characters invalid in XML 1.0; invalid UTF-8 becomes U+FFFD.
func cleanXML(s string) string {
	return strings.Map(func(r rune) rune {
		if validXML(r) {
			return r
		}
		return -1
	}, s)
}

// truncUTF16 cuts valid UTF-8 s to at most n UTF-16 code units (Excel's measure).
func truncUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		if units += utf16.RuneLen(r); units > n {
			return s[:i]
		}
	}
	return s
}

// escape writes clean s as XML character data (also safe in a quoted
// attribute). With xstr it also escapes '_' starting an "_xHHHH_" sequence,
// which ST_Xstring readers would otherwise decode as a character.
func escape(b *bytes.Buffer, s string, xstr bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\t', '\n', '\r': // char references survive attribute and line-end normalisation
			b.WriteString("&#" + strconv.Itoa(int(c)) + ";")
		case '_':
			if xstr && isXEscape(s[i+1:]) {
				b.WriteString("_x005F")
			}
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
}

// isXEscape reports whether s starts with "xHHHH_" (after an underscore).
func isXEscape(s string) bool {
	if len(s) < 6 || s[0] != 'x' || s[5] != '_' {
		return false
	}
	return strings.Trim(s[1:5], "0123456789abcdefABCDEF") == ""
}

// CSVSafe returns s prefixed with a single quote when it begins with = + - @
// or a tab/CR, so that a spreadsheet opening a CSV export does not evaluate
// it as a formula (OWASP CSV injection).
func CSVSafe(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}
