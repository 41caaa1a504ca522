package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
)

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

// readHeader reads and checks a CSV file's header.
func readHeader(sc *csvScanner, path string) ([]string, error) {
	rec, err := sc.next()
	if err == io.EOF {
		return nil, fmt.Errorf("%s is empty (a CSV file needs a header line)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the header of %s: %w", path, err)
	}
	if rec.err != "" {
		return nil, fmt.Errorf("reading the header of %s: line %d: %s", path, rec.start, rec.err)
	}
	header := append([]string(nil), rec.fields...)
	seenName := map[string]bool{}
	for i, h := range header {
		if h == "" {
			return nil, fmt.Errorf("%s: header column %d has no name", path, i+1)
		}
		if seenName[h] {
			return nil, fmt.Errorf("%s: header names column %q twice", path, h)
		}
		seenName[h] = true
	}
	sc.nfields = len(header)
	return header, nil
}

// readCSV reads one CSV file sequentially in batches of batchSize records.
func (r *reader) readCSV(ctx context.Context, f srcFile, seq *uint64, want func(uint64) bool, emit emitFunc) error {
	rc, err := openText(f.path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", f.path, err)
	}
	defer rc.Close()
	cs := newCSVScanner(rc, f.format)
	header, err := readHeader(cs, f.path)
	if err != nil {
		return err
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
		n        int
		cur      bool
		rejects  []op.Reject
		replaced int64
		vals     = make([]any, len(types))
	)
	flush := func() error {
		s := *seq
		*seq++
		n = 0
		if !cur {
			return emit(s, nil, nil)
		}
		if replaced > 0 {
			r.count(s, CounterUTF8Replaced, replaced)
			replaced = 0
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
		rec, err := cs.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.path, err)
		}
		n++
		if !cur {
			goto next
		}
		if rec.err != "" {
			lines := fmt.Sprint(rec.start)
			if rec.end != rec.start {
				lines = fmt.Sprintf("%d (to line %d)", rec.start, rec.end)
			}
			rejects = append(rejects, op.Reject{Row: -1, Reason: ReasonBadRow,
				Detail: fmt.Sprintf("%s:%s: %s", f.path, lines, rec.err), Data: rawData(rec.raw)})
			goto next
		}
		if !utf8.Valid(rec.raw) {
			if r.policy.invalidUTF8 != UTF8Replace {
				rejects = append(rejects, op.Reject{Row: -1, Reason: ReasonBadUTF8,
					Detail: fmt.Sprintf("%s:%d: invalid UTF-8 at byte %d (invalid_utf8: replace keeps the row with U+FFFD)", f.path, rec.start, badUTF8At(rec.raw)+1),
					Data:   csvData(header, rec.fields)})
				goto next
			}
			for i := range rec.fields {
				rec.fields[i] = strings.ToValidUTF8(rec.fields[i], "\ufffd")
			}
			replaced++
		}
		if msg := csvRow(rec.fields, header, idx, types, vals); msg != "" {
			reason := ReasonBadType
			if msg[0] == '!' {
				reason, msg = ReasonBadRow, msg[1:]
			}
			rejects = append(rejects, op.Reject{Row: -1, Reason: reason,
				Detail: fmt.Sprintf("%s:%d: %s", f.path, rec.start, msg), Data: csvData(header, rec.fields)})
			goto next
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
	next:
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

// rawData renders raw text as a reject's data: {"_raw": text}.
func rawData(raw []byte) string {
	buf := append([]byte(`{"_raw":`), op.AppendJSONString(nil, string(raw))...)
	return truncData(append(buf, '}'))
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
			t := strings.TrimSpace(s)
			if !validNumber([]byte(t)) {
				return fmt.Sprintf("column %q: want a float, got %q", header[idx[i]], clip(s))
			}
			f, msg := exactFloat(t)
			if msg != "" {
				return fmt.Sprintf("column %q: %s", header[idx[i]], msg)
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
