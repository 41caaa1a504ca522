package run_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/run"
)

// panicker panics in the phase named by At, on batch Seq for "process".
type panicker struct {
	At  string `yaml:"at"`
	Seq int    `yaml:"seq"`
}

func (p *panicker) Plan(_ op.PlanContext, in *arrow.Schema) *arrow.Schema { return in }
func (p *panicker) Open(context.Context, op.RunContext) error {
	if p.At == "open" {
		panic("panic in open")
	}
	return nil
}
func (p *panicker) Process(_ context.Context, b op.Batch) (op.Result, error) {
	if p.At == "process" && b.Seq == uint64(p.Seq) {
		var m map[string]int
		m["x"] = 1 // a real runtime panic: assignment to a nil map
	}
	b.Record.Retain()
	return op.Result{Record: b.Record}, nil
}
func (p *panicker) Finish(context.Context, memory.Allocator) (op.Result, error) {
	if p.At == "finish" {
		panic(errors.New("panic in finish"))
	}
	return op.Result{}, nil
}

// panicSource emits two batches of ids, then panics while reading.
type panicSource struct{}

func (panicSource) Plan(op.PlanContext, *arrow.Schema) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
}
func (panicSource) Read(ctx context.Context, want func(uint64) bool, emit func(uint64, arrow.Record, []op.Reject) error) error {
	for seq := uint64(0); seq < 2; seq++ {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		b.AppendValues([]int64{int64(seq)}, nil)
		col := b.NewArray()
		rec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, 1)
		col.Release()
		b.Release()
		if err := emit(seq, rec, nil); err != nil {
			return err
		}
	}
	var s []int
	_ = s[len(s)+2] // index out of range
	return nil
}

// canceller cancels the run's context (as a signal does) on batch Seq.
type canceller struct {
	Seq int `yaml:"seq"`
}

var cancelRun struct {
	sync.Mutex
	f context.CancelFunc
}

func (c *canceller) Plan(_ op.PlanContext, in *arrow.Schema) *arrow.Schema { return in }
func (c *canceller) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	if b.Seq == uint64(c.Seq) {
		cancelRun.Lock()
		cancelRun.f()
		cancelRun.Unlock()
		<-ctx.Done()
		return op.Result{}, context.Cause(ctx)
	}
	b.Record.Retain()
	return op.Result{Record: b.Record}, nil
}

func init() {
	op.Register(op.Spec{Name: "test_panic", Summary: "panics", Fields: []op.Field{{Name: "at", Kind: op.String}, {Name: "seq", Kind: op.Int}},
		New: func() op.Planner { return &panicker{Seq: -1} }})
	op.Register(op.Spec{Name: "test_panic_source", Summary: "panics while reading",
		New: func() op.Planner { return panicSource{} }})
	op.Register(op.Spec{Name: "test_cancel", Summary: "cancels the run", Fields: []op.Field{{Name: "seq", Kind: op.Int}},
		New: func() op.Planner { return &canceller{Seq: -1} }})
}

type manifestFile struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

func readManifest(t *testing.T, runDir string) manifestFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifestFile
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const failRecipe = `caco: 1
name: fails
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 100
  kept:
    op: filter
    input: rows
    where: id % 2 == 0
  bad:
    op: %OP%
    input: kept
%CFG%
  save:
    op: write
    input: bad
    path: ${run_dir}/out.jsonl
`

func failPlanText(opName, cfg string) string {
	return strings.NewReplacer("%OP%", opName, "%CFG%", cfg).Replace(failRecipe)
}

// A failed run writes why into the manifest and caco.log (the text the
// caller prints), and the stats and rejects ledger of what was committed.
func TestFailedRunExplainsItself(t *testing.T) {
	cases := []struct {
		name, op, cfg string
		want          string // in the error
		status        string
	}{
		{"error", "test_fail", "    seq: 5", "step bad: batch 0:5: boom", "failed"},
		{"panic in a worker", "test_panic", "    workers: 2\n    at: process\n    seq: 5", "step bad: panic: assignment to entry in nil map", "failed"},
		{"panic in finish", "test_panic", "    at: finish", "step bad: finishing: panic: panic in finish", "failed"},
		{"panic in open", "test_panic", "    at: open", "step bad: opening: panic: panic in open", "failed"},
		{"interrupted", "test_cancel", "    seq: 5", "interrupted", "interrupted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			writeRows(t, dir, 1000)
			runDir := filepath.Join(dir, "run")
			p := mustPlan(t, dir, strings.ReplaceAll(failPlanText(tc.op, tc.cfg), "${run_dir}", runDir), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cancelRun.Lock()
			cancelRun.f = cancel
			cancelRun.Unlock()
			var logBuf bytes.Buffer
			_, err := run.Run(ctx, p, run.Options{RunDir: runDir, Alloc: mem, Log: &logBuf})
			if err == nil {
				t.Fatal("the run succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			var se *run.StartError
			if errors.As(err, &se) {
				t.Fatalf("a failure inside a started run is a StartError: %v", err)
			}
			m := readManifest(t, runDir)
			if m.Status != tc.status || m.Error != err.Error() {
				t.Fatalf("manifest status %q error %q; want %q and the returned error %q", m.Status, m.Error, tc.status, err)
			}
			logText, _ := os.ReadFile(filepath.Join(runDir, "caco.log"))
			if !strings.Contains(string(logText), tc.status+": "+err.Error()) {
				t.Fatalf("caco.log does not hold the error:\n%s", logText)
			}
			b, err := os.ReadFile(filepath.Join(runDir, "stats.json"))
			if err != nil {
				t.Fatalf("no stats.json after a failed run: %v", err)
			}
			var st run.Stats
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			kept := stepStats(&st, "kept")
			if kept == nil || (kept.Batches == 0) != (tc.name == "panic in open") || kept.Rejected != kept.RowsIn-kept.RowsOut || (kept.Rejected == 0) != (kept.Batches == 0) {
				t.Fatalf("stats of the committed batches of kept: %+v", kept)
			}
			ledger, err := os.ReadFile(filepath.Join(runDir, "rejects.jsonl"))
			if err != nil {
				t.Fatalf("no rejects.jsonl after a failed run: %v", err)
			}
			if n := int64(bytes.Count(ledger, []byte("\n"))); n != kept.Rejected {
				t.Fatalf("rejects.jsonl has %d lines, stats say kept rejected %d", n, kept.Rejected)
			}
			if _, err := os.Stat(filepath.Join(runDir, "out.jsonl")); err == nil {
				t.Fatal("a failed run wrote its output")
			}
		})
	}
}

func TestPanicInSourceFailsRun(t *testing.T) {
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	p := mustPlan(t, dir, `caco: 1
name: src
steps:
  rows:
    op: test_panic_source
  save:
    op: write
    input: rows
    path: `+runDir+`/out.jsonl
`, nil)
	_, err := run.Run(context.Background(), p, run.Options{RunDir: runDir})
	if err == nil || !strings.Contains(err.Error(), "step rows: panic: runtime error: index out of range") {
		t.Fatalf("error %v", err)
	}
	if m := readManifest(t, runDir); m.Status != "failed" || m.Error != err.Error() {
		t.Fatalf("manifest %+v", m)
	}
	logText, _ := os.ReadFile(filepath.Join(runDir, "caco.log"))
	if !strings.Contains(string(logText), "goroutine") {
		t.Fatalf("caco.log has no stack of the panic:\n%s", logText)
	}
}

// A run that cannot start (the folder is locked by another run, or cannot
// be created) is a StartError and leaves the other run's folder alone.
func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, dir, 10)
	text := `caco: 1
name: lock
steps:
  rows:
    op: load
    path: rows.jsonl
`
	runDir := filepath.Join(dir, "run")
	held, err := checkpoint.Open(runDir, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run.Run(context.Background(), mustPlan(t, dir, text, nil), run.Options{RunDir: runDir})
	held.Close()
	var se *run.StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "in use by another caco run") {
		t.Fatalf("locked folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(runDir, "manifest.json")); err == nil {
		t.Fatal("a run that could not take the lock wrote a manifest")
	}
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o644)
	_, err = run.Run(context.Background(), mustPlan(t, dir, text, nil), run.Options{RunDir: filepath.Join(file, "run")})
	if !errors.As(err, &se) {
		t.Fatalf("run folder under a file: %v", err)
	}
}

// Issue 12: a run that reuses committed batches says so, per step.
func TestReuseIsAnnounced(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, dir, 1000)
	runDir := filepath.Join(dir, "run")
	text := strings.ReplaceAll(failPlanText("test_fail", "    seq: -1"), "${run_dir}", runDir)
	var first bytes.Buffer
	if _, err := run.Run(context.Background(), mustPlan(t, dir, text, nil), run.Options{RunDir: runDir, Log: &first}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(first.String(), "reusing") {
		t.Fatalf("a first run announced reuse:\n%s", first.String())
	}
	var second bytes.Buffer
	edited := strings.Replace(text, "id % 2 == 0", "id % 3 == 0", 1)
	if _, err := run.Run(context.Background(), mustPlan(t, dir, edited, nil), run.Options{RunDir: runDir, Log: &second}); err != nil {
		t.Fatal(err)
	}
	log := second.String()
	if !strings.Contains(log, "step rows: reusing 10 committed batches from an earlier run") {
		t.Fatalf("the rerun does not name the reused step and its batches:\n%s", log)
	}
	if strings.Contains(log, "step kept: reusing") || strings.Contains(log, "step bad: reusing") {
		t.Fatalf("steps recomputed after an edit are announced as reused:\n%s", log)
	}
}
