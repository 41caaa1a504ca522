package generate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	"github.com/caco-dev/caco/operators/generate/llmtest"

	_ "github.com/caco-dev/caco/operators/generate"
)

// planned is a planned generate step with the recipe's models.
type planned struct {
	step   op.Planner
	out    *arrow.Schema
	models map[string]*op.ModelConfig
	diags  diag.List
}

// planGenerate plans a generate step (cfg, without op:) in a recipe with
// the given models: section, against in.
func planGenerate(t testing.TB, models, cfg string, in *arrow.Schema) planned {
	t.Helper()
	src := optest.StepRecipe("generate", cfg, models)
	dir := t.TempDir()
	file := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, diags := recipe.Parse(file, []byte(src), recipe.Options{RunDir: filepath.Join(dir, "run")})
	if diags.HasErrors() {
		return planned{diags: diags}
	}
	for _, s := range r.Steps {
		if s.Name == "s" {
			out, d := plan.PlanStep(r, s, in)
			return planned{step: s.Config, out: out, models: r.Models, diags: append(diags, d...)}
		}
	}
	t.Fatal("no step s")
	return planned{}
}

func mustPlan(t testing.TB, models, cfg string, in *arrow.Schema) planned {
	t.Helper()
	p := planGenerate(t, models, cfg, in)
	if p.diags.HasErrors() {
		t.Fatalf("planning:\n%s\n--- recipe models:\n%s\n--- step:\n%s", p.diags.Error(), models, cfg)
	}
	return p
}

// runCtx makes a run context with the planned models.
func (p planned) runCtx(t testing.TB, mem memory.Allocator) *optest.RunContext {
	rc := optest.NewRunContext(t, mem)
	rc.Models = p.models
	return rc
}

// startLLM starts the test server on 127.0.0.1 for the test.
func startLLM(t testing.TB, cfg llmtest.Config) *llmtest.Server {
	t.Helper()
	s, err := llmtest.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// model is the YAML of a models: entry named m.
func model(url, api string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "m:\n  base_url: %s\n  model: test-model\n  api: %s\n", url, api)
	for _, e := range extra {
		b.WriteString("  " + e + "\n")
	}
	return b.String()
}

func run(t testing.TB, p planned, rc op.RunContext, mem memory.Allocator, recs ...arrow.Record) optest.Output {
	t.Helper()
	out, err := optest.RunErr(p.step, mem, rc, t, recs...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkedMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

var bg = context.Background()
