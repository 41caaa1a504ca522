package aggregate

import (
	"context"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
)

func newMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// exactPassAtK is 1 - C(n-c,k)/C(n,k) in exact rational arithmetic.
func exactPassAtK(n, c, k int) float64 {
	num := new(big.Int).Binomial(int64(n-c), int64(k))
	if n-c < k {
		num = big.NewInt(0)
	}
	den := new(big.Int).Binomial(int64(n), int64(k))
	r := new(big.Rat).SetFrac(num, den)
	r.Sub(big.NewRat(1, 1), r)
	f, _ := r.Float64()
	return f
}

func TestPassAtK(t *testing.T) {
	cases := []struct {
		n, c, k int
		ok      bool
	}{
		{1, 0, 1, true}, {1, 1, 1, true}, {4, 1, 1, true}, {4, 2, 2, true}, {10, 3, 5, true},
		{10, 0, 10, true}, {10, 10, 10, true}, {16, 1, 8, true}, {200, 7, 100, true},
		{1000, 1, 1, true}, {1000, 3, 500, true}, {1024, 500, 1000, true}, {5000, 2500, 100, true},
		{3, 1, 4, false}, {3, 4, 1, false}, {3, -1, 1, false}, {3, 1, 0, false},
	}
	for _, tc := range cases {
		got, ok := PassAtK(tc.n, tc.c, tc.k)
		if ok != tc.ok {
			t.Errorf("PassAtK(%d,%d,%d) ok = %v, want %v", tc.n, tc.c, tc.k, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		want := exactPassAtK(tc.n, tc.c, tc.k)
		if math.Abs(got-want) > 1e-12 || got < 0 || got > 1 {
			t.Errorf("PassAtK(%d,%d,%d) = %.17g, want %.17g", tc.n, tc.c, tc.k, got, want)
		}
	}
	// pass@1 is the fraction of correct samples
	if got, _ := PassAtK(8, 3, 1); math.Abs(got-3.0/8) > 1e-15 {
		t.Errorf("pass@1 of 3/8 = %v", got)
	}
}

const evalRows1 = `
{"bench": "math", "subject": "algebra", "pid": "p1", "match": true, "tokens": 10, "score": 0.5}
{"bench": "math", "subject": "algebra", "pid": "p1", "match": false, "tokens": 30, "score": 1.5}
{"bench": "math", "subject": "geometry", "pid": "p2", "match": false, "tokens": 7, "score": null}
`

const evalRows2 = `
{"bench": "math", "subject": "algebra", "pid": "p1", "match": true, "tokens": 20, "score": 2.0}
{"bench": "gsm", "subject": null, "pid": "p3", "match": null, "tokens": 5, "score": 4.0}
{"bench": "math", "subject": "geometry", "pid": "p2", "match": true, "tokens": 3, "score": null}
`

const evalConfig = `group_by: [bench, subject]
metrics:
  rows: {fn: count}
  right: {fn: count, of: match == true}
  tokens: {fn: sum, of: tokens}
  mean_tokens: {fn: mean, of: tokens}
  lo: {fn: min, of: tokens}
  hi: {fn: max, of: score}
  pass1: {fn: share, of: match == true}
  pass2: {fn: pass_at_k, of: match == true, k: 2}
`

func evalSchema() []string {
	return []string{"bench", "string", "subject", "string", "pid", "string", "match", "bool", "tokens", "int", "score", "float"}
}

var wantEval = []string{
	`{"bench":"math","subject":"algebra","rows":3,"right":2,"tokens":60,"mean_tokens":20.0,"lo":10,"hi":2.0,"pass1":0.6666666666666666,"pass2":1.0}`,
	`{"bench":"math","subject":"geometry","rows":2,"right":1,"tokens":10,"mean_tokens":5.0,"lo":3,"hi":null,"pass1":0.5,"pass2":1.0}`,
	`{"bench":"gsm","subject":null,"rows":1,"right":0,"tokens":5,"mean_tokens":5.0,"lo":5,"hi":4.0,"pass1":0.0,"pass2":null}`,
}

func TestAggregateGroups(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema(evalSchema()...)
	p, out := optest.Plan(t, "aggregate", evalConfig, in)
	var names, types []string
	for _, f := range out.Fields() {
		names = append(names, f.Name)
		types = append(types, op.TypeName(f))
	}
	if strings.Join(names, ",") != "bench,subject,rows,right,tokens,mean_tokens,lo,hi,pass1,pass2" ||
		strings.Join(types, ",") != "string,string,int,int,int,float,int,float,float,float" {
		t.Fatalf("output schema %v %v", names, types)
	}
	r1 := optest.Record(t, mem, in, evalRows1)
	defer r1.Release()
	r2 := optest.Record(t, mem, in, evalRows2)
	defer r2.Release()
	res := optest.Run(t, p, mem, nil, r1, r2)
	if strings.Join(res.Rows, "\n") != strings.Join(wantEval, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(res.Rows, "\n"), strings.Join(wantEval, "\n"))
	}
	if res.Counters[CounterGroups] != 3 || len(res.Rejects) != 0 {
		t.Errorf("counters %v rejects %v", res.Counters, res.Rejects)
	}
}

// TestAggregateResume: a run stopped after the first batch and resumed from
// its checkpoint delta gives the same rows as an uninterrupted run.
func TestAggregateResume(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema(evalSchema()...)
	r1 := optest.Record(t, mem, in, evalRows1)
	defer r1.Release()
	r2 := optest.Record(t, mem, in, evalRows2)
	defer r2.Release()
	ctx := context.Background()

	first, _ := optest.Plan(t, "aggregate", evalConfig, in)
	a := first.(*Aggregate)
	if err := a.Open(ctx, optest.NewRunContext(t, mem)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Process(ctx, op.Batch{Seq: 0, Record: r1, Alloc: mem}); err != nil {
		t.Fatal(err)
	}
	d1, err := a.Delta()
	if err != nil || len(d1) == 0 {
		t.Fatalf("delta: %q %v", d1, err)
	}

	second, _ := optest.Plan(t, "aggregate", evalConfig, in)
	b := second.(*Aggregate)
	if err := b.Restore([][]byte{d1}); err != nil {
		t.Fatal(err)
	}
	res := optest.Run(t, b, mem, nil, r2)
	if strings.Join(res.Rows, "\n") != strings.Join(wantEval, "\n") {
		t.Errorf("resumed rows:\n%s\nwant:\n%s", strings.Join(res.Rows, "\n"), strings.Join(wantEval, "\n"))
	}
	if err := b.Restore([][]byte{[]byte("{not json")}); err == nil || !strings.Contains(err.Error(), "checkpoint delta 0") {
		t.Errorf("corrupt delta: %v", err)
	}
}

func TestAggregateNoGroupAndPerProblem(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema(evalSchema()...)
	// per problem first, then the benchmark mean of the per-problem estimates
	p, mid := optest.Plan(t, "aggregate", `group_by: pid
metrics:
  n: {fn: count}
  pass1: {fn: share, of: match == true}
  pass2: {fn: pass_at_k, of: match == true, k: 2}
`, in)
	r1 := optest.Record(t, mem, in, evalRows1+evalRows2)
	defer r1.Release()
	res := optest.Run(t, p, mem, nil, r1)
	want := []string{
		`{"pid":"p1","n":3,"pass1":0.6666666666666666,"pass2":1.0}`,
		`{"pid":"p2","n":2,"pass1":0.5,"pass2":1.0}`,
		`{"pid":"p3","n":1,"pass1":0.0,"pass2":null}`,
	}
	if strings.Join(res.Rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("per problem:\n%s", strings.Join(res.Rows, "\n"))
	}
	q, _ := optest.Plan(t, "aggregate", "metrics:\n  problems: {fn: count}\n  pass1: {fn: mean, of: pass1}\n  pass2: {fn: mean, of: pass2}\n", mid)
	r2 := optest.Record(t, mem, mid, strings.Join(want, "\n"))
	defer r2.Release()
	res2 := optest.Run(t, q, mem, nil, r2)
	if len(res2.Rows) != 1 || res2.Rows[0] != `{"problems":3,"pass1":0.38888888888888884,"pass2":1.0}` {
		t.Errorf("overall: %v", res2.Rows)
	}
	// no rows: no group, no output row
	empty := optest.Record(t, mem, mid, "")
	defer empty.Release()
	q2, _ := optest.Plan(t, "aggregate", "metrics:\n  problems: {fn: count}\n", mid)
	if res3 := optest.Run(t, q2, mem, nil, empty); len(res3.Rows) != 0 {
		t.Errorf("empty input gave %v", res3.Rows)
	}
}

func TestAggregateRejectsBadValues(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema("g", "string", "meta", "json")
	p, _ := optest.Plan(t, "aggregate", "group_by: g\nmetrics:\n  total: {fn: sum, of: meta.v}\n  rows: {fn: count}\n", in)
	rec := optest.Record(t, mem, in, `
{"g": "a", "meta": {"v": 2}}
{"g": "a", "meta": {"v": "two"}}
{"g": "a", "meta": {"v": 0.5}}
`)
	defer rec.Release()
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rejects) != 1 || res.Rejects[0].Row != 1 || res.Rejects[0].Reason != ReasonExprError ||
		!strings.Contains(res.Rejects[0].Detail, "metrics.total") {
		t.Errorf("rejects: %+v", res.Rejects)
	}
	// the rejected row is left out of every metric of its group
	if len(res.Rows) != 1 || res.Rows[0] != `{"g":"a","total":2.5,"rows":2}` {
		t.Errorf("rows: %v", res.Rows)
	}
}

func TestAggregatePlanErrors(t *testing.T) {
	in := optest.Schema("g", "string", "x", "int", "ok", "bool", "s", "string")
	cases := []struct{ cfg, want string }{
		{"group_by: nope\nmetrics:\n  n: {fn: count}\n", `no column "nope"`},
		{"metrics:\n  p: {fn: share}\n", "share needs of:"},
		{"metrics:\n  p: {fn: pass_at_k, of: ok}\n", "pass_at_k needs k:"},
		{"metrics:\n  p: {fn: share, of: ok, k: 3}\n", "k: is for fn: pass_at_k"},
		{"metrics:\n  t: {fn: sum, of: s}\n", "sum needs a number"},
		{"metrics:\n  t: {fn: share, of: x}\n", "bool"},
		{"group_by: g\nmetrics:\n  g: {fn: count}\n", `column "g" is written twice`},
		{"metrics:\n  t: {fn: median, of: x}\n", "median"},
		{"metrics:\n  t: {fn: mean, of: xx}\n", `no column "xx"`},
	}
	for _, tc := range cases {
		_, _, diags := optest.PlanDiags(t, "aggregate", tc.cfg, in)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%q: diagnostics %q, want %q", tc.cfg, diags.Error(), tc.want)
		}
	}
}
