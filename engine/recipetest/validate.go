package recipetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	"go.yaml.in/yaml/v3"
)

// Validate checks a test file and the recipe it names, as `caco validate`
// does for recipes: the test file's keys and values, that its `set:` names
// vars the recipe declares and its `expect.steps` names steps the recipe
// has, and the recipe itself (parsed with the test's var overrides, then
// planned). Nothing is run. Operators must be registered by the caller.
func Validate(file string) diag.List {
	t, diags := Load(file)
	if t == nil || t.Recipe == "" {
		return diags
	}
	_, pd := t.plan(filepath.Join(os.TempDir(), "caco-test-validate"))
	diags = append(diags, pd...)
	diags.Sort()
	return diags
}

// plan parses the test's recipe with its var overrides and runDir as
// ${run_dir}, plans it, and checks the test's references into it.
func (t *Test) plan(runDir string) (*plan.Plan, diag.List) {
	var diags diag.List
	data, err := os.ReadFile(t.Recipe)
	if err != nil {
		diags.Errorf(t.RecipePos, "reading recipe %s: %v", t.Recipe, unwrapPath(err))
		return nil, diags
	}
	vars := declaredVars(data)
	sets := map[string]string{}
	for _, k := range t.SetNames {
		if !contains(vars, k) {
			hint := diag.DidYouMean(k, vars)
			if hint == "" {
				hint = fmt.Sprintf("%s declares %s", t.Recipe, listOr(vars, "no vars"))
			}
			diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: t.SetPos[k],
				Summary: fmt.Sprintf("set: the recipe declares no var %q", k), Detail: hint})
			continue
		}
		sets[k] = t.Set[k]
	}
	r, rd := recipe.Parse(t.Recipe, data, recipe.Options{Set: sets, RunDir: runDir})
	diags = append(diags, rd...)
	if r == nil || rd.HasErrors() {
		return nil, diags
	}
	p, pd := plan.Build(r)
	for _, d := range pd {
		d.Summary = r.Redact(d.Summary)
		d.Detail = r.Redact(d.Detail)
		diags.Add(d)
	}
	var stepNames []string
	for _, s := range r.Steps {
		stepNames = append(stepNames, s.Name)
	}
	for _, s := range t.Steps {
		if !contains(stepNames, s.Name) {
			hint := diag.DidYouMean(s.Name, stepNames)
			if hint == "" {
				hint = "steps: " + strings.Join(stepNames, ", ")
			}
			diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: s.Pos,
				Summary: fmt.Sprintf("expect.steps: the recipe has no step %q", s.Name), Detail: hint})
		}
	}
	return p, diags
}

// declaredVars returns the names under the recipe's `vars:` (the recipe's
// own validation reports anything wrong with them).
func declaredVars(data []byte) []string {
	var top struct {
		Vars yaml.Node `yaml:"vars"`
	}
	if yaml.Unmarshal(data, &top) != nil || top.Vars.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(top.Vars.Content); i += 2 {
		out = append(out, top.Vars.Content[i].Value)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func listOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}
