package core

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
	"go.yaml.in/yaml/v3"
)

// Map adds or replaces columns computed by expressions, and drops columns.
type Map struct {
	Columns yaml.Node     `yaml:"columns"`
	Drop    op.StringList `yaml:"drop"`

	names []string
	exprs []*op.Expression
	out   []arrow.Field
	keep  []int // input column indices kept (after drop), in order
	sc    *arrow.Schema
}

const (
	fieldColumns = "columns"
	fieldDrop    = "drop"
	// ReasonMapError is the reject reason when an expression fails on a row.
	ReasonMapError = "map failed"
)

var _ op.Processor = (*Map)(nil)

func init() {
	op.Register(op.Spec{
		Name:    "map",
		Summary: "Add or replace columns computed by expressions; drop columns.",
		Doc: "Each entry of `columns` names an output column and an expr-lang expression over the input columns; " +
			"its type (string, int, float, bool, or json for anything else) comes from the expression's static type. " +
			"Expressions see the input row, not each other's results. A row on which an expression fails is rejected " +
			"with reason \"" + ReasonMapError + "\".",
		RowLocal: true,
		Fields: []op.Field{
			{Name: fieldColumns, Kind: op.Map, Elem: op.Expr, Doc: "Output column name → expression.",
				Example: map[string]string{"n_chars": "len(code)"}},
			{Name: fieldDrop, Kind: op.Strings, Doc: "Columns to remove from the output."},
		},
		Example: "tagged:\n  op: map\n  input: seeds\n  columns:\n    n_chars: len(code)\n    source: '\"gsm8k\"'\n  drop: [raw]\n",
		New:     func() op.Planner { return &Map{} },
	})
}

func (m *Map) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	if m.Columns.Kind == 0 && len(m.Drop) == 0 {
		p.Errorf("", "map needs `columns:` or `drop:`")
		return nil
	}
	ok := true
	for i := 0; i+1 < len(m.Columns.Content); i += 2 {
		name, src := m.Columns.Content[i].Value, m.Columns.Content[i+1].Value
		e := op.CompileExpr(p, fieldColumns+"."+name, src, in, false)
		if e == nil {
			ok = false
			continue
		}
		f, err := op.NewField(name, e.ColumnType())
		if err != nil {
			p.Errorf(fieldColumns+"."+name, "%v", err)
			ok = false
			continue
		}
		m.names = append(m.names, name)
		m.exprs = append(m.exprs, e)
		m.out = append(m.out, f)
	}
	dropped := map[string]bool{}
	for _, d := range m.Drop {
		if len(in.FieldIndices(d)) == 0 {
			p.Errorf(fieldDrop, "no column %q to drop", d)
			ok = false
		}
		dropped[d] = true
	}
	if !ok {
		return nil
	}
	full := op.SchemaWith(in, m.out...)
	var fields []arrow.Field
	for i, f := range full.Fields() {
		if !dropped[f.Name] {
			fields = append(fields, f)
			m.keep = append(m.keep, i)
		}
	}
	md := in.Metadata()
	m.sc = arrow.NewSchema(fields, &md)
	return m.sc
}

func (m *Map) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	rec := b.Record
	n := int(rec.NumRows())
	evs := make([]*op.Evaluator, len(m.exprs))
	builders := make([]*op.ValueBuilder, len(m.exprs))
	for k, e := range m.exprs {
		evs[k] = e.NewEvaluator()
		if err := evs[k].Bind(rec); err != nil {
			return op.Result{}, err
		}
		builders[k] = op.NewValueBuilder(b.Alloc, m.out[k])
		defer builders[k].Release()
	}
	keep := make([]bool, n)
	var rejects []op.Reject
	for i := 0; i < n; i++ {
		failed := false
		for k := range m.exprs {
			if failed {
				builders[k].AppendNull()
				continue
			}
			v, err := evs[k].Eval(i)
			if err == nil {
				err = builders[k].AppendOrdered(v, evs[k].KeyOrder())
			}
			if err != nil {
				failed = true
				builders[k].AppendNull()
				rejects = append(rejects, op.Reject{Row: i, Reason: ReasonMapError, Detail: fmt.Sprintf("%s: %v", m.names[k], err)})
			}
		}
		keep[i] = !failed
	}
	cols := make([]arrow.Array, len(builders))
	for k, bld := range builders {
		cols[k] = bld.NewArray()
		defer cols[k].Release()
	}
	withCols := op.WithColumns(rec, m.out, cols)
	defer withCols.Release()
	projected := project(withCols, m.sc, m.keep)
	defer projected.Release()
	out, err := op.Filter(b.Alloc, projected, keep)
	if err != nil {
		return op.Result{}, err
	}
	return op.Result{Record: out, Rejects: rejects}, nil
}

// project returns a new record of the given columns under schema sc.
func project(rec arrow.Record, sc *arrow.Schema, idx []int) arrow.Record {
	cols := make([]arrow.Array, len(idx))
	for i, c := range idx {
		cols[i] = rec.Column(c)
	}
	return arrowNewRecord(sc, cols, rec.NumRows())
}
