package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/op"
)

// Row is a committed row, its fields in column order.
type Row struct {
	Fields []Field
	// Values holds the decoded values by column (strings untruncated).
	Values map[string]any
}

// Get returns a column's value as text.
func (r Row) Get(name string) (string, bool) {
	v, ok := r.Values[name]
	if !ok {
		return "", false
	}
	return text(v), true
}

// SampleBatches is the most batches a sample reads from one step.
const SampleBatches = 24

// sampleRows reads up to n committed output rows of a step, spread over at
// most SampleBatches evenly spaced batches of every run folder, so that the
// cost stays bounded however large the run.
func (r *Run) sampleRows(step string, n int, alloc memory.Allocator) ([]Row, error) {
	type src struct {
		ss *checkpoint.StepStore
		c  *checkpoint.Commit
	}
	var all []src
	for _, d := range r.dirs {
		ss := &checkpoint.StepStore{Dir: filepath.Join(d, "steps", step)}
		commits, err := ss.Commits()
		if err != nil {
			return nil, fmt.Errorf("step %s: reading commits: %w", step, err)
		}
		ss.Done = map[uint64]*checkpoint.Commit{}
		for _, c := range commits {
			if c.DataLen > 0 && c.RowsOut > 0 {
				ss.Done[c.Seq] = c
				all = append(all, src{ss, c})
			}
		}
	}
	if len(all) == 0 || n <= 0 {
		return nil, nil
	}
	pick := all
	if len(all) > SampleBatches {
		pick = nil
		for i := 0; i < SampleBatches; i++ {
			pick = append(pick, all[i*len(all)/SampleBatches])
		}
	}
	per := (n + len(pick) - 1) / len(pick)
	var rows []Row
	var buf []byte
	for _, p := range pick {
		if len(rows) >= n {
			break
		}
		rec, err := p.ss.Load(p.c.Seq, nil, alloc)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", step, err)
		}
		k := min(int(rec.NumRows()), per, n-len(rows))
		for i := 0; i < k; i++ {
			buf = op.AppendRowJSON(buf[:0], rec, i)
			var vals map[string]any
			d := json.NewDecoder(bytes.NewReader(buf))
			d.UseNumber()
			if err := d.Decode(&vals); err != nil {
				rec.Release()
				return nil, fmt.Errorf("step %s: decoding row: %w", step, err)
			}
			rows = append(rows, Row{Fields: fields(append(json.RawMessage(nil), buf...)), Values: vals})
		}
		rec.Release()
	}
	return rows, nil
}

// Columns of a step's committed output, from its first batch with rows.
func (r *Run) columns(step string, alloc memory.Allocator) ([]Column, error) {
	for _, d := range r.dirs {
		ss := &checkpoint.StepStore{Dir: filepath.Join(d, "steps", step)}
		commits, err := ss.Commits()
		if err != nil {
			return nil, err
		}
		ss.Done = map[uint64]*checkpoint.Commit{}
		for _, c := range commits {
			if c.DataLen == 0 {
				continue
			}
			ss.Done[c.Seq] = c
			rec, err := ss.Load(c.Seq, nil, alloc)
			if err != nil {
				return nil, err
			}
			var cols []Column
			for _, f := range rec.Schema().Fields() {
				cols = append(cols, Column{Name: f.Name, Type: op.TypeName(f)})
			}
			rec.Release()
			return cols, nil
		}
	}
	return nil, nil
}

// Column is a dataset column and its caco type.
type Column struct {
	Name string
	Type string
}
