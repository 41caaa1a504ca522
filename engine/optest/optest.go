// Package optest helps test operators outside a full run: it decodes a step
// config through the engine's strict, spec-driven decoder, plans it against
// an input schema, and drives Open/Process/Finish/Close over records.
package optest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
)

// Plan decodes cfgYAML (the operator's keys, without `op:`) for operator
// opName and plans it against in. It fails the test on any diagnostic.
func Plan(t testing.TB, opName, cfgYAML string, in *arrow.Schema) (op.Planner, *arrow.Schema) {
	t.Helper()
	p, out, diags := PlanDiags(t, opName, cfgYAML, in)
	if diags.HasErrors() {
		t.Fatalf("planning %s:\n%s", opName, diags.Error())
	}
	return p, out
}

// PlanDiags is Plan returning the diagnostics instead of failing.
func PlanDiags(t testing.TB, opName, cfgYAML string, in *arrow.Schema) (op.Planner, *arrow.Schema, diag.List) {
	t.Helper()
	return PlanRecipe(t, StepRecipe(opName, cfgYAML, ""), "s", in)
}

// StepRecipe wraps an operator config as a recipe with one step named "s";
// models is YAML for the `models:` section (may be empty).
func StepRecipe(opName, cfgYAML, models string) string {
	var b strings.Builder
	b.WriteString("caco: 1\nname: optest\n")
	if models != "" {
		b.WriteString("models:\n")
		b.WriteString(indent(models, "  "))
	}
	b.WriteString("steps:\n  s:\n    op: " + opName + "\n")
	b.WriteString(indent(cfgYAML, "    "))
	return b.String()
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

// PlanRecipe parses a whole recipe (written to a temp folder as recipe.yaml,
// so relative paths resolve there unless they are absolute) and plans the
// named step against in.
func PlanRecipe(t testing.TB, recipeYAML, step string, in *arrow.Schema) (op.Planner, *arrow.Schema, diag.List) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(file, []byte(recipeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	r, diags := recipe.Parse(file, []byte(recipeYAML), recipe.Options{RunDir: filepath.Join(dir, "run")})
	if diags.HasErrors() {
		return nil, nil, diags
	}
	for _, s := range r.Steps {
		if s.Name == step {
			out, d := plan.PlanStep(r, s, in)
			diags = append(diags, d...)
			return s.Config, out, diags
		}
	}
	t.Fatalf("no step %q in recipe", step)
	return nil, nil, nil
}

// Schema builds a schema from name/type pairs: Schema("id", "int", "code", "string").
func Schema(pairs ...string) *arrow.Schema {
	var fields []arrow.Field
	for i := 0; i+1 < len(pairs); i += 2 {
		fields = append(fields, op.MustField(pairs[i], pairs[i+1]))
	}
	return arrow.NewSchema(fields, nil)
}

// Record builds a record of schema sc from JSON lines (one object per row).
func Record(t testing.TB, alloc memory.Allocator, sc *arrow.Schema, jsonl string) arrow.Record {
	t.Helper()
	bs := make([]*op.ValueBuilder, sc.NumFields())
	for i, f := range sc.Fields() {
		bs[i] = op.NewValueBuilder(alloc, f)
		defer bs[i].Release()
	}
	rows := 0
	var ko op.KeyOrder
	for ln, line := range strings.Split(jsonl, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		ko.Reset()
		v, ok := op.DecodeJSONOrdered(line, &ko).(map[string]any)
		if !ok {
			t.Fatalf("optest.Record: line %d is not a JSON object: %s", ln+1, line)
		}
		for i, f := range sc.Fields() {
			if err := bs[i].AppendOrdered(v[f.Name], &ko); err != nil {
				t.Fatalf("optest.Record: line %d column %s: %v", ln+1, f.Name, err)
			}
		}
		rows++
	}
	cols := make([]arrow.Array, len(bs))
	for i, b := range bs {
		cols[i] = b.NewArray()
		defer cols[i].Release()
	}
	return array.NewRecord(sc, cols, int64(rows))
}

// Rows renders a record's rows as JSON text.
func Rows(rec arrow.Record) []string {
	if rec == nil {
		return nil
	}
	out := make([]string, rec.NumRows())
	for i := range out {
		out[i] = op.RowJSON(rec, i)
	}
	return out
}

// RunContext is a test run context backed by a temp folder.
type RunContext struct {
	T       testing.TB
	Dir     string
	Mem     memory.Allocator
	Flags   map[string]string
	Models  map[string]*op.ModelConfig
	NWorker int
	mu      sync.Mutex
	shared  map[string]any
}

var _ op.RunContext = (*RunContext)(nil)

// NewRunContext makes a run context whose shared values are closed at the
// end of the test.
func NewRunContext(t testing.TB, alloc memory.Allocator) *RunContext {
	rc := &RunContext{T: t, Dir: t.TempDir(), Mem: alloc, Flags: map[string]string{}, Models: map[string]*op.ModelConfig{}, NWorker: 1, shared: map[string]any{}}
	t.Cleanup(rc.closeShared)
	return rc
}

func (rc *RunContext) Step() string            { return "s" }
func (rc *RunContext) RunDir() string          { return rc.Dir }
func (rc *RunContext) Alloc() memory.Allocator { return rc.Mem }
func (rc *RunContext) Logf(format string, args ...any) {
	rc.T.Logf(format, args...)
}
func (rc *RunContext) Shard() (int, int)       { return 0, 1 }
func (rc *RunContext) Workers() int            { return rc.NWorker }
func (rc *RunContext) Flag(name string) string { return rc.Flags[name] }
func (rc *RunContext) StepDir() string {
	d := filepath.Join(rc.Dir, "steps", "s", "state")
	_ = os.MkdirAll(d, 0o755)
	return d
}
func (rc *RunContext) Model(name string) (*op.ModelConfig, bool) {
	m, ok := rc.Models[name]
	return m, ok
}
func (rc *RunContext) Shared(key string, open func() (any, error)) (any, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if v, ok := rc.shared[key]; ok {
		return v, nil
	}
	v, err := open()
	if err != nil {
		return nil, err
	}
	rc.shared[key] = v
	return v, nil
}

func (rc *RunContext) closeShared() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for k, v := range rc.shared {
		if c, ok := v.(op.Closer); ok {
			_ = c.Close()
		}
		delete(rc.shared, k)
	}
}

// Output is what Run collected.
type Output struct {
	Rows     []string // every output row as JSON, in order
	Rejects  []op.Reject
	Counters map[string]int64
	// Deferred are the rows that got no verdict (op.Result.Deferred), with
	// Row relative to their batch as the operator gave it.
	Deferred []op.Deferral
}

// Run drives a planned processor over records: Open (with rc, or a fresh
// RunContext when nil), Process per record in order with Seq = index,
// Finish, Close. Output records are released after rendering.
func Run(t testing.TB, p op.Planner, alloc memory.Allocator, rc op.RunContext, recs ...arrow.Record) Output {
	t.Helper()
	out, err := RunErr(p, alloc, rc, t, recs...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RunErr is Run returning the error.
func RunErr(p op.Planner, alloc memory.Allocator, rc op.RunContext, t testing.TB, recs ...arrow.Record) (Output, error) {
	ctx := context.Background()
	if rc == nil {
		rc = NewRunContext(t, alloc)
	}
	out := Output{Counters: map[string]int64{}}
	if o, ok := p.(op.Opener); ok {
		if err := o.Open(ctx, rc); err != nil {
			return out, fmt.Errorf("open: %w", err)
		}
	}
	if c, ok := p.(op.Closer); ok {
		defer c.Close()
	}
	collect := func(res op.Result) {
		out.Rows = append(out.Rows, Rows(res.Record)...)
		if res.Record != nil {
			res.Record.Release()
		}
		out.Rejects = append(out.Rejects, res.Rejects...)
		out.Deferred = append(out.Deferred, res.Deferred...)
		for k, v := range res.Counters {
			out.Counters[k] += v
		}
	}
	proc, ok := p.(op.Processor)
	if !ok {
		return out, fmt.Errorf("optest.Run: %T is not a Processor", p)
	}
	for i, rec := range recs {
		res, err := proc.Process(ctx, op.Batch{Seq: uint64(i), Record: rec, Alloc: alloc})
		if err != nil {
			return out, fmt.Errorf("process batch %d: %w", i, err)
		}
		collect(res)
	}
	if f, ok := p.(op.Finisher); ok {
		res, err := f.Finish(ctx, alloc)
		if err != nil {
			return out, fmt.Errorf("finish: %w", err)
		}
		collect(res)
	}
	return out, nil
}

// ReadSource drives a planned source: Open, Read with want (all when nil),
// Close; it returns every emitted row as JSON and the rejects.
func ReadSource(t testing.TB, p op.Planner, alloc memory.Allocator, rc op.RunContext, want func(uint64) bool) (Output, []uint64) {
	t.Helper()
	ctx := context.Background()
	if rc == nil {
		rc = NewRunContext(t, alloc)
	}
	if want == nil {
		want = func(uint64) bool { return true }
	}
	out := Output{Counters: map[string]int64{}}
	var seqs []uint64
	if o, ok := p.(op.Opener); ok {
		if err := o.Open(ctx, rc); err != nil {
			t.Fatalf("open: %v", err)
		}
	}
	if c, ok := p.(op.Closer); ok {
		defer c.Close()
	}
	src, ok := p.(op.Source)
	if !ok {
		t.Fatalf("optest.ReadSource: %T is not a Source", p)
	}
	err := src.Read(ctx, want, func(seq uint64, rec arrow.Record, rejects []op.Reject) error {
		seqs = append(seqs, seq)
		if rec != nil {
			out.Rows = append(out.Rows, Rows(rec)...)
			rec.Release()
		}
		out.Rejects = append(out.Rejects, rejects...)
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return out, seqs
}
