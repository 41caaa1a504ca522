package recipetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/caco-dev/caco/engine/op"
)

// Output is a written file as read after the run.
type Output struct {
	Path    string
	Rows    []map[string]any // values as op.Value gives them
	Columns []string         // Parquet: the schema; JSON lines: every key seen, in order
	Err     error            // the file could not be read
}

// readOutput reads rel (relative to runDir) by its extension.
func readOutput(ctx context.Context, runDir, rel string, alloc memory.Allocator) *Output {
	o := &Output{Path: rel}
	path := filepath.Join(runDir, rel)
	switch strings.ToLower(filepath.Ext(rel)) {
	case ".parquet", ".pq":
		o.Err = readParquet(ctx, path, alloc, o)
	default:
		o.Err = readJSONL(path, o)
	}
	return o
}

func readJSONL(path string, o *Output) error {
	f, err := os.Open(path)
	if err != nil {
		return unwrapPath(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		row, ok := op.DecodeJSON(string(text)).(map[string]any)
		if !ok {
			return fmt.Errorf("line %d: not a JSON object", line)
		}
		keys := make([]string, 0, len(row))
		for k := range row {
			if !seen[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			seen[k] = true
			o.Columns = append(o.Columns, k)
		}
		o.Rows = append(o.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

func readParquet(ctx context.Context, path string, alloc memory.Allocator, o *Output) error {
	if alloc == nil {
		alloc = memory.NewGoAllocator()
	}
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return unwrapPath(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, alloc)
	if err != nil {
		return fmt.Errorf("reading parquet schema: %w", err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("reading parquet schema: %w", err)
	}
	for _, f := range sc.Fields() {
		o.Columns = append(o.Columns, f.Name)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("reading parquet rows: %w", err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			o.Rows = append(o.Rows, op.Row(rec, i))
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading parquet rows: %w", err)
	}
	return nil
}

// rowMatches reports whether actual has every expected column with an
// equal value.
func rowMatches(want *RowExpect, got map[string]any) bool {
	for _, k := range want.Keys {
		v, ok := got[k]
		if !ok || !equal(want.Values[k], v) {
			return false
		}
	}
	return true
}

// equal compares an expected value with an actual one: numbers by value,
// lists and mappings deeply, everything else by type and value.
func equal(want, got any) bool {
	if a, ok := number(want); ok {
		b, ok := number(got)
		return ok && a == b
	}
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		g, ok := got.(string)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !equal(w[i], g[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok || !equal(v, gv) {
				return false
			}
		}
		return true
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	}
	return 0, false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	if _, ok := number(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// show renders a value as compact JSON.
func show(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// showRow renders the given columns of a row as a JSON object in that
// order; columns the row lacks are left out.
func showRow(keys []string, row map[string]any) string {
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, k := range keys {
		v, ok := row[k]
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(show(k))
		b.WriteByte(':')
		b.WriteString(show(v))
	}
	b.WriteByte('}')
	return b.String()
}

// match assigns each expected row its own actual row (maximum bipartite
// matching, so that overlapping expectations cannot steal each other's
// rows) and returns, per expected row, the index of its actual row or -1.
func match(want []*RowExpect, rows []map[string]any) []int {
	cand := make([][]int, len(want))
	for i, w := range want {
		for j, r := range rows {
			if rowMatches(w, r) {
				cand[i] = append(cand[i], j)
			}
		}
	}
	owner := make([]int, len(rows)) // actual row → expected row, -1 free
	for j := range owner {
		owner[j] = -1
	}
	var try func(i int, seen []bool) bool
	try = func(i int, seen []bool) bool {
		for _, j := range cand[i] {
			if seen[j] {
				continue
			}
			seen[j] = true
			if owner[j] < 0 || try(owner[j], seen) {
				owner[j] = i
				return true
			}
		}
		return false
	}
	for i := range want {
		try(i, make([]bool, len(rows)))
	}
	got := make([]int, len(want))
	for i := range got {
		got[i] = -1
	}
	for j, i := range owner {
		if i >= 0 {
			got[i] = j
		}
	}
	return got
}

// closest returns the actual row that agrees with want on the most
// columns (the first of equals), or -1 when there are no rows.
func closest(want *RowExpect, rows []map[string]any) int {
	best, bestN := -1, -1
	for j, r := range rows {
		n := 0
		for _, k := range want.Keys {
			if v, ok := r[k]; ok && equal(want.Values[k], v) {
				n++
			}
		}
		if n > bestN {
			best, bestN = j, n
		}
	}
	return best
}

// rowDiff lists how row differs from want, one line per column.
func rowDiff(want *RowExpect, row map[string]any) []string {
	var out []string
	for _, k := range want.Keys {
		w := want.Values[k]
		g, ok := row[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: want %s, got no such column", k, show(w)))
		case !equal(w, g):
			ws, gs := show(w), show(g)
			if typeName(w) != typeName(g) {
				ws += " (" + typeName(w) + ")"
				gs += " (" + typeName(g) + ")"
			}
			out = append(out, fmt.Sprintf("%s: want %s, got %s", k, ws, gs))
		}
	}
	return out
}
