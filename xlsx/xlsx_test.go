package xlsx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Structures for reading the written parts back.
type xCell struct {
	R  string  `xml:"r,attr"`
	S  string  `xml:"s,attr"`
	T  string  `xml:"t,attr"`
	V  *string `xml:"v"`
	F  *string `xml:"f"`
	Is *struct {
		T string `xml:"t"`
	} `xml:"is"`
}

type xSheet struct {
	Panes []struct {
		YSplit string `xml:"ySplit,attr"`
		State  string `xml:"state,attr"`
	} `xml:"sheetViews>sheetView>pane"`
	Cols []struct {
		Min   string `xml:"min,attr"`
		Width string `xml:"width,attr"`
	} `xml:"cols>col"`
	Rows []struct {
		R     string  `xml:"r,attr"`
		Cells []xCell `xml:"c"`
	} `xml:"sheetData>row"`
}

type xStyles struct {
	NumFmts []struct {
		ID   string `xml:"numFmtId,attr"`
		Code string `xml:"formatCode,attr"`
	} `xml:"numFmts>numFmt"`
	Fonts []struct {
		B *struct{} `xml:"b"`
	} `xml:"fonts>font"`
	Xfs []struct {
		NumFmtID string `xml:"numFmtId,attr"`
		FontID   string `xml:"fontId,attr"`
	} `xml:"cellXfs>xf"`
}

type xWorkbook struct {
	Sheets []struct {
		Name string `xml:"name,attr"`
		ID   string `xml:"id,attr"`
	} `xml:"sheets>sheet"`
}

type xRels struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

type xTypes struct {
	Overrides []struct {
		PartName string `xml:"PartName,attr"`
	} `xml:"Override"`
}

// openParts writes w and returns every part of the zip, each checked to be
// well-formed XML by decoding it to the end.
func openParts(t testing.TB, w *Workbook) map[string][]byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	parts := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		parts[f.Name] = data
		d := xml.NewDecoder(bytes.NewReader(data))
		for {
			if _, err := d.Token(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s is not well-formed XML: %v\n%s", f.Name, err, data)
			}
		}
	}
	return parts
}

func decode(t testing.TB, parts map[string][]byte, name string, v any) {
	t.Helper()
	data, ok := parts[name]
	if !ok {
		t.Fatalf("part %s missing", name)
	}
	if err := xml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func cellsByRef(sh xSheet) map[string]xCell {
	m := map[string]xCell{}
	for _, r := range sh.Rows {
		for _, c := range r.Cells {
			m[c.R] = c
		}
	}
	return m
}

func TestWorkbook(t *testing.T) {
	ict := time.FixedZone("ICT", 7*3600)
	when := time.Date(2026, 11, 28, 12, 0, 0, 0, ict)
	// Excel serial computed independently: whole days and the fraction from
	// the 1899-12-30 epoch on the wall clock (both in the same zone).
	wantSerial := when.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, ict)).Hours() / 24
	if wantSerial != 46354.5 {
		t.Fatalf("test's own serial = %v, want 46354.5", wantSerial)
	}

	w := New()
	s := w.Sheet("Phản ánh")
	s.Header("Mã", "Phường", "Số", "Lúc", "Đúng", "Trống", "Công thức")
	s.Row("R-1", "Phường Thuận Hóa", 42, when, true, nil, "=1+1")
	s.Row(int64(-7), 3.25, math.NaN(), math.Inf(1), false, "+x", "-y", "@z", "a<b>&\"c\"", "tab\there\nnew\rcr\x00\x1b!", "_x0041_")
	s.Widths(10, 0, 20)
	wide := make([]any, 30)
	for i := range wide {
		wide[i] = i + 1
	}
	s2 := w.Sheet("Phản ánh") // duplicate name
	s2.Row(wide...)
	s2.Header("not frozen: not the first row")

	parts := openParts(t, w)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
		"xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"} {
		if _, ok := parts[name]; !ok {
			t.Errorf("part %s missing", name)
		}
	}

	// Every non-relationship part has a content type, every relationship target exists.
	var types xTypes
	decode(t, parts, "[Content_Types].xml", &types)
	overrides := map[string]bool{}
	for _, o := range types.Overrides {
		overrides[o.PartName] = true
	}
	for name := range parts {
		if name != "[Content_Types].xml" && !strings.HasSuffix(name, ".rels") && !overrides["/"+name] {
			t.Errorf("no content type override for %s", name)
		}
	}
	var rels xRels
	decode(t, parts, "xl/_rels/workbook.xml.rels", &rels)
	relTarget := map[string]string{}
	for _, r := range rels.Rels {
		relTarget[r.ID] = r.Target
		if _, ok := parts["xl/"+r.Target]; !ok {
			t.Errorf("relationship %s targets missing part %s", r.ID, r.Target)
		}
	}

	var wb xWorkbook
	decode(t, parts, "xl/workbook.xml", &wb)
	if len(wb.Sheets) != 2 || wb.Sheets[0].Name != "Phản ánh" || wb.Sheets[1].Name != "Phản ánh (2)" {
		t.Fatalf("sheets = %+v", wb.Sheets)
	}
	if relTarget[wb.Sheets[1].ID] != "worksheets/sheet2.xml" {
		t.Errorf("second sheet's relationship = %q", relTarget[wb.Sheets[1].ID])
	}

	var st xStyles
	decode(t, parts, "xl/styles.xml", &st)
	styleOf := func(s string) (bold bool, format string) {
		i, _ := strconv.Atoi(s) // "" is style 0
		xf := st.Xfs[i]
		f, _ := strconv.Atoi(xf.FontID)
		for _, nf := range st.NumFmts {
			if nf.ID == xf.NumFmtID {
				format = nf.Code
			}
		}
		return st.Fonts[f].B != nil, format
	}

	raw1 := string(parts["xl/worksheets/sheet1.xml"])
	if strings.Contains(raw1, "<f>") || strings.Contains(raw1, "<f ") {
		t.Error("sheet contains a formula element")
	}
	var sh1 xSheet
	decode(t, parts, "xl/worksheets/sheet1.xml", &sh1)
	if len(sh1.Panes) != 1 || sh1.Panes[0].YSplit != "1" || sh1.Panes[0].State != "frozen" {
		t.Errorf("header not frozen: %+v", sh1.Panes)
	}
	if len(sh1.Cols) != 2 || sh1.Cols[0].Min != "1" || sh1.Cols[0].Width != "10" || sh1.Cols[1].Min != "3" {
		t.Errorf("cols = %+v", sh1.Cols)
	}
	cells := cellsByRef(sh1)
	text := func(ref, want string) {
		t.Helper()
		c, ok := cells[ref]
		switch {
		case !ok:
			t.Errorf("%s missing", ref)
		case c.T != "inlineStr" || c.Is == nil || c.F != nil || c.V != nil:
			t.Errorf("%s is not an inline string: %+v", ref, c)
		case unXstring(c.Is.T) != want: // as a spreadsheet reads it
			t.Errorf("%s = %q, want %q", ref, c.Is.T, want)
		}
	}
	value := func(ref, typ, want string) {
		t.Helper()
		c, ok := cells[ref]
		if !ok || c.T != typ || c.V == nil || *c.V != want || c.F != nil {
			t.Errorf("%s = %+v, want t=%q v=%q", ref, c, typ, want)
		}
	}
	text("A1", "Mã")
	text("B1", "Phường")
	text("G1", "Công thức")
	if bold, _ := styleOf(cells["A1"].S); !bold {
		t.Error("header cell not bold")
	}
	text("A2", "R-1")
	text("B2", "Phường Thuận Hóa")
	value("C2", "", "42")
	if bold, _ := styleOf(cells["C2"].S); bold {
		t.Error("body cell bold")
	}
	value("D2", "", strconv.FormatFloat(wantSerial, 'g', -1, 64))
	if got, _ := strconv.ParseFloat(*cells["D2"].V, 64); got != 46354.5 {
		t.Errorf("date serial = %v, want 46354.5", got)
	}
	if bold, format := styleOf(cells["D2"].S); bold || format != "yyyy-mm-dd hh:mm" {
		t.Errorf("date style: bold=%v format=%q", bold, format)
	}
	value("E2", "b", "1")
	if _, ok := cells["F2"]; ok {
		t.Error("nil cell written")
	}
	text("G2", "=1+1")
	value("A3", "", "-7")
	value("B3", "", "3.25")
	for _, ref := range []string{"C3", "D3"} {
		if _, ok := cells[ref]; ok {
			t.Errorf("NaN/Inf cell %s written", ref)
		}
	}
	value("E3", "b", "0")
	text("F3", "+x")
	text("G3", "-y")
	text("H3", "@z")
	text("I3", "a<b>&\"c\"")
	text("J3", "tab\there\nnew\rcr!")
	text("K3", "_x0041_")
	if !strings.Contains(raw1, "_x005F_x0041_") {
		t.Error(`"_x0041_" not escaped as ST_Xstring`)
	}
	if !strings.Contains(raw1, "Phường Thuận Hóa") {
		t.Error("Vietnamese text not stored as UTF-8")
	}

	var sh2 xSheet
	decode(t, parts, "xl/worksheets/sheet2.xml", &sh2)
	if len(sh2.Panes) != 0 {
		t.Error("a header that is not the first row froze the pane")
	}
	cells = cellsByRef(sh2)
	for i, ref := range []string{"A1", "B1", "Z1", "AA1", "AB1", "AD1"} {
		want := []string{"1", "2", "26", "27", "28", "30"}[i]
		value(ref, "", want)
	}
	if _, ok := cells["AE1"]; ok {
		t.Error("cell beyond the 30th column")
	}
	if bold, _ := styleOf(cells["A2"].S); !bold {
		t.Error("second-row header not bold")
	}
	if !strings.Contains(string(parts["xl/worksheets/sheet2.xml"]), `<dimension ref="A1:AD2"/>`) {
		t.Error("dimension not A1:AD2")
	}
}

func TestColName(t *testing.T) {
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 29: "AD", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA", 16383: "XFD"} {
		if got := colName(i); got != want {
			t.Errorf("colName(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestSheetNames(t *testing.T) {
	w := New()
	long := strings.Repeat("Đ", 40)
	for _, tc := range []struct{ in, want string }{
		{"a[b]:c*d?e/f\\g", "a_b__c_d_e_f_g"},
		{"", "Sheet2"},
		{"  'quoted'  ", "quoted"},
		{"QUOTED", "QUOTED (2)"},
		{"history", "Sheet5"},
		{"tab\tbell\a", "tabbell"},
		{long, strings.Repeat("Đ", 31)},
		{long, strings.Repeat("Đ", 27) + " (2)"},
	} {
		if got := w.Sheet(tc.in).name; got != tc.want {
			t.Errorf("Sheet(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	parts := openParts(t, w)
	var wb xWorkbook
	decode(t, parts, "xl/workbook.xml", &wb)
	if len(wb.Sheets) != len(w.sheets) {
		t.Fatalf("%d sheets written, want %d", len(wb.Sheets), len(w.sheets))
	}
}

func TestEmptyWorkbook(t *testing.T) {
	parts := openParts(t, New())
	var wb xWorkbook
	decode(t, parts, "xl/workbook.xml", &wb)
	if len(wb.Sheets) != 1 {
		t.Fatalf("sheets = %+v", wb.Sheets)
	}
	if _, ok := parts["xl/worksheets/sheet1.xml"]; !ok {
		t.Fatal("no sheet1.xml")
	}
}

func TestCellValues(t *testing.T) {
	type level int
	s, f := "ptr", 1.5
	var nilp *string
	for _, tc := range []struct {
		in   any
		kind int
		want string
	}{
		{"x", kindText, "x"},
		{int32(-3), kindNumber, "-3"},
		{uint8(200), kindNumber, "200"},
		{float32(0.1), kindNumber, "0.1"},
		{level(2), kindNumber, "2"},
		{&s, kindText, "ptr"},
		{&f, kindNumber, "1.5"},
		{nilp, kindEmpty, ""},
		{time.Time{}, kindEmpty, ""},
		{time.Date(1899, 1, 1, 0, 0, 0, 0, time.UTC), kindText, "1899-01-01 00:00:00"},
		{time.Date(1900, 3, 1, 6, 0, 0, 0, time.UTC), kindDate, "61.25"},
		{time.Duration(90e9), kindText, "1m30s"},
		{errors.New("boom"), kindText, "boom"},
		{[]int{1, 2}, kindText, "[1 2]"},
	} {
		kind, got := cellValue(tc.in)
		if kind != tc.kind || got != tc.want {
			t.Errorf("cellValue(%#v) = %d %q, want %d %q", tc.in, kind, got, tc.kind, tc.want)
		}
	}
}

func TestLimits(t *testing.T) {
	w := New()
	w.Sheet("wide").Row(make([]any, maxCols+1)...)
	if _, err := w.WriteTo(io.Discard); err == nil {
		t.Error("no error for too many columns")
	}
	long := strings.Repeat("😀", maxCellText) // two UTF-16 units each
	w = New()
	w.Sheet("long").Row(long)
	var sh xSheet
	decode(t, openParts(t, w), "xl/worksheets/sheet1.xml", &sh)
	if got := sh.Rows[0].Cells[0].Is.T; len(utf16.Encode([]rune(got))) != maxCellText-1 {
		t.Errorf("long text kept %d UTF-16 units", len(utf16.Encode([]rune(got))))
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"abc":              "abc",
		"=1+1":             "'=1+1",
		"+1":               "'+1",
		"-1":               "'-1",
		"@SUM(A1)":         "'@SUM(A1)",
		"\t=1":             "'\t=1",
		"\rx":              "'\rx",
		" =1":              " =1",
		"a=b":              "a=b",
		"'=1":              "'=1",
		"Phường Thuận Hóa": "Phường Thuận Hóa",
	} {
		if got := CSVSafe(in); got != want {
			t.Errorf("CSVSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// unXstring decodes the ST_Xstring escapes "_xHHHH_" as a reader does.
func unXstring(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && isXEscape(s[i+1:]) {
			n, _ := strconv.ParseUint(s[i+2:i+6], 16, 16)
			b.WriteRune(rune(n))
			i += 6
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func FuzzSheet(f *testing.F) {
	for _, seed := range [][2]string{
		{"Sheet", "=1+1"}, {"Phường Thuận Hóa", "Phường Thuận Hóa"}, {"[]:*?/\\", "\x00\x01\x1f\ufffe\uffff"},
		{"'", "_x0041_ _x005F_ _x12"}, {"", "]]><![CDATA[<&>\"'"}, {"\xff\xfe", "\xed\xa0\x80 \r\n\t"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, s string) {
		w := New()
		sh := w.Sheet(name)
		sh.Header(s, name)
		sh.Row(s, 1, s+s)
		w.Sheet(name).Row(s)
		parts := openParts(t, w) // all parts well-formed

		var wb xWorkbook
		decode(t, parts, "xl/workbook.xml", &wb)
		if len(wb.Sheets) != 2 || strings.EqualFold(wb.Sheets[0].Name, wb.Sheets[1].Name) {
			t.Fatalf("sheet names %+v", wb.Sheets)
		}
		for _, n := range []string{wb.Sheets[0].Name, wb.Sheets[1].Name} {
			if n == "" || len(utf16.Encode([]rune(n))) > 31 || strings.ContainsAny(n, `[]:*?/\`) ||
				n[0] == '\'' || n[len(n)-1] == '\'' || !utf8.ValidString(n) {
				t.Fatalf("invalid sheet name %q", n)
			}
		}

		// The text read back is the input without the characters XML cannot carry.
		var want strings.Builder
		for _, r := range s {
			if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 {
				want.WriteRune(r)
			}
		}
		var x xSheet
		decode(t, parts, "xl/worksheets/sheet1.xml", &x)
		c := x.Rows[0].Cells
		if want.Len() == 0 {
			return
		}
		if len(c) == 0 || c[0].R != "A1" || c[0].Is == nil || c[0].F != nil {
			t.Fatalf("first cell %+v", c)
		}
		if got := unXstring(c[0].Is.T); len(s) < maxCellText/2 && got != want.String() {
			t.Fatalf("text = %q, want %q", got, want.String())
		}
	})
}
