// Package recipes_test checks the recipes in this folder: every recipe
// validates, and the quickstart runs offline end to end from its replay
// files, writes the dataset, and every filter in it rejects something.
//
//	go test ./recipes/
//	go test ./recipes/ -run TestQuickstart -update   # re-record testdata/quickstart from script.yaml
//
// -update starts the test LLM server (operators/generate/llmtest) scripted by
// testdata/quickstart/script.yaml, runs recipes/quickstart.yaml against it with
// `--record`, and rewrites the replay files (testdata/quickstart/replay/), the
// stage fixtures (seed_cots.jsonl, code_cots.jsonl) and the expected dataset
// and funnel (dataset.jsonl, funnel.txt).
package recipes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	"github.com/caco-dev/caco/engine/run"
	"github.com/caco-dev/caco/operators/exec/sandbox"
	"github.com/caco-dev/caco/operators/generate/llmtest"
	"go.yaml.in/yaml/v3"

	_ "github.com/caco-dev/caco/operators/all"
)

var update = flag.Bool("update", false, "re-record testdata/quickstart from script.yaml against the test LLM server")

const (
	quickstart = "quickstart.yaml"
	qsData     = "../testdata/quickstart"
	seedsFile  = "../testdata/seeds/seeds.jsonl"
)

func TestMain(m *testing.M) {
	sandbox.MaybeInit()
	os.Exit(m.Run())
}

// recipeFiles are the recipes here (test files beside them are not recipes).
func recipeFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".test.yaml") {
			out = append(out, f)
		}
	}
	if len(out) < 5 {
		t.Fatalf("want at least 5 recipes, found %v", out)
	}
	return out
}

func loadPlan(t *testing.T, file string, set map[string]string, runDir string) *plan.Plan {
	t.Helper()
	r, diags := recipe.Load(file, recipe.Options{Set: set, RunDir: runDir})
	if diags.HasErrors() {
		t.Fatalf("%s does not validate:\n%s", file, diags.Error())
	}
	p, pd := plan.Build(r)
	if pd.HasErrors() {
		t.Fatalf("%s does not plan:\n%s", file, pd.Error())
	}
	for _, d := range append(diags, pd...) {
		t.Logf("%s: %s", file, d.Summary)
	}
	return p
}

func TestRecipesValidate(t *testing.T) {
	for _, f := range recipeFiles(t) {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(string(data), "\n"); first != "# yaml-language-server: $schema=../schemas/recipe.schema.json" {
				t.Errorf("first line is %q, want the schema comment", first)
			}
			loadPlan(t, f, nil, t.TempDir())
		})
	}
}

// TestPromptsAgree: a step that appears in several recipes (caco.yaml and
// quickstart.yaml contain the three stages) must ask the same thing in
// each, or the replay files recorded from the quickstart would not answer
// the stage recipes.
func TestPromptsAgree(t *testing.T) {
	type stepCfg = map[string]any
	seen := map[string]struct {
		file string
		cfg  string
	}{}
	for _, f := range recipeFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Steps map[string]stepCfg `yaml:"steps"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, s := range doc.Steps {
			if s["op"] != "generate" && s["op"] != "back_translate" {
				continue
			}
			c := map[string]any{}
			for k, v := range s {
				if k != "input" && k != "n" && k != "description" {
					c[k] = v
				}
			}
			b, _ := json.Marshal(c)
			if prev, ok := seen[name]; ok && prev.cfg != string(b) {
				t.Errorf("LLM step %q differs between %s and %s:\n%s\n%s", name, prev.file, f, prev.cfg, b)
			}
			seen[name] = struct{ file, cfg string }{f, string(b)}
		}
	}
}

// runRecipe runs a recipe in-process and returns its stats and run folder.
func runRecipe(t *testing.T, file string, set map[string]string, flags map[string]string, log io.Writer) (*run.Stats, string) {
	t.Helper()
	dir := t.TempDir()
	p := loadPlan(t, file, set, dir)
	if log == nil {
		log = io.Discard
	}
	stats, err := run.Run(context.Background(), p, run.Options{RunDir: dir, Flags: flags, Log: log})
	if err != nil {
		t.Fatalf("running %s: %v", file, err)
	}
	return stats, dir
}

// funnel renders the stats as the stable part of the end-of-run table: rows
// in and out per step and rejects by reason (no timings).
func funnel(st *run.Stats) string {
	var b strings.Builder
	for _, s := range st.Steps {
		fmt.Fprintf(&b, "%-14s %-12s in %4d  out %4d", s.Step, s.Op, s.RowsIn, s.RowsOut)
		var reasons []string
		for r := range s.Rejects {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			fmt.Fprintf(&b, "  %s=%d", r, s.Rejects[r])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// filters are the quickstart's steps that must each reject something, so
// that the data exercises every check of the method.
var filters = []string{"unify", "run_seed_cots", "correct", "dedup_seed_cots", "variants", "codegen",
	"run_cots", "dedup_cots", "problem", "solve", "final_answer", "consistent", "judge", "judged"}

// problemChecks are back_translate's reject reasons: the quickstart's
// problem step must reject at least one problem for each.
var problemChecks = []string{"missing_given", "mentions_code", "leaks_answer"}

func TestQuickstart(t *testing.T) {
	if *update {
		record(t)
	}
	var log bytes.Buffer
	st, dir := runRecipe(t, quickstart, nil, nil, &log)
	got := funnel(st)
	t.Logf("funnel:\n%s", got)
	byName := map[string]*run.StepStats{}
	for _, s := range st.Steps {
		byName[s.Step] = s
	}
	for _, name := range filters {
		s, ok := byName[name]
		if !ok {
			t.Errorf("quickstart has no step %q", name)
			continue
		}
		if s.Rejected == 0 {
			t.Errorf("step %s rejected nothing: the quickstart data should exercise every filter", name)
		}
	}
	if s, ok := byName["problem"]; ok {
		for _, r := range problemChecks {
			if s.Rejects[r] == 0 {
				t.Errorf("step problem rejected nothing as %s: the quickstart data should trip every back_translate check", r)
			}
		}
		styles := 0
		for k, v := range s.Counters {
			if strings.HasPrefix(k, "style_") && v > 0 {
				styles++
			}
		}
		if styles < 3 {
			t.Errorf("step problem kept problems of %d styles, want at least 3 (counters %v)", styles, s.Counters)
		}
	}
	for _, s := range st.Steps {
		if s.Rejects["llm_error"] > 0 {
			t.Errorf("step %s: %d llm_error rejects", s.Step, s.Rejects["llm_error"])
		}
	}
	// Every flawed entry of the script is rejected where and why it says.
	checkExpectations(t, filepath.Join(qsData, "script.yaml"), filepath.Join(dir, "rejects.jsonl"))
	// The dataset, in both formats.
	jsonl, err := os.ReadFile(filepath.Join(dir, "caco.jsonl"))
	if err != nil {
		t.Fatalf("the quickstart wrote no dataset: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "caco.parquet")); err != nil || fi.Size() == 0 {
		t.Errorf("no Parquet dataset: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(jsonl)), "\n")
	if len(lines) < 5 {
		t.Errorf("dataset has %d rows, want at least 5", len(lines))
	}
	for i, l := range lines {
		var row map[string]any
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("dataset line %d: %v", i+1, err)
		}
		for _, k := range []string{"instruction", "output", "answer", "code", "seed_id", "variant", "sample"} {
			if _, ok := row[k]; !ok {
				t.Errorf("dataset line %d has no %q", i+1, k)
			}
		}
	}
	if *update {
		writeFile(t, filepath.Join(qsData, "dataset.jsonl"), jsonl)
		writeFile(t, filepath.Join(qsData, "funnel.txt"), []byte(got))
		return
	}
	want, err := os.ReadFile(filepath.Join(qsData, "dataset.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, jsonl) {
		t.Errorf("dataset differs from %s/dataset.jsonl (run with -update if the change is intended)", qsData)
	}
	if wantF, err := os.ReadFile(filepath.Join(qsData, "funnel.txt")); err != nil || string(wantF) != got {
		t.Errorf("funnel differs from %s/funnel.txt:\n got:\n%s\nwant:\n%s", qsData, got, wantF)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// record regenerates the replay files by running the quickstart against the
// scripted test server with --record.
func record(t *testing.T) {
	rules, err := loadScript(filepath.Join(qsData, "script.yaml"), seedsFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := llmtest.Start(llmtest.Config{Rules: rules}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	replay := filepath.Join(qsData, "replay")
	if err := os.RemoveAll(replay); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(replay)
	set := map[string]string{
		"instruct_url": srv.URL(), "codegen_url": srv.URL(),
		"instruct_replay": "", "codegen_replay": "",
	}
	st, dir := runRecipe(t, quickstart, set, map[string]string{"record": abs}, nil)
	if keep := os.Getenv("CACO_QUICKSTART_KEEP"); keep != "" {
		// for script authors: keep the recording run's folder (rejects.jsonl shows what each step dropped)
		if err := os.CopyFS(keep, os.DirFS(dir)); err != nil {
			t.Logf("keeping the run folder: %v", err)
		}
	}
	t.Logf("recorded against %s (%d requests):\n%s", srv.URL(), srv.Stats().Requests, funnel(st))
	for _, s := range st.Steps {
		if n := s.Rejects["llm_error"]; n > 0 {
			t.Errorf("step %s: %d prompts are not in script.yaml (llm_error); see %s/rejects.jsonl", s.Step, n, dir)
		}
	}
	files, _ := filepath.Glob(filepath.Join(replay, "*.jsonl"))
	for _, f := range files {
		if err := sortLines(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"seed_cots.jsonl", "code_cots.jsonl"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("quickstart wrote no %s: %v", name, err)
		}
		writeFile(t, filepath.Join(qsData, name), data)
	}
	if t.Failed() {
		t.FailNow()
	}
}
