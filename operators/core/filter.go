package core

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
)

// Filter keeps the rows for which an expression is true.
type Filter struct {
	Where string `yaml:"where"`

	expr *op.Expression
}

const fieldWhere = "where"

// Reasons filter gives in the rejects ledger.
const (
	ReasonWhereFalse = "where is false"
	ReasonWhereError = "where failed"
)

var (
	_ op.Processor = (*Filter)(nil)
)

func init() {
	op.Register(op.Spec{
		Name:    "filter",
		Summary: "Keep the rows for which an expression is true.",
		Doc: "`where` is an expr-lang expression (https://expr-lang.org) over the input columns, " +
			"type-checked at validation. Rows where it is false are rejected with reason \"" + ReasonWhereFalse +
			"\"; rows where it fails (e.g. len of a null) with reason \"" + ReasonWhereError + "\" and the error.",
		RowLocal: true,
		Fields: []op.Field{
			{Name: fieldWhere, Kind: op.Expr, Required: true, Doc: "Boolean expression over the row's columns.",
				Example: `status == "ok" && len(code) > 0`},
		},
		Example: "valid:\n  op: filter\n  input: runs\n  where: status == \"ok\" && exec_ms < 2000\n",
		New:     func() op.Planner { return &Filter{} },
	})
}

func (f *Filter) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	f.expr = op.CompileExpr(p, fieldWhere, f.Where, in, true)
	if f.expr == nil {
		return nil
	}
	return in
}

func (f *Filter) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	ev := f.expr.NewEvaluator()
	if err := ev.Bind(b.Record); err != nil {
		return op.Result{}, err
	}
	n := int(b.Record.NumRows())
	keep := make([]bool, n)
	var rejects []op.Reject
	for i := 0; i < n; i++ {
		v, err := ev.Eval(i)
		if err != nil {
			rejects = append(rejects, op.Reject{Row: i, Reason: ReasonWhereError, Detail: err.Error()})
			continue
		}
		if ok, _ := v.(bool); ok {
			keep[i] = true
		} else {
			rejects = append(rejects, op.Reject{Row: i, Reason: ReasonWhereFalse})
		}
	}
	out, err := op.Filter(b.Alloc, b.Record, keep)
	if err != nil {
		return op.Result{}, fmt.Errorf("filter: %w", err)
	}
	return op.Result{Record: out, Rejects: rejects}, nil
}
