// Package aggregate is the `aggregate` operator: group rows by columns and
// compute count, sum, mean, min, max, the share of rows where an expression
// holds, and the unbiased pass@k estimator, one output row per group.
package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"go.yaml.in/yaml/v3"
)

// Field names.
const (
	fGroupBy = "group_by"
	fMetrics = "metrics"
	fFn      = "fn"
	fOf      = "of"
	fK       = "k"
)

// Functions.
const (
	FnCount   = "count"
	FnSum     = "sum"
	FnMean    = "mean"
	FnMin     = "min"
	FnMax     = "max"
	FnShare   = "share"
	FnPassAtK = "pass_at_k"
)

// ReasonExprError rejects a row whose metric expression failed or gave a
// value of the wrong type; the row is left out of every metric of its group.
const ReasonExprError = "expr_error"

// Counter names.
const (
	CounterGroups = "groups"
)

var fns = []string{FnCount, FnSum, FnMean, FnMin, FnMax, FnShare, FnPassAtK}

func init() {
	op.Register(op.Spec{
		Name:    "aggregate",
		Summary: "Group rows by columns and compute count, sum, mean, min, max, share and pass@k per group.",
		Doc: "Emits one row per group, after the last input batch, in the order groups first appear: the group_by " +
			"columns followed by one column per metric, in the order the recipe lists them. Without group_by all rows " +
			"form one group (no row at all: no output row).\n\n" +
			"Metrics: `count` (rows in the group; `of:` optional, counts rows where it is true), `sum`, `mean`, `min`, " +
			"`max` of a numeric expression (nulls are skipped; mean, min and max of no value are null; sum and min/max " +
			"of an int expression are int), `share` (the fraction of the group's rows where a boolean expression is " +
			"true; null counts as false), and `pass_at_k` (the unbiased estimator 1 − C(n−c, k)/C(n, k) of Chen et al. " +
			"2021, with n the rows of the group and c those where `of:` is true, computed as 1 − ∏_{i=n−c+1..n} (1 − k/i) " +
			"so that large n does not overflow; null when n < k). pass@1 over n samples is `share`; the mean over " +
			"problems of a benchmark is a second aggregate with `mean`.\n\n" +
			"A row whose expression fails (or gives a value of the wrong type) is rejected with reason \"" +
			ReasonExprError + "\" and left out of its group. aggregate is global: it keeps only per-group " +
			"accumulators (its checkpoint state), so memory grows with the number of groups, not rows. Sums are " +
			"added per batch and then across batches in stream order, so a resumed run gives the same bits.",
		Version: "1",
		Fields: []op.Field{
			{Name: fGroupBy, Kind: op.Strings, Doc: "Columns whose values define a group; none: one group of all rows.", Example: []string{"benchmark", "subject"}},
			{Name: fMetrics, Kind: op.Map, Elem: op.Object, Required: true, Doc: "Output column → metric.",
				Fields: []op.Field{
					{Name: fFn, Kind: op.Enum, Enum: fns, Required: true, Doc: "count, sum, mean, min, max, share or pass_at_k."},
					{Name: fOf, Kind: op.Expr, Doc: "The expression over the row's columns: numeric for sum, mean, min and max; boolean for share, pass_at_k and count."},
					{Name: fK, Kind: op.Int, Min: op.Bound(1), Doc: "pass_at_k: k."},
				}},
		},
		Example: `per_problem:
  op: aggregate
  input: checked
  group_by: [benchmark, subject, problem_id]
  metrics:
    samples: {fn: count}
    correct: {fn: sum, of: 'match ? 1 : 0'}
    pass1: {fn: share, of: match}
    pass4: {fn: pass_at_k, of: match, k: 4}
`,
		New: func() op.Planner { return &Aggregate{} },
	})
}

// Metric is one metric of the config.
type Metric struct {
	Name string
	Fn   string `yaml:"fn"`
	Of   string `yaml:"of"`
	K    int    `yaml:"k"`
}

// Metrics keeps the recipe's order.
type Metrics []Metric

// UnmarshalYAML reads a mapping of column name to metric, in order.
func (ms *Metrics) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("metrics: want a mapping from column names to metrics")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m := Metric{Name: n.Content[i].Value}
		if err := n.Content[i+1].Decode(&m); err != nil {
			return fmt.Errorf("metrics.%s: %w", m.Name, err)
		}
		*ms = append(*ms, m)
	}
	return nil
}

// Aggregate is the operator's config and state.
type Aggregate struct {
	GroupBy op.StringList `yaml:"group_by"`
	Metrics Metrics       `yaml:"metrics"`

	groupIdx []int
	groupFs  []arrow.Field
	exprs    []*op.Expression // per metric; nil for count without of
	isInt    []bool           // per metric: the expression is int (sum/min/max stay int)
	outFs    []arrow.Field
	out      *arrow.Schema
	alloc    memory.Allocator

	total *partial // everything so far
	last  *partial // the last Process call's groups, for Delta
}

var (
	_ op.Processor    = (*Aggregate)(nil)
	_ op.Sequential   = (*Aggregate)(nil)
	_ op.Finisher     = (*Aggregate)(nil)
	_ op.Checkpointer = (*Aggregate)(nil)
	_ op.Opener       = (*Aggregate)(nil)
)

func (a *Aggregate) Sequential() {}

// Plan checks the group columns and compiles the metric expressions.
func (a *Aggregate) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	if in == nil {
		p.Errorf("", "aggregate needs an input step")
		return nil
	}
	ok := true
	a.groupIdx, a.groupFs = nil, nil
	seen := map[string]bool{}
	for _, g := range a.GroupBy {
		idx := in.FieldIndices(g)
		if len(idx) == 0 {
			p.Errorf(fGroupBy, "no column %q in the input of this step", g)
			ok = false
			continue
		}
		if seen[g] {
			p.Errorf(fGroupBy, "column %q is listed twice", g)
			ok = false
			continue
		}
		seen[g] = true
		a.groupIdx = append(a.groupIdx, idx[0])
		a.groupFs = append(a.groupFs, in.Field(idx[0]))
	}
	if len(a.Metrics) == 0 {
		p.Errorf(fMetrics, "name at least one metric, e.g. metrics: {rows: {fn: count}}")
		ok = false
	}
	a.exprs = make([]*op.Expression, len(a.Metrics))
	a.isInt = make([]bool, len(a.Metrics))
	a.outFs = append([]arrow.Field(nil), a.groupFs...)
	for i, m := range a.Metrics {
		field := fMetrics + "." + m.Name
		if seen[m.Name] {
			p.Errorf(field, "column %q is written twice (a group_by column or another metric)", m.Name)
			ok = false
			continue
		}
		seen[m.Name] = true
		if m.K != 0 && m.Fn != FnPassAtK {
			p.Errorf(field+"."+fK, "k: is for fn: pass_at_k")
			ok = false
		}
		var typ string
		switch m.Fn {
		case FnCount:
			typ = op.TypeInt
			if m.Of != "" {
				a.exprs[i] = op.CompileExpr(p, field+"."+fOf, m.Of, in, true)
				ok = ok && a.exprs[i] != nil
			}
		case FnShare, FnPassAtK:
			typ = op.TypeFloat
			if m.Of == "" {
				p.Errorf(field, "%s needs of: a boolean expression, e.g. of: match", m.Fn)
				ok = false
				continue
			}
			a.exprs[i] = op.CompileExpr(p, field+"."+fOf, m.Of, in, true)
			ok = ok && a.exprs[i] != nil
			if m.Fn == FnPassAtK && m.K < 1 {
				p.Errorf(field, "pass_at_k needs k: (1 or more)")
				ok = false
			}
		case FnSum, FnMean, FnMin, FnMax:
			typ = op.TypeFloat
			if m.Of == "" {
				p.Errorf(field, "%s needs of: a numeric expression", m.Fn)
				ok = false
				continue
			}
			e := op.CompileExpr(p, field+"."+fOf, m.Of, in, false)
			if e == nil {
				ok = false
				continue
			}
			switch e.ColumnType() {
			case op.TypeInt:
				if m.Fn != FnMean {
					typ = op.TypeInt
					a.isInt[i] = true
				}
			case op.TypeFloat:
			case op.TypeJSON:
				if e.Type.Kind() != reflect.Interface {
					p.Errorf(field+"."+fOf, "%s needs a number, but %q is %s", m.Fn, m.Of, e.Type)
					ok = false
				}
			default:
				p.Errorf(field+"."+fOf, "%s needs a number, but %q is %s", m.Fn, m.Of, e.ColumnType())
				ok = false
			}
			a.exprs[i] = e
		default:
			p.Errorf(field+"."+fFn, "unknown function %q (one of %v)", m.Fn, fns)
			ok = false
			continue
		}
		a.outFs = append(a.outFs, op.MustField(m.Name, typ))
	}
	if !ok {
		return nil
	}
	a.out = arrow.NewSchema(a.outFs, nil)
	return a.out
}

// Open takes the run's allocator and starts empty accumulators.
func (a *Aggregate) Open(_ context.Context, rc op.RunContext) error {
	a.alloc = rc.Alloc()
	if a.total == nil { // Restore may have run first
		a.total = newPartial(len(a.Metrics))
	}
	return nil
}

// acc accumulates one metric of one group.
type acc struct {
	N     int64   `json:"n"`           // values seen (count: rows counted; share, pass_at_k: rows)
	C     int64   `json:"c,omitempty"` // share, pass_at_k: rows where true
	Sum   float64 `json:"s,omitempty"`
	ISum  int64   `json:"i,omitempty"`
	Min   float64 `json:"lo,omitempty"`
	Max   float64 `json:"hi,omitempty"`
	IMin  int64   `json:"ilo,omitempty"`
	IMax  int64   `json:"ihi,omitempty"`
	Valid bool    `json:"v,omitempty"` // min/max/sum have a value
}

// group is the accumulators of one group.
type group struct {
	Key  json.RawMessage `json:"key"` // the group_by values as a JSON array
	Accs []acc           `json:"accs"`
}

// partial is groups in first-seen order.
type partial struct {
	Groups []*group `json:"groups"`
	index  map[string]*group
	nm     int
}

func newPartial(nm int) *partial { return &partial{index: map[string]*group{}, nm: nm} }

func (p *partial) get(key []byte) *group {
	if g, ok := p.index[string(key)]; ok {
		return g
	}
	g := &group{Key: append(json.RawMessage(nil), key...), Accs: make([]acc, p.nm)}
	p.index[string(key)] = g
	p.Groups = append(p.Groups, g)
	return g
}

// merge adds q's groups into p, in q's order.
func (p *partial) merge(q *partial) {
	for _, qg := range q.Groups {
		g := p.get(qg.Key)
		for i := range g.Accs {
			mergeAcc(&g.Accs[i], &qg.Accs[i])
		}
	}
}

func mergeAcc(d, s *acc) {
	d.N += s.N
	d.C += s.C
	if !s.Valid {
		return
	}
	if !d.Valid {
		*d = acc{N: d.N, C: d.C, Sum: s.Sum, ISum: s.ISum, Min: s.Min, Max: s.Max, IMin: s.IMin, IMax: s.IMax, Valid: true}
		return
	}
	d.Sum += s.Sum
	d.ISum += s.ISum
	d.Min = math.Min(d.Min, s.Min)
	d.Max = math.Max(d.Max, s.Max)
	d.IMin = min(d.IMin, s.IMin)
	d.IMax = max(d.IMax, s.IMax)
}

// Process accumulates the batch into a partial of its own, then merges it
// into the total (so a resumed run adds the same partials in the same order).
func (a *Aggregate) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	if a.total == nil {
		return op.Result{}, fmt.Errorf("aggregate: Process before Open")
	}
	rec := b.Record
	part := newPartial(len(a.Metrics))
	a.last = part
	if rec == nil || rec.NumRows() == 0 {
		return op.Result{}, nil
	}
	evs := make([]*op.Evaluator, len(a.exprs))
	for i, e := range a.exprs {
		if e == nil {
			continue
		}
		evs[i] = e.NewEvaluator()
		if err := evs[i].Bind(rec); err != nil {
			return op.Result{}, fmt.Errorf("aggregate: %w", err)
		}
	}
	sc := rec.Schema()
	n := int(rec.NumRows())
	var rejects []op.Reject
	var key []byte
	vals := make([]any, len(a.Metrics))
rows:
	for r := 0; r < n; r++ {
		if r%1024 == 0 && ctx.Err() != nil {
			return op.Result{}, ctx.Err()
		}
		for i, ev := range evs {
			vals[i] = nil
			if ev == nil {
				continue
			}
			v, err := ev.Eval(r)
			if err != nil {
				rejects = append(rejects, op.Reject{Row: r, Reason: ReasonExprError, Detail: fmt.Sprintf("metrics.%s: %v", a.Metrics[i].Name, err)})
				continue rows
			}
			if v != nil && !a.fits(i, v) {
				rejects = append(rejects, op.Reject{Row: r, Reason: ReasonExprError,
					Detail: fmt.Sprintf("metrics.%s: %q gave %v (%T), not a number", a.Metrics[i].Name, a.Metrics[i].Of, v, v)})
				continue rows
			}
			vals[i] = v
		}
		key = append(key[:0], '[')
		for k, gi := range a.groupIdx {
			if k > 0 {
				key = append(key, ',')
			}
			key = op.AppendCellJSON(key, sc.Field(gi), rec.Column(gi), r)
		}
		key = append(key, ']')
		g := part.get(key)
		for i, m := range a.Metrics {
			add(&g.Accs[i], m.Fn, evs[i] != nil, vals[i])
		}
	}
	a.total.merge(part)
	return op.Result{Rejects: rejects}, nil
}

// fits reports whether v suits metric i (numbers for sum/mean/min/max).
func (a *Aggregate) fits(i int, v any) bool {
	switch a.Metrics[i].Fn {
	case FnSum, FnMean, FnMin, FnMax:
		switch v.(type) {
		case int, int64, float64:
			return true
		}
		return false
	}
	return true
}

func add(ac *acc, fn string, hasExpr bool, v any) {
	switch fn {
	case FnCount:
		if !hasExpr || v == true {
			ac.N++
		}
	case FnShare, FnPassAtK:
		ac.N++
		if v == true {
			ac.C++
		}
	default:
		if v == nil {
			return
		}
		var f float64
		var iv int64
		switch t := v.(type) {
		case int:
			f, iv = float64(t), int64(t)
		case int64:
			f, iv = float64(t), t
		case float64:
			f = t
		}
		ac.N++
		if !ac.Valid {
			ac.Valid, ac.Min, ac.Max, ac.IMin, ac.IMax = true, f, f, iv, iv
		} else {
			ac.Min = math.Min(ac.Min, f)
			ac.Max = math.Max(ac.Max, f)
			ac.IMin = min(ac.IMin, iv)
			ac.IMax = max(ac.IMax, iv)
		}
		ac.Sum += f
		ac.ISum += iv
	}
}

// Delta is the last batch's partial, as JSON.
func (a *Aggregate) Delta() ([]byte, error) {
	p := a.last
	a.last = nil
	if p == nil || len(p.Groups) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("aggregate: encoding checkpoint: %w", err)
	}
	return b, nil
}

// Restore merges the committed batches' partials, in order.
func (a *Aggregate) Restore(deltas [][]byte) error {
	a.total = newPartial(len(a.Metrics))
	for k, d := range deltas {
		if len(d) == 0 {
			continue
		}
		q := newPartial(len(a.Metrics))
		if err := json.Unmarshal(d, q); err != nil {
			return fmt.Errorf("aggregate: reading checkpoint delta %d: %w", k, err)
		}
		for _, g := range q.Groups {
			if len(g.Accs) != len(a.Metrics) {
				return fmt.Errorf("aggregate: checkpoint delta %d has %d metrics, the step %d", k, len(g.Accs), len(a.Metrics))
			}
		}
		a.total.merge(q)
	}
	return nil
}

// Finish emits one row per group.
func (a *Aggregate) Finish(_ context.Context, alloc memory.Allocator) (op.Result, error) {
	if a.total == nil || len(a.total.Groups) == 0 {
		return op.Result{Counters: map[string]int64{CounterGroups: 0}}, nil
	}
	bs := make([]*op.ValueBuilder, len(a.outFs))
	for i, f := range a.outFs {
		bs[i] = op.NewValueBuilder(alloc, f)
		defer bs[i].Release()
	}
	ng := len(a.groupFs)
	for _, g := range a.total.Groups {
		var keys []any
		dec := json.NewDecoder(bytes.NewReader(g.Key))
		dec.UseNumber()
		if err := dec.Decode(&keys); err != nil || len(keys) != ng {
			return op.Result{}, fmt.Errorf("aggregate: bad group key %s: %v", g.Key, err)
		}
		for k, v := range keys {
			if op.IsJSON(a.groupFs[k]) && v != nil {
				b, _ := json.Marshal(v)
				v = json.RawMessage(b)
			}
			if err := bs[k].Append(v); err != nil {
				return op.Result{}, fmt.Errorf("aggregate: group column %s: %w", a.groupFs[k].Name, err)
			}
		}
		for i, m := range a.Metrics {
			if err := bs[ng+i].Append(a.value(i, m, &g.Accs[i])); err != nil {
				return op.Result{}, fmt.Errorf("aggregate: metric %s: %w", m.Name, err)
			}
		}
	}
	cols := make([]arrow.Array, len(bs))
	for i, b := range bs {
		cols[i] = b.NewArray()
		defer cols[i].Release()
	}
	rec := array.NewRecord(a.out, cols, int64(len(a.total.Groups)))
	return op.Result{Record: rec, Counters: map[string]int64{CounterGroups: int64(len(a.total.Groups))}}, nil
}

func (a *Aggregate) value(i int, m Metric, ac *acc) any {
	switch m.Fn {
	case FnCount:
		return ac.N
	case FnShare:
		if ac.N == 0 {
			return nil
		}
		return float64(ac.C) / float64(ac.N)
	case FnPassAtK:
		v, ok := PassAtK(int(ac.N), int(ac.C), m.K)
		if !ok {
			return nil
		}
		return v
	case FnSum:
		if a.isInt[i] {
			return ac.ISum
		}
		return ac.Sum
	case FnMean:
		if ac.N == 0 {
			return nil
		}
		return ac.Sum / float64(ac.N)
	case FnMin, FnMax:
		if !ac.Valid {
			return nil
		}
		if a.isInt[i] {
			if m.Fn == FnMax {
				return ac.IMax
			}
			return ac.IMin
		}
		if m.Fn == FnMax {
			return ac.Max
		}
		return ac.Min
	}
	return nil
}

// PassAtK is the unbiased estimator of pass@k from n samples of which c
// are correct: 1 − C(n−c, k)/C(n, k), computed as 1 − ∏_{i=n−c+1}^{n} (1 − k/i)
// (Chen et al. 2021), which neither overflows nor loses precision for large
// n. ok is false when n < k (the estimator is undefined) or c is out of range.
func PassAtK(n, c, k int) (float64, bool) {
	if k < 1 || n < k || c < 0 || c > n {
		return 0, false
	}
	if n-c < k {
		return 1, true
	}
	prod := 1.0
	for i := n - c + 1; i <= n; i++ {
		prod *= 1 - float64(k)/float64(i)
	}
	return 1 - prod, true
}
