package run_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	"github.com/caco-dev/caco/engine/run"
	_ "github.com/caco-dev/caco/operators/core"
	_ "github.com/caco-dev/caco/operators/load"
	_ "github.com/caco-dev/caco/operators/write"
)

// failAt is a test operator that fails on the batch with a given seq.
type failAt struct {
	Seq int `yaml:"seq"`
}

func (f *failAt) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema { return in }
func (f *failAt) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	if b.Seq == uint64(f.Seq) {
		return op.Result{}, errors.New("boom")
	}
	b.Record.Retain()
	return op.Result{Record: b.Record}, nil
}

// collect holds every row and emits them all, reversed, in Finish.
type collect struct {
	rows []arrow.Record
	sc   *arrow.Schema
}

func (c *collect) Sequential()                                           {}
func (c *collect) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema { c.sc = in; return in }
func (c *collect) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	b.Record.Retain()
	c.rows = append(c.rows, b.Record)
	return op.Result{}, nil
}
func (c *collect) Finish(ctx context.Context, alloc memory.Allocator) (op.Result, error) {
	var idx []int
	var recs []arrow.Record
	for i := len(c.rows) - 1; i >= 0; i-- {
		recs = append(recs, c.rows[i])
	}
	if len(recs) == 0 {
		return op.Result{}, nil
	}
	// keep only the first row of each held batch, to show Finish output
	for range recs {
		idx = append(idx, 0)
	}
	out := make([]arrow.Record, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.NewSlice(0, 1))
	}
	joined, err := op.Take(alloc, out[0], []int{0})
	for _, o := range out {
		o.Release()
	}
	_ = idx
	return op.Result{Record: joined}, err
}
func (c *collect) Close() error {
	for _, r := range c.rows {
		r.Release()
	}
	c.rows = nil
	return nil
}

func init() {
	op.Register(op.Spec{Name: "test_fail", Summary: "fails on one batch", Fields: []op.Field{{Name: "seq", Kind: op.Int}},
		New: func() op.Planner { return &failAt{Seq: -1} }})
	op.Register(op.Spec{Name: "test_collect", Summary: "emits at the end",
		New: func() op.Planner { return &collect{} }})
}

func writeRows(t *testing.T, dir string, n int) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"id": %d, "text": "%s", "grp": %d}`+"\n", i, strings.Repeat("x", i%5), i%3)
	}
	if err := os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustPlan(t *testing.T, dir, text string, sets map[string]string) *plan.Plan {
	t.Helper()
	file := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r, diags := recipe.Parse(file, []byte(text), recipe.Options{RunDir: filepath.Join(dir, "run"), Set: sets})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	p, diags := plan.Build(r)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return p
}

const dagRecipe = `caco: 1
name: dag
vars:
  workers: 1
  min: 2
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 97
  long:
    op: filter
    input: rows
    where: len(text) >= ${vars.min}
    workers: ${vars.workers}
  even:
    op: filter
    input: rows
    where: id % 2 == 0
    workers: ${vars.workers}
  joined:
    op: map
    inputs: [long, even]
    workers: ${vars.workers}
    columns:
      key: id * 10 + grp
  first:
    op: limit
    input: joined
    n: 1500
  save:
    op: write
    input: first
    path: ${run_dir}/out.jsonl
`

func runPlan(t *testing.T, p *plan.Plan, runDir string, mem memory.Allocator, shard ...int) (*run.Stats, error) {
	t.Helper()
	opts := run.Options{RunDir: runDir, Alloc: mem}
	if len(shard) == 2 {
		opts.ShardIndex, opts.ShardCount = shard[0], shard[1]
	}
	return run.Run(context.Background(), p, opts)
}

func stepStats(st *run.Stats, name string) *run.StepStats {
	for _, s := range st.Steps {
		if s.Step == name {
			return s
		}
	}
	return nil
}

func TestFanOutFanInDeterministicAcrossWorkers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeRows(t, dir, 3000)
	var outputs []string
	for _, w := range []string{"1", "4"} {
		runDir := filepath.Join(dir, "run-"+w)
		st, err := runPlan(t, mustPlan(t, dir, strings.ReplaceAll(dagRecipe, "${run_dir}", runDir), map[string]string{"workers": w}), runDir, mem)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(runDir, "out.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(b))
		// long keeps len >= 2 (3 of 5), even keeps half: 1800 + 1500 joined
		if s := stepStats(st, "joined"); s.RowsIn != 3300 || s.RowsOut != 3300 {
			t.Fatalf("joined: %+v", s)
		}
		if s := stepStats(st, "first"); s.RowsOut != 1500 || s.Rejects["over limit"] != 1800 {
			t.Fatalf("first: %+v", s)
		}
		if s := stepStats(st, "long"); s.Rejects["where is false"] != 1200 {
			t.Fatalf("long: %+v", s)
		}
	}
	if outputs[0] != outputs[1] {
		t.Fatal("output differs between 1 and 4 workers")
	}
	if n := strings.Count(outputs[0], "\n"); n != 1500 {
		t.Fatalf("%d rows written", n)
	}
	// within a batch, rows of "long" come before rows of "even"
	first := strings.SplitN(outputs[0], "\n", 2)[0]
	if !strings.HasPrefix(first, `{"id":2,"text":"xx","grp":2,"key":22}`) {
		t.Fatalf("first row %s", first)
	}
}

func TestRejectsLedgerAndStats(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeRows(t, dir, 500)
	runDir := filepath.Join(dir, "run")
	p := mustPlan(t, dir, dagRecipe, nil)
	st, err := runPlan(t, p, runDir, mem)
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := os.ReadFile(filepath.Join(runDir, "rejects.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range st.Steps {
		total += s.Rejected
	}
	lines := strings.Split(strings.TrimSpace(string(ledger)), "\n")
	if int64(len(lines)) != total || total == 0 {
		t.Fatalf("ledger has %d lines, stats count %d rejects", len(lines), total)
	}
	var rj struct {
		Step, Reason string
		Row          int
		Data         map[string]any
	}
	if err := json.Unmarshal([]byte(lines[0]), &rj); err != nil {
		t.Fatal(err)
	}
	if rj.Step != "long" || rj.Reason != "where is false" || rj.Data["id"] != float64(0) {
		t.Fatalf("first ledger line: %s", lines[0])
	}
	var fromFile run.Stats
	b, _ := os.ReadFile(filepath.Join(runDir, "stats.json"))
	if err := json.Unmarshal(b, &fromFile); err != nil || len(fromFile.Steps) != 6 {
		t.Fatalf("stats.json: %v %s", err, b)
	}
}

func TestResumeAfterEditRecomputesOnlyDownstream(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeRows(t, dir, 2000)
	runDir := filepath.Join(dir, "run")
	if _, err := runPlan(t, mustPlan(t, dir, dagRecipe, nil), runDir, mem); err != nil {
		t.Fatal(err)
	}
	// unchanged: everything is reused
	st, err := runPlan(t, mustPlan(t, dir, dagRecipe, nil), runDir, mem)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rows", "long", "even", "joined", "first"} {
		if s := stepStats(st, name); s.Resumed != s.Batches {
			t.Fatalf("unchanged rerun: step %s resumed %d of %d batches", name, s.Resumed, s.Batches)
		}
	}
	// edit "long": long, joined, first recompute; rows and even are reused
	st, err = runPlan(t, mustPlan(t, dir, dagRecipe, map[string]string{"min": "3"}), runDir, mem)
	if err != nil {
		t.Fatal(err)
	}
	for name, reused := range map[string]bool{"rows": true, "even": true, "long": false, "joined": false, "first": false} {
		s := stepStats(st, name)
		if reused && s.Resumed != s.Batches || !reused && s.Resumed != 0 {
			t.Errorf("after editing long: step %s resumed %d of %d batches", name, s.Resumed, s.Batches)
		}
	}
	if s := stepStats(st, "long"); s.RowsOut != 800 {
		t.Fatalf("long after edit: %+v", s)
	}
}

func TestFailedRunReleasesMemoryAndResumes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeRows(t, dir, 2000)
	runDir := filepath.Join(dir, "run")
	text := `caco: 1
name: fails
vars:
  at: 7
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 100
  f:
    op: test_fail
    input: rows
    seq: ${vars.at}
    workers: 3
  save:
    op: write
    input: f
    path: ${run_dir}/out.jsonl
`
	_, err := runPlan(t, mustPlan(t, dir, text, nil), runDir, mem)
	if err == nil || !strings.Contains(err.Error(), "step f: batch 0:7: boom") {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(runDir, "out.jsonl")); statErr == nil {
		t.Fatal("a failed run left an output file")
	}
	var m struct{ Status string }
	b, _ := os.ReadFile(filepath.Join(runDir, "manifest.json"))
	json.Unmarshal(b, &m)
	if m.Status != "failed" {
		t.Fatalf("manifest status %q", m.Status)
	}
	// the same recipe with the problem fixed resumes: rows are all reused
	st, err := runPlan(t, mustPlan(t, dir, text, map[string]string{"at": "-5"}), runDir, mem)
	if err != nil {
		t.Fatal(err)
	}
	if s := stepStats(st, "rows"); s.Resumed == 0 {
		t.Fatalf("rows were not reused: %+v", s)
	}
	if s := stepStats(st, "save"); s.RowsOut != 2000 {
		t.Fatalf("save: %+v", s)
	}
}

func TestFinisherAndShards(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeRows(t, dir, 1000)
	text := `caco: 1
name: fin
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 100
  c:
    op: test_collect
    input: rows
  save:
    op: write
    input: c
    path: ${run_dir}/out.jsonl
`
	runDir := filepath.Join(dir, "run")
	st, err := runPlan(t, mustPlan(t, dir, text, nil), runDir, mem)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(runDir, "out.jsonl"))
	if string(b) != `{"id":900,"text":"","grp":0}`+"\n" {
		t.Fatalf("finish output %q", b)
	}
	if s := stepStats(st, "c"); s.Batches != 11 || s.RowsOut != 1 {
		t.Fatalf("c: %+v", s)
	}
	// shards 0/3, 1/3, 2/3 see disjoint batches that cover the input: every
	// id is read by exactly one shard, and each shard reads whole batches
	text += `  all:
    op: write
    input: rows
    path: ${run_dir}/rows.jsonl
`
	shardOf := map[int]int{}
	for i := 0; i < 3; i++ {
		sd := filepath.Join(dir, fmt.Sprintf("shard%d", i))
		st, err := runPlan(t, mustPlan(t, dir, strings.ReplaceAll(text, "${run_dir}", sd), nil), sd, mem, i, 3)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(sd, "rows.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if got := stepStats(st, "rows").RowsOut; int(got) != len(lines) {
			t.Fatalf("shard %d: stats say %d rows, the file has %d", i, got, len(lines))
		}
		for _, l := range lines {
			var row struct{ ID int }
			if err := json.Unmarshal([]byte(l), &row); err != nil {
				t.Fatal(err)
			}
			if prev, dup := shardOf[row.ID]; dup {
				t.Fatalf("id %d is in shards %d and %d", row.ID, prev, i)
			}
			if batch := row.ID / 100; batch%3 != i {
				t.Fatalf("shard %d read id %d of batch %d", i, row.ID, batch)
			}
			shardOf[row.ID] = i
		}
	}
	for id := 0; id < 1000; id++ {
		if _, ok := shardOf[id]; !ok {
			t.Fatalf("no shard read id %d", id)
		}
	}
}
