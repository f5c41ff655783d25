package xlsx

import (
	"archive/zip"
	"bytes"
	"io"
	"math"
	"strconv"
)

// stylesXML has the cellXfs indexed by styleDefault, styleBold, styleDate
// and styleBold+styleDate; 164 is the first custom numFmtId.
const stylesXML = xmlDecl + `<styleSheet xmlns="` + nsMain + `">` +
	`<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/></numFmts>` +
	`<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>` +
	`<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>` +
	`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
	`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
	`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
	`<cellXfs count="4">` +
	`<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
	`<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>` +
	`<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
	`<xf numFmtId="164" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyNumberFormat="1"/>` +
	`</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`

const rootRels = xmlDecl + `<Relationships xmlns="` + nsPkg + `">` +
	`<Relationship Id="rId1" Type="` + nsRel + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`

// WriteTo writes the workbook as an .xlsx (zip) file to out and returns the
// number of bytes written. It fails if a sheet exceeded Excel's limits of
// 1,048,576 rows or 16,384 columns.
func (w *Workbook) WriteTo(out io.Writer) (int64, error) {
	sheets := w.sheets
	if len(sheets) == 0 {
		sheets = []*Sheet{{name: "Sheet1"}}
	}
	for _, s := range sheets {
		if s.err != nil {
			return 0, s.err
		}
	}
	var types, book, rels bytes.Buffer
	types.WriteString(xmlDecl + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="` + ctBase + `sheet.main+xml"/>` +
		`<Override PartName="/xl/styles.xml" ContentType="` + ctBase + `styles+xml"/>`)
	book.WriteString(xmlDecl + `<workbook xmlns="` + nsMain + `" xmlns:r="` + nsRel + `">` +
		`<bookViews><workbookView/></bookViews><sheets>`)
	rels.WriteString(xmlDecl + `<Relationships xmlns="` + nsPkg + `">`)
	for i := range sheets {
		n := strconv.Itoa(i + 1)
		types.WriteString(`<Override PartName="/xl/worksheets/sheet` + n + `.xml" ContentType="` + ctBase + `worksheet+xml"/>`)
		book.WriteString(`<sheet name="`)
		escape(&book, sheets[i].name, false)
		book.WriteString(`" sheetId="` + n + `" r:id="rId` + n + `"/>`)
		rels.WriteString(`<Relationship Id="rId` + n + `" Type="` + nsRel + `/worksheet" Target="worksheets/sheet` + n + `.xml"/>`)
	}
	types.WriteString(`</Types>`)
	book.WriteString(`</sheets></workbook>`)
	rels.WriteString(`<Relationship Id="rId` + strconv.Itoa(len(sheets)+1) + `" Type="` + nsRel +
		`/styles" Target="styles.xml"/></Relationships>`)

	cw := &countWriter{w: out}
	z := zip.NewWriter(cw)
	var err error
	put := func(name string, chunks ...[]byte) {
		if err != nil {
			return
		}
		var f io.Writer
		if f, err = z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modTime}); err != nil {
			return
		}
		for _, c := range chunks {
			if _, err = f.Write(c); err != nil {
				return
			}
		}
	}
	put("[Content_Types].xml", types.Bytes())
	put("_rels/.rels", []byte(rootRels))
	put("xl/workbook.xml", book.Bytes())
	put("xl/_rels/workbook.xml.rels", rels.Bytes())
	put("xl/styles.xml", []byte(stylesXML))
	for i, s := range sheets {
		put("xl/worksheets/sheet"+strconv.Itoa(i+1)+".xml", s.head(i == 0), s.data.Bytes(), []byte(`</sheetData></worksheet>`))
	}
	if err == nil {
		err = z.Close()
	}
	return cw.n, err
}

// head returns the worksheet XML up to and including <sheetData>, in the
// element order CT_Worksheet requires.
func (s *Sheet) head(selected bool) []byte {
	var b bytes.Buffer
	b.WriteString(xmlDecl + `<worksheet xmlns="` + nsMain + `" xmlns:r="` + nsRel + `">`)
	if s.rows > 0 && s.cols > 0 {
		b.WriteString(`<dimension ref="A1:` + colName(s.cols-1) + strconv.Itoa(s.rows) + `"/>`)
	}
	b.WriteString(`<sheetViews><sheetView workbookViewId="0"`)
	if selected {
		b.WriteString(` tabSelected="1"`)
	}
	b.WriteString(`>`)
	if s.frozen {
		b.WriteString(`<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>` +
			`<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>`)
	}
	b.WriteString(`</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>`)
	var cols bytes.Buffer
	for i, wd := range s.widths[:min(len(s.widths), maxCols)] {
		if wd > 0 && !math.IsInf(wd, 0) {
			n := strconv.Itoa(i + 1)
			cols.WriteString(`<col min="` + n + `" max="` + n + `" width="` +
				strconv.FormatFloat(min(wd, maxWidth), 'g', -1, 64) + `" customWidth="1"/>`)
		}
	}
	if cols.Len() > 0 {
		b.WriteString(`<cols>` + cols.String() + `</cols>`)
	}
	b.WriteString(`<sheetData>`)
	return b.Bytes()
}

// countWriter counts the bytes written through it, for WriteTo.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
