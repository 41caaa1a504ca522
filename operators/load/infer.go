package load

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
	"github.com/valyala/fastjson"
)

// seen records which kinds of values a column showed in the sample.
type seen struct {
	name                                    string
	null, ints, floats, strs, bools, nested bool
	// bigInts: an integer beyond int64; inexact: an int64 that no float64
	// holds exactly; odd: a number that is not strict JSON (NaN, 01) or
	// beyond the float64 range.
	bigInts, inexact, odd bool
}

func (s *seen) typ() string {
	kinds := 0
	for _, b := range []bool{s.ints || s.floats, s.strs, s.bools, s.nested} {
		if b {
			kinds++
		}
	}
	switch {
	case kinds != 1 || s.nested:
		return op.TypeJSON // mixed kinds, nested values, or only nulls
	case s.bigInts || s.odd || s.floats && s.inexact:
		return op.TypeJSON // no int or float column holds every number seen
	case s.floats:
		return op.TypeFloat
	case s.ints:
		return op.TypeInt
	case s.strs:
		return op.TypeString
	default:
		return op.TypeBool
	}
}

// noteNumber records a JSON number's kind.
func (s *seen) noteNumber(raw []byte) {
	switch {
	case !validNumber(raw):
		s.odd = true
	case op.NumberIsInt(string(raw)):
		s.ints = true
		if _, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
			s.bigInts = true
		} else if _, msg := exactFloat(string(raw)); msg != "" {
			s.inexact = true
		}
	default:
		s.floats = true
		if _, msg := exactFloat(string(raw)); msg != "" {
			s.odd = true
		}
	}
}

// inferJSONL learns columns from the first n non-blank lines of the files:
// keys in order of first appearance; numbers are int unless a float appears,
// and json when neither int nor float holds every number seen exactly (an
// integer beyond int64, floats with an integer a float64 cannot hold);
// nested values, mixed kinds and all-null keys become json columns. Malformed lines are skipped here (they
// become rejects when read).
func inferJSONL(files []srcFile, n int) (*arrow.Schema, int, error) {
	var (
		cols  []*seen
		index = map[string]*seen{}
		p     fastjson.Parser
		rows  int
	)
	for _, f := range files {
		if rows >= n {
			break
		}
		err := func() error {
			rc, err := openText(f.path)
			if err != nil {
				return fmt.Errorf("opening %s: %w", f.path, err)
			}
			defer rc.Close()
			br := bufio.NewReaderSize(rc, 1<<16)
			first := true
			for rows < n {
				line, err := readLine(br, nil)
				if len(line) > 0 {
					if first {
						line = bytes.TrimPrefix(line, bom)
					}
					first = false
					if !isBlank(line) {
						rows++
						if v, perr := p.ParseBytes(line); perr == nil && v.Type() == fastjson.TypeObject {
							v.GetObject().Visit(func(k []byte, v *fastjson.Value) {
								s := index[string(k)]
								if s == nil {
									s = &seen{name: string(k)}
									index[s.name] = s
									cols = append(cols, s)
								}
								switch v.Type() {
								case fastjson.TypeNull:
									s.null = true
								case fastjson.TypeNumber:
									s.noteNumber(v.MarshalTo(nil))
								case fastjson.TypeString:
									s.strs = true
								case fastjson.TypeTrue, fastjson.TypeFalse:
									s.bools = true
								default:
									s.nested = true
								}
							})
						}
					}
				}
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return fmt.Errorf("reading %s: %w", f.path, err)
				}
			}
			return nil
		}()
		if err != nil {
			return nil, rows, err
		}
	}
	fields := make([]arrow.Field, len(cols))
	for i, s := range cols {
		fields[i] = op.MustField(s.name, s.typ())
	}
	return arrow.NewSchema(fields, nil), rows, nil
}

// csvSample returns a CSV file's header and its first n good records.
func csvSample(f srcFile, n int) ([]string, [][]string, error) {
	rc, err := openText(f.path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", f.path, err)
	}
	defer rc.Close()
	cs := newCSVScanner(rc, f.format)
	header, err := readHeader(cs, f.path)
	if err != nil {
		return nil, nil, err
	}
	var recs [][]string
	for len(recs) < n {
		rec, err := cs.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", f.path, err)
		}
		if rec.err != "" || len(rec.fields) != len(header) {
			continue // a reject when read
		}
		recs = append(recs, append([]string(nil), rec.fields...))
	}
	return header, recs, nil
}

// inferCSV types each header column from the sampled records: int, float or
// bool when every non-empty value is one, written as such, else string. An
// int is plain decimal that fits in int64, without a sign, leading zeros or
// spaces (so 007 and +1 stay strings); a float is a JSON-style number that a
// float64 holds exactly if it is an integer (so 12345678901234567890123
// stays a string); NaN and Inf are strings.
func inferCSV(header []string, recs [][]string) *arrow.Schema {
	fields := make([]arrow.Field, len(header))
	for c, h := range header {
		isInt, isFloat, isBool, any := true, true, true, false
		for _, r := range recs {
			if c >= len(r) || r[c] == "" {
				continue
			}
			any = true
			v := r[c]
			num := validNumber([]byte(v))
			if _, err := strconv.ParseInt(v, 10, 64); err != nil || !num || !op.NumberIsInt(v) {
				isInt = false
			}
			if _, msg := exactFloat(v); !num || msg != "" {
				isFloat = false
			}
			if lv := strings.ToLower(v); lv != "true" && lv != "false" {
				isBool = false
			}
		}
		t := op.TypeString
		switch {
		case !any:
		case isInt:
			t = op.TypeInt
		case isFloat:
			t = op.TypeFloat
		case isBool:
			t = op.TypeBool
		}
		fields[c] = op.MustField(h, t)
	}
	return arrow.NewSchema(fields, nil)
}
