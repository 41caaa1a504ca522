package run_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/run"
)

// deferAt defers rows 0 and 1 of the batch with a given seq while a marker
// file exists (a server that is down), and passes every row on otherwise.
type deferAt struct {
	Seq    int    `yaml:"seq"`
	Marker string `yaml:"marker"`
}

func (d *deferAt) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema { return in }
func (d *deferAt) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	b.Record.Retain()
	res := op.Result{Record: b.Record}
	if _, err := os.Stat(d.Marker); err == nil && b.Seq == uint64(d.Seq) {
		res.Deferred = []op.Deferral{{Row: 0, Reason: "test_unavailable", Detail: "http://127.0.0.1:9/v1: connection refused"}, {Row: 1, Reason: "test_unavailable"}}
	}
	return res, nil
}

func init() {
	op.Register(op.Spec{Name: "test_defer", Summary: "defers rows of one batch while a file exists",
		Fields: []op.Field{{Name: "seq", Kind: op.Int}, {Name: "marker", Kind: op.String}},
		New:    func() op.Planner { return &deferAt{Seq: -1} }})
}

const deferRecipe = `caco: 1
name: waits
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 100
  d:
    op: test_defer
    input: rows
    seq: 3
    marker: ${vars.marker}
    workers: 3
  long:
    op: filter
    input: d
    where: len(text) >= 2
    workers: 2
  joined:
    op: map
    inputs: [long, rows]
    columns:
      key: id * 10 + grp
  first:
    op: limit
    input: joined
    n: 1400
  save:
    op: write
    input: first
    path: ${run_dir}/out.jsonl
  c:
    op: test_collect
    input: d
  save2:
    op: write
    input: c
    path: ${run_dir}/c.jsonl
`

// TestDeferredRowsLeaveHolesAndResume: a batch with deferred rows is not
// committed; row-local steps go on with the other batches, ordered steps
// (limit, write, a finisher) commit nothing at or after the hole; the run
// fails with a WaitingError naming the step and reason, and the rerun
// processes only the waiting batches and ends byte-identical to a clean run.
func TestDeferredRowsLeaveHolesAndResume(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeRows(t, dir, 1000)
	marker := filepath.Join(dir, "down")
	sets := map[string]string{"marker": marker}
	text := strings.Replace(deferRecipe, "name: waits\n", "name: waits\nvars:\n  marker: none\n", 1)

	cleanDir := filepath.Join(dir, "clean")
	if _, err := runPlan(t, mustPlan(t, dir, strings.ReplaceAll(text, "${run_dir}", cleanDir), sets), cleanDir, mem); err != nil {
		t.Fatal(err)
	}

	runDir := filepath.Join(dir, "run")
	text = strings.ReplaceAll(text, "${run_dir}", runDir)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := runPlan(t, mustPlan(t, dir, text, sets), runDir, mem)
	var we *run.WaitingError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want a WaitingError", err)
	}
	if we.Rows != 2 || len(we.Steps) != 1 || we.Steps[0].Step != "d" || we.Steps[0].Rows["test_unavailable"] != 2 {
		t.Fatalf("waiting: %+v", we)
	}
	for _, want := range []string{"2 rows are waiting", "step d: 2 rows, test_unavailable (http://127.0.0.1:9/v1: connection refused)", "run the same command again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
	if st == nil {
		t.Fatal("no stats with the WaitingError")
	}
	// committed batches: d, long and joined all but batch 3; limit and the
	// collector only batches 0-2; writers nothing on disk
	for name, want := range map[string]int64{"rows": 10, "d": 9, "long": 9, "joined": 9, "first": 3, "c": 3} {
		if s := stepStats(st, name); s.Batches != want {
			t.Errorf("step %s committed %d batches, want %d", name, s.Batches, want)
		}
	}
	if s := stepStats(st, "first"); s.Uncommitted != 7 {
		t.Errorf("first: %d uncommitted batches, want 7", s.Uncommitted)
	}
	if s := stepStats(st, "d"); s.Waiting["test_unavailable"] != 2 || s.Uncommitted != 1 {
		t.Errorf("d: %+v", s)
	}
	for _, f := range []string{"out.jsonl", "c.jsonl"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err == nil {
			t.Errorf("%s was written although rows wait", f)
		}
	}
	var m struct{ Status string }
	b, _ := os.ReadFile(filepath.Join(runDir, "manifest.json"))
	if err := json.Unmarshal(b, &m); err != nil || m.Status != "failed" {
		t.Fatalf("manifest status %q (%v)", m.Status, err)
	}
	// the same command once the server is back
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	st, err = runPlan(t, mustPlan(t, dir, text, sets), runDir, mem)
	if err != nil {
		t.Fatal(err)
	}
	if s := stepStats(st, "d"); s.Resumed != 9 || s.Batches != 10 || s.Uncommitted != 0 {
		t.Errorf("d on rerun: resumed %d of %d batches", s.Resumed, s.Batches)
	}
	if s := stepStats(st, "first"); s.Resumed != 3 {
		t.Errorf("first on rerun: resumed %d", s.Resumed)
	}
	for _, f := range []string{"out.jsonl", "c.jsonl", "rejects.jsonl"} {
		got, err1 := os.ReadFile(filepath.Join(runDir, f))
		want, err2 := os.ReadFile(filepath.Join(cleanDir, f))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if string(got) != string(want) || len(want) == 0 {
			t.Errorf("%s differs from the clean run's (%d vs %d bytes)", f, len(got), len(want))
		}
	}
}
