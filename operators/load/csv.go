package load

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
)

func newCSVReader(r io.Reader, format string) *csv.Reader {
	cr := csv.NewReader(r)
	if format == FormatTSV {
		cr.Comma = '\t'
		cr.LazyQuotes = true // TSV rarely quotes; a stray quote is text
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

// planCSV learns (or checks) the columns of CSV files: every file's header
// must hold the columns.
func planCSV(files []srcFile, decl *arrow.Schema, inferRows int) (*arrow.Schema, error) {
	header, recs, err := csvSample(files[0], inferRows)
	if err != nil {
		return nil, err
	}
	sc := decl
	if sc == nil {
		sc = inferCSV(header, recs)
	}
	for i, f := range files {
		h := header
		if i > 0 {
			if h, _, err = csvSample(f, 0); err != nil {
				return nil, err
			}
		}
		if _, err := csvColumns(f.path, h, sc); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// csvColumns maps each column of sc to its index in header.
func csvColumns(path string, header []string, sc *arrow.Schema) ([]int, error) {
	pos := map[string]int{}
	for i, h := range header {
		pos[h] = i
	}
	idx := make([]int, sc.NumFields())
	for i, f := range sc.Fields() {
		j, ok := pos[f.Name]
		if !ok {
			return nil, fmt.Errorf("%s has no column %q (its header: %s)", path, f.Name, strings.Join(header, ", "))
		}
		idx[i] = j
	}
	return idx, nil
}

// readCSV reads one CSV file sequentially in batches of batchSize records.
func (r *reader) readCSV(ctx context.Context, f srcFile, seq *uint64, want func(uint64) bool, emit emitFunc) error {
	rc, err := openText(f.path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", f.path, err)
	}
	defer rc.Close()
	cr := newCSVReader(rc, f.format)
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s is empty (a CSV file needs a header line)", f.path)
	}
	if err != nil {
		return fmt.Errorf("reading the header of %s: %w", f.path, err)
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], string(bom))
	}
	idx, err := csvColumns(f.path, header, r.schema)
	if err != nil {
		return err
	}
	types := make([]string, r.schema.NumFields())
	for i, fl := range r.schema.Fields() {
		types[i] = op.TypeName(fl)
	}
	rb := array.NewRecordBuilder(r.alloc, r.schema)
	defer rb.Release()
	var (
		n       int
		cur     bool
		rejects []op.Reject
		vals    = make([]any, len(types))
	)
	flush := func() error {
		s := *seq
		*seq++
		n = 0
		if !cur {
			return emit(s, nil, nil)
		}
		rec := rb.NewRecord() // emit owns it
		rj := rejects
		rejects = nil
		return emit(s, rec, rj)
	}
	for {
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			cur = want(*seq)
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			n++
			if cur {
				rejects = append(rejects, op.Reject{Row: -1, Reason: ReasonBadRow,
					Detail: fmt.Sprintf("%s:%d: %v", f.path, pe.StartLine, pe.Err)})
			}
		case err != nil:
			return fmt.Errorf("reading %s: %w", f.path, err)
		default:
			n++
			if !cur {
				break
			}
			if msg := csvRow(rec, header, idx, types, vals); msg != "" {
				reason := ReasonBadType
				if msg[0] == '!' {
					reason, msg = ReasonBadRow, msg[1:]
				}
				rejects = append(rejects, op.Reject{Row: -1, Reason: reason,
					Detail: fmt.Sprintf("%s:%d: %s", f.path, line, msg), Data: csvData(header, rec)})
				break
			}
			for i, v := range vals {
				b := rb.Field(i)
				switch t := v.(type) {
				case nil:
					b.AppendNull()
				case string:
					b.(*array.StringBuilder).Append(t)
				case int64:
					b.(*array.Int64Builder).Append(t)
				case float64:
					b.(*array.Float64Builder).Append(t)
				case bool:
					b.(*array.BooleanBuilder).Append(t)
				}
			}
		}
		if n == r.batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if n > 0 {
		return flush()
	}
	return nil
}

// csvRow converts a record's cells into vals; it returns a message (starting
// with "!" for a malformed record) when the record is a reject.
func csvRow(rec, header []string, idx []int, types []string, vals []any) string {
	if len(rec) != len(header) {
		return fmt.Sprintf("!record has %d fields, the header %d", len(rec), len(header))
	}
	for i, t := range types {
		s := rec[idx[i]]
		if s == "" && t != op.TypeString {
			vals[i] = nil
			continue
		}
		switch t {
		case op.TypeString:
			vals[i] = s
		case op.TypeInt:
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Sprintf("column %q: want an int, got %q", header[idx[i]], clip(s))
			}
			vals[i] = n
		case op.TypeFloat:
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return fmt.Sprintf("column %q: want a float, got %q", header[idx[i]], clip(s))
			}
			vals[i] = f
		case op.TypeBool:
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				return fmt.Sprintf("column %q: want a bool, got %q", header[idx[i]], clip(s))
			}
			vals[i] = b
		default:
			if !json.Valid([]byte(s)) {
				return fmt.Sprintf("column %q: want JSON text, got %q", header[idx[i]], clip(s))
			}
			vals[i] = s
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// csvData renders a rejected record as a JSON object (header → text).
func csvData(header, rec []string) string {
	buf := []byte{'{'}
	for i, v := range rec {
		if i > 0 {
			buf = append(buf, ',')
		}
		name := fmt.Sprintf("_%d", i+1)
		if i < len(header) {
			name = header[i]
		}
		buf = op.AppendJSONString(buf, name)
		buf = append(buf, ':')
		buf = op.AppendJSONString(buf, v)
	}
	buf = append(buf, '}')
	return truncData(buf)
}
