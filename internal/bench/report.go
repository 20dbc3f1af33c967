package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Report is what a scenario measured: sections of text lines and tables,
// printed as text (WriteText) or JSON (WriteJSON), and for JSON the
// scenario's configuration and its headline figures by name.
type Report struct {
	Scenario string             `json:"scenario"`
	Config   any                `json:"config,omitempty"`
	Sections []Section          `json:"sections"`
	Figures  map[string]float64 `json:"figures,omitempty"`
}

// Section is lines of text, then a table (either may be missing).
// Sections are printed one blank line apart.
type Section struct {
	Lines []string `json:"lines,omitempty"`
	Table *Table   `json:"table,omitempty"`
}

// Table is rows of figures under named columns: a name column (Label its
// header, at least LabelWidth wide), right-aligned number columns, and a
// free text column (Text its header) last.
type Table struct {
	Label      string   `json:"label,omitempty"`
	LabelWidth int      `json:"-"`
	Columns    []Column `json:"columns"`
	Text       string   `json:"text_column,omitempty"`
	Rows       []Row    `json:"rows"`
}

// Column is a number column: its header, width and decimals.
type Column struct {
	Name  string `json:"name"`
	Width int    `json:"-"`
	Prec  int    `json:"-"`
}

// Row is one line of a table. A Sub row is a part of the row above it,
// printed indented; it may have fewer values than the table has columns.
type Row struct {
	Name   string  `json:"name"`
	Sub    bool    `json:"sub,omitempty"`
	Values []Value `json:"values"`
	Text   string  `json:"text,omitempty"`
}

// Value is a figure, or none (printed "-", null in JSON): not measured,
// or a rate over no time.
type Value struct {
	V  float64
	OK bool
}

// Num is the value v (none when it is NaN or infinite).
func Num(v float64) Value { return Value{v, !math.IsNaN(v) && !math.IsInf(v, 0)} }

// None is no value.
func None() Value { return Value{} }

// Rate is n per second over secs (none when secs is not positive).
func Rate(n, secs float64) Value {
	if secs <= 0 {
		return None()
	}
	return Num(n / secs)
}

// MarshalJSON writes the number, or null.
func (v Value) MarshalJSON() ([]byte, error) {
	if !v.OK {
		return []byte("null"), nil
	}
	return json.Marshal(v.V)
}

// Add appends a section.
func (r *Report) Add(s Section) { r.Sections = append(r.Sections, s) }

// Linef appends a line to the last section (a new one if there is none
// or it has a table).
func (r *Report) Linef(format string, args ...any) {
	if n := len(r.Sections); n == 0 || r.Sections[n-1].Table != nil {
		r.Sections = append(r.Sections, Section{})
	}
	s := &r.Sections[len(r.Sections)-1]
	s.Lines = append(s.Lines, fmt.Sprintf(format, args...))
}

// Figure records a headline figure for JSON.
func (r *Report) Figure(name string, v float64) {
	if r.Figures == nil {
		r.Figures = map[string]float64{}
	}
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		r.Figures[name] = v
	}
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteText writes the report's sections as text.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	first := true
	for _, s := range r.Sections {
		if len(s.Lines) == 0 && s.Table == nil {
			continue
		}
		if !first {
			bw.WriteByte('\n')
		}
		first = false
		for _, l := range s.Lines {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
		if s.Table != nil {
			s.Table.write(bw)
		}
	}
	return bw.Flush()
}

func (t *Table) write(w *bufio.Writer) {
	width := t.LabelWidth
	for _, r := range t.Rows {
		n := len([]rune(r.Name))
		if r.Sub {
			n += 2
		}
		width = max(width, n)
	}
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Name
	}
	t.line(w, padRight(t.Label, width), header, t.Text)
	for _, r := range t.Rows {
		name := padRight(r.Name, width)
		if r.Sub {
			name = "  " + padRight(r.Name, width-2)
		}
		cells := make([]string, min(len(r.Values), len(t.Columns)))
		for i := range cells {
			cells[i] = r.Values[i].format(t.Columns[i].Prec)
		}
		t.line(w, name, cells, r.Text)
	}
}

// line writes the name, the cells right-aligned in their columns and the
// text, without trailing blanks.
func (t *Table) line(w *bufio.Writer, name string, cells []string, text string) {
	var b strings.Builder
	b.WriteString(name)
	for i, c := range cells {
		b.WriteByte(' ')
		b.WriteString(strings.Repeat(" ", max(0, t.Columns[i].Width-len([]rune(c)))))
		b.WriteString(c)
	}
	if text != "" {
		b.WriteString("  ")
		b.WriteString(text)
	}
	w.WriteString(strings.TrimRight(b.String(), " "))
	w.WriteByte('\n')
}

func (v Value) format(prec int) string {
	if !v.OK {
		return "-"
	}
	return strconv.FormatFloat(v.V, 'f', prec, 64)
}

func padRight(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-len([]rune(s))))
}
