package load

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
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

// numberIsInt reports whether a JSON number's text is an integer that fits
// in int64.
func numberIsInt(raw []byte) bool {
	if bytes.ContainsAny(raw, ".eE") {
		return false
	}
	_, err := strconv.ParseInt(string(raw), 10, 64)
	return err == nil
}

// inferJSONL learns columns from the first n non-blank lines of the files:
// keys in order of first appearance; numbers are int unless a float (or an
// integer too big for int64) appears; nested values, mixed kinds and
// all-null keys become json columns. Malformed lines are skipped here (they
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
									if numberIsInt(v.MarshalTo(nil)) {
										s.ints = true
									} else {
										s.floats = true
									}
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

// csvHeader returns a CSV file's header and its first n records.
func csvSample(f srcFile, n int) ([]string, [][]string, error) {
	rc, err := openText(f.path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", f.path, err)
	}
	defer rc.Close()
	r := newCSVReader(rc, f.format)
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, fmt.Errorf("%s is empty (a CSV file needs a header line)", f.path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the header of %s: %w", f.path, err)
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], string(bom))
	}
	seenName := map[string]bool{}
	for i, h := range header {
		if h == "" {
			return nil, nil, fmt.Errorf("%s: header column %d has no name", f.path, i+1)
		}
		if seenName[h] {
			return nil, nil, fmt.Errorf("%s: header names column %q twice", f.path, h)
		}
		seenName[h] = true
	}
	var recs [][]string
	for len(recs) < n {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			continue // counted as a reject when read
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", f.path, err)
		}
		recs = append(recs, append([]string(nil), rec...))
	}
	return header, recs, nil
}

// inferCSV types each header column from the sampled records: int, float or
// bool when every non-empty value parses as one, else string.
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
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				isInt = false
			}
			if _, err := strconv.ParseFloat(v, 64); err != nil {
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
