package cluster_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/cluster"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	"github.com/caco-dev/caco/engine/run"
	_ "github.com/caco-dev/caco/operators/all"
)

func planFile(t *testing.T, file string, data []byte) *plan.Plan {
	t.Helper()
	if data == nil {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
	}
	r, diags := recipe.Parse(file, data, recipe.Options{RunDir: t.TempDir()})
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	p, diags := plan.Build(r)
	if diags.HasErrors() {
		t.Fatalf("plan: %v", diags)
	}
	return p
}

// TestCutCaco checks the phases of the whole method: the LLM-heavy reverse
// stage (variants, problem, solve, judge) must run in arrays, after the
// dedups and the sample, not in a merge job.
func TestCutCaco(t *testing.T) {
	p := planFile(t, "../../recipes/caco.yaml", nil)
	cut := cluster.New(p)
	// writers (global, in the merge after what they write) are left out of
	// the comparison, so that a new output of the recipe does not break it
	want := `array 0: seeds, draws, unify, codegen, run_seed_cots, codegen_cots, correct
merge 0: dedup_seed_cots
array 1: seed_cots, pick, seed_programs, variants, variant_cots, run_cots
merge 1: dedup_cots
array 2: code_cots, problem, solve, final_answer, consistent, judge, judged, dataset
merge 2:
`
	var got strings.Builder
	for _, ph := range cut.Phases {
		var names []string
		for _, n := range ph.Steps {
			if n.Step.Op == "write" {
				if !ph.Global {
					t.Errorf("writer %s in %s", n.Name(), ph.Name())
				}
				continue
			}
			names = append(names, n.Name())
		}
		got.WriteString(strings.TrimSpace(ph.Name()+": "+strings.Join(names, ", ")) + "\n")
	}
	if got.String() != want {
		t.Errorf("cut of caco.yaml (writers left out):\n%s\nwant:\n%s\nwhole cut:\n%s", got.String(), want, cut)
	}
	for _, step := range []string{"variants", "problem", "solve", "judge"} {
		if ph := cut.PhaseOf(step); ph.Global {
			t.Errorf("%s runs in %s, want an array", step, ph.Name())
		}
	}
	// the dedups are barriers before the reverse stage; pick (a sample
	// hashing seed_id) is row-local and runs in the array, ahead of variants
	for _, pair := range [][2]string{{"dedup_seed_cots", "variants"}, {"dedup_cots", "problem"}, {"dedup_cots", "judge"}} {
		if cut.PhaseOf(pair[0]).Index >= cut.PhaseOf(pair[1]).Index {
			t.Errorf("%s (%s) does not come before %s (%s)", pair[0], cut.PhaseOf(pair[0]).Name(), pair[1], cut.PhaseOf(pair[1]).Name())
		}
	}
	if cut.PhaseOf("pick") != cut.PhaseOf("variants") || p.ByName["pick"].Topo >= p.ByName["variants"].Topo {
		t.Errorf("pick (%s) does not run ahead of variants in its array", cut.PhaseOf("pick").Name())
	}
}

const head = "caco: 1\nname: t\nsteps:\n  a:\n    op: load\n    path: rows.jsonl\n    columns: [{name: x, type: int}, {name: s, type: string}]\n"

func TestCutShapes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(`{"x": 1, "s": "a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, steps, want string
		sharded           bool
	}{
		{"no global step", `
  b: {op: filter, input: a, where: "x > 0"}
  c: {op: map, input: b, columns: {y: x * 2}}
`, "array 0: a, b, c\n", false},
		{"fan-out to a global and a row-local branch", `
  b: {op: filter, input: a, where: "x > 0"}
  d: {op: dedup, input: b, key: s, method: exact}
  e: {op: map, input: b, columns: {y: x * 2}}
  f: {op: map, input: d, columns: {y: x * 3}}
  w: {op: write, input: f, path: out.jsonl}
`, "array 0: a, b, e\nmerge 0: d\narray 1: f\nmerge 1: w\n", true},
		{"fan-in of a merged and an unmerged branch", `
  b: {op: limit, input: a, n: 5}
  c: {op: map, input: b, columns: {y: x * 2}}
  e: {op: map, input: a, columns: {y: x * 3}}
  j: {op: filter, inputs: [c, e], where: "y > 0"}
  w: {op: write, input: j, path: out.jsonl}
`, "array 0: a, e\nmerge 0: b\narray 1: c, j\nmerge 1: w\n", true},
		{"global steps in a row share a merge", `
  b: {op: dedup, input: a, key: s, method: exact}
  c: {op: limit, input: b, n: 3}
  w: {op: write, input: c, path: out.jsonl}
`, "array 0: a\nmerge 0: b, c, w\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := planFile(t, filepath.Join(dir, "t.yaml"), []byte(head+strings.TrimPrefix(tc.steps, "\n")))
			cut := cluster.New(p)
			if got := cut.String(); got != tc.want {
				t.Errorf("cut:\n%swant:\n%s", got, tc.want)
			}
			if cut.Sharded() != tc.sharded {
				t.Errorf("Sharded() = %v, want %v", cut.Sharded(), tc.sharded)
			}
		})
	}
}

// TestSubKeepsIdentity checks that the plan of one phase keeps the whole
// plan's fingerprints, positions and source numbers (batch ids and
// checkpoints depend on them), and leaves out later steps and writers.
func TestSubKeepsIdentity(t *testing.T) {
	p := planFile(t, "../../recipes/caco.yaml", nil)
	cut := cluster.New(p)
	key := func() ([]byte, error) { return make([]byte, 32), nil }
	full, err := run.Fingerprints(p, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range cut.Phases {
		sub := cut.Sub(ph.Index)
		fps, err := run.Fingerprints(sub, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range sub.Nodes {
			orig := p.ByName[n.Name()]
			if fps[n.Name()] != full[n.Name()] || n.Topo != orig.Topo || n.SourceIndex != orig.SourceIndex {
				t.Errorf("%s: step %s changed identity in the phase's plan", ph.Name(), n.Name())
			}
			if other := cut.PhaseOf(n.Name()); other.Index > ph.Index {
				t.Errorf("%s: plan includes %s of the later %s", ph.Name(), n.Name(), other.Name())
			}
		}
		var names []string
		for _, s := range sub.Recipe.Steps {
			names = append(names, s.Name)
		}
		if len(names) != len(sub.Nodes) {
			t.Errorf("%s: recipe lists %d steps, plan has %d", ph.Name(), len(names), len(sub.Nodes))
		}
	}
	sub := cut.Sub(cut.PhaseOf("variants").Index)
	if _, ok := sub.ByName["save_seed_cots_jsonl"]; ok {
		t.Errorf("array 1's plan includes a writer of merge 1")
	}
	if _, ok := sub.ByName["dedup_seed_cots"]; !ok {
		t.Errorf("array 1's plan lacks dedup_seed_cots, which it reads")
	}
}

func TestOwns(t *testing.T) {
	seq := func(src, b uint64) uint64 { return src<<run.SourceShift | b }
	cases := []struct {
		seq  uint64
		i, n int
		want bool
	}{
		{seq(0, 0), 0, 4, true},
		{seq(0, 5), 1, 4, true},
		{seq(0, 5), 0, 4, false},
		{seq(1, 6), 2, 4, true}, // the source index does not count, as in --shard
		{seq(1, 6), 1, 4, false},
		{run.FinishBase + 3, 2, 4, true}, // results of Finish belong to every shard
		{seq(0, 7), 0, 1, true},
	}
	for _, tc := range cases {
		if got := cluster.Owns(tc.seq, tc.i, tc.n); got != tc.want {
			t.Errorf("Owns(%x, %d, %d) = %v, want %v", tc.seq, tc.i, tc.n, got, tc.want)
		}
	}
	var owners []int
	for i := 0; i < 3; i++ {
		if cluster.Owns(seq(2, 7), i, 3) {
			owners = append(owners, i)
		}
	}
	if !reflect.DeepEqual(owners, []int{1}) {
		t.Errorf("batch 7 owned by %v of 3 shards, want [1]", owners)
	}
}
