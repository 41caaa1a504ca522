package recipe_test

import (
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/recipe"
	_ "github.com/caco-dev/caco/operators/core"
)

func parse(t *testing.T, text string, opts recipe.Options) (*recipe.Recipe, string) {
	t.Helper()
	if opts.Getenv == nil {
		opts.Getenv = func(k string) (string, bool) {
			v, ok := map[string]string{"API_KEY": "sk-secret-123456", "EMPTY": ""}[k]
			return v, ok
		}
	}
	r, diags := recipe.Parse("r.yaml", []byte(text), opts)
	return r, diags.Error()
}

func TestInterpolation(t *testing.T) {
	text := `caco: 1
name: interp
vars:
  n: 7
  word: hello
models:
  m:
    base_url: http://127.0.0.1:9/v1
    model: x
    api_key: ${env:API_KEY}
steps:
  first:
    op: limit
    input: first0
    n: ${vars.n}
  first0:
    op: filter
    input: first
    where: '"${vars.word}" + "$${literal}" + "${env:EMPTY:-dflt}" + "${run_dir}" != ""'
`
	r, errs := parse(t, text, recipe.Options{RunDir: "/runs/x", Set: map[string]string{"n": "9"}})
	if errs != "" {
		t.Fatal(errs)
	}
	if got := r.Steps[0].Config.(interface{}); got == nil {
		t.Fatal("no config")
	}
	if !strings.Contains(string(r.Steps[0].Canonical), `"n":9`) {
		t.Errorf("--set did not override the var: %s", r.Steps[0].Canonical)
	}
	where := string(r.Steps[1].Canonical)
	for _, want := range []string{`hello`, `${literal}`, `dflt`, `/runs/x`} {
		if !strings.Contains(where, want) {
			t.Errorf("where %s lacks %q", where, want)
		}
	}
	if r.Models["m"].APIKey != "sk-secret-123456" || r.Redact("key sk-secret-123456") != "key [redacted]" {
		t.Errorf("secret not resolved or not redacted")
	}
	for _, s := range r.Steps {
		if strings.Contains(string(s.Canonical), "sk-secret") {
			t.Errorf("secret in canonical config")
		}
	}
}

func TestDiagnostics(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown var in --set", "caco: 1\nsteps:\n  a:\n    op: limit\n    input: a\n    n: 1\n", "--set nn: the recipe declares no var"},
		{"bad version", "caco: 2\nsteps: {}\n", "r.yaml:1:7: unsupported recipe format \"2\""},
		{"missing caco", "steps:\n  a:\n    op: limit\n    n: 1\n", "missing format version"},
		{"unclosed ref", "caco: 1\nsteps:\n  a:\n    op: limit\n    n: ${vars.x\n", "r.yaml:5:8: unclosed ${"},
		{"unknown ref", "caco: 1\nsteps:\n  a:\n    op: limit\n    n: ${foo}\n", "r.yaml:5:8: unknown reference ${foo}"},
		{"below min", "caco: 1\nsteps:\n  a:\n    op: limit\n    n: -3\n", "r.yaml:5:8: step \"a\" n: -3 is below the minimum 0"},
		{"enum", "caco: 1\nmodels:\n  m:\n    model: x\n    base_url: u\n    api: chatt\nsteps:\n  a:\n    op: limit\n    n: 1\n", "r.yaml:6:10: model \"m\" api: \"chatt\" is not one of completions, chat (did you mean \"chat\"?)"},
		{"workers type", "caco: 1\nsteps:\n  a:\n    op: limit\n    n: 1\n    workers: many\n", "r.yaml:6:14: step \"a\" workers: want an integer"},
		{"step not mapping", "caco: 1\nsteps:\n  a: 3\n", "r.yaml:3:6: step \"a\": want a mapping"},
		{"missing op", "caco: 1\nsteps:\n  a:\n    n: 3\n", "r.yaml:3:3: step \"a\": missing `op:`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := recipe.Options{}
			if c.name == "unknown var in --set" {
				opts.Set = map[string]string{"nn": "1"}
			}
			_, errs := parse(t, c.text, opts)
			if !strings.Contains(errs, c.want) {
				t.Errorf("got:\n%s\nwant: %s", errs, c.want)
			}
		})
	}
}

func TestDefaultsAndPaths(t *testing.T) {
	text := "caco: 1\nsteps:\n  s:\n    op: sample\n    input: s2\n    fraction: 0.5\n  s2:\n    op: sample\n    input: s\n    fraction: 1\n    seed: 4\n"
	r, errs := parse(t, text, recipe.Options{})
	if errs != "" {
		t.Fatal(errs)
	}
	if c := string(r.Steps[0].Canonical); c != `{"fraction":0.5,"seed":0}` {
		t.Errorf("canonical with defaults = %s", c)
	}
	if !r.Steps[1].Has("seed") || r.Steps[0].Has("seed") {
		t.Error("Has does not tell set keys from defaults")
	}
	if _, ok := op.Lookup("sample"); !ok {
		t.Fatal("sample not registered")
	}
}

func TestPeekName(t *testing.T) {
	if n := recipe.PeekName("dir/x.yaml", []byte("name: good-name\n")); n != "good-name" {
		t.Error(n)
	}
	if n := recipe.PeekName("dir/x.yaml", []byte("name: [bad\n")); n != "x" {
		t.Error(n)
	}
}
