package load

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// csvScanner reads CSV (RFC 4180) or TSV records line by line, so that a
// broken record costs only its own first line: a quoted field that is never
// closed, a bare quote, or a record spanning several lines whose field count
// is wrong is reported with its start and end line and raw text, and
// reading resumes at the line after the record's first one. A record that
// spans lines because a quoted field holds newlines is kept when it parses
// with the right number of fields. TSV fields are read with lazy quotes, one
// record per line.
type csvScanner struct {
	br      *bufio.Reader
	comma   byte
	lazy    bool
	nfields int // fields a multi-line record must have; 0: any
	line    int // lines taken from br
	pending []pline
	long    []byte
	eof     bool
	fields  []string
}

type pline struct {
	n    int
	text []byte
}

// csvRecord is one record, or a broken one (err set).
type csvRecord struct {
	fields     []string // valid until the next call
	start, end int      // 1-based lines
	raw        []byte   // the raw text (of the first line, for a broken record)
	err        string
}

func newCSVScanner(r io.Reader, format string) *csvScanner {
	s := &csvScanner{br: bufio.NewReaderSize(r, 1<<16), comma: ','}
	if format == FormatTSV {
		s.comma, s.lazy = '\t', true
	}
	return s
}

// nextLine returns the next physical line (a copy), or ok=false at the end.
func (s *csvScanner) nextLine() (pline, bool, error) {
	if len(s.pending) > 0 {
		l := s.pending[0]
		s.pending = s.pending[1:]
		return l, true, nil
	}
	if s.eof {
		return pline{}, false, nil
	}
	b, err := readLine(s.br, s.long)
	if err != nil && err != io.EOF {
		return pline{}, false, err
	}
	if err == io.EOF {
		s.eof = true
		if len(b) == 0 {
			return pline{}, false, nil
		}
	}
	s.line++
	if s.line == 1 {
		b = bytes.TrimPrefix(b, bom)
	}
	return pline{n: s.line, text: append([]byte(nil), b...)}, true, nil
}

// next returns the next record; io.EOF after the last.
func (s *csvScanner) next() (csvRecord, error) {
	var first pline
	for {
		l, ok, err := s.nextLine()
		if err != nil {
			return csvRecord{}, err
		}
		if !ok {
			return csvRecord{}, io.EOF
		}
		if len(l.text) > 0 {
			first = l
			break
		}
	}
	lines := []pline{first}
	text := first.text
	if !s.lazy {
		for quoteOpen(text) {
			l, ok, err := s.nextLine()
			if err != nil {
				return csvRecord{}, err
			}
			if !ok {
				return s.broken(lines, fmt.Sprintf("unclosed quote: the quoted field opened on line %d is not closed by line %d, the end of the file", first.n, lines[len(lines)-1].n)), nil
			}
			lines = append(lines, l)
			text = append(append(append([]byte(nil), text...), '\n'), l.text...)
		}
	}
	fields, perr := s.split(text)
	last := lines[len(lines)-1].n
	if perr != "" {
		return s.broken(lines, perr), nil
	}
	if len(lines) > 1 && s.nfields > 0 && len(fields) != s.nfields {
		return s.broken(lines, fmt.Sprintf("a quoted field spans lines %d-%d and the record has %d fields, the header %d (an unclosed quote?)", first.n, last, len(fields), s.nfields)), nil
	}
	return csvRecord{fields: fields, start: first.n, end: last, raw: text}, nil
}

// broken reports a record spanning lines as broken: only its first line is
// dropped; the lines after it are read again.
func (s *csvScanner) broken(lines []pline, msg string) csvRecord {
	rec := csvRecord{start: lines[0].n, end: lines[len(lines)-1].n, raw: lines[0].text, err: msg}
	if len(lines) > 1 {
		s.pending = append(append([]pline(nil), lines[1:]...), s.pending...)
		rec.err += fmt.Sprintf("; line %d is rejected and reading resumes at line %d", lines[0].n, lines[1].n)
	}
	return rec
}

// quoteOpen reports whether text ends inside a quoted field (an odd number
// of quotes: doubled quotes inside a quoted field come in pairs).
func quoteOpen(text []byte) bool {
	return bytes.Count(text, []byte{'"'})%2 == 1
}

// split cuts a record's text into fields; it returns a message when the
// text is not a well-formed record.
func (s *csvScanner) split(t []byte) ([]string, string) {
	s.fields = s.fields[:0]
	i := 0
	for {
		if i < len(t) && t[i] == '"' && !s.lazy {
			var b []byte
			j := i + 1
			for {
				k := bytes.IndexByte(t[j:], '"')
				if k < 0 {
					return nil, fmt.Sprintf("unclosed quote in field %d", len(s.fields)+1)
				}
				b = append(b, t[j:j+k]...)
				j += k + 1
				if j < len(t) && t[j] == '"' {
					b = append(b, '"')
					j++
					continue
				}
				break
			}
			if j < len(t) && t[j] != s.comma {
				return nil, fmt.Sprintf("text after the closing quote of field %d", len(s.fields)+1)
			}
			s.fields = append(s.fields, string(b))
			i = j
		} else {
			end := bytes.IndexByte(t[i:], s.comma)
			if end < 0 {
				end = len(t)
			} else {
				end += i
			}
			f := t[i:end]
			if s.lazy {
				if len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' {
					f = bytes.ReplaceAll(f[1:len(f)-1], []byte(`""`), []byte(`"`))
				}
			} else if bytes.IndexByte(f, '"') >= 0 {
				return nil, fmt.Sprintf(`bare " in unquoted field %d (quote the field and double its quotes)`, len(s.fields)+1)
			}
			s.fields = append(s.fields, string(f))
			i = end
		}
		if i >= len(t) {
			break
		}
		i++ // the separator
		if i == len(t) {
			s.fields = append(s.fields, "")
			break
		}
	}
	return s.fields, ""
}
