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

func TestEnvInterpolation(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": "", "TEMP": "hot"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		name, value, want, err string
	}{
		{"set", "${env:SET}", "v", ""},
		{"unset", "${env:NOPE}", "", `r.yaml:5:14: ${env:NOPE}: the environment variable NOPE is not set`},
		{"empty", "x${env:EMPTY}", "", `r.yaml:5:15: ${env:EMPTY}: the environment variable EMPTY is set to an empty value`},
		{"unset with empty default", "${env:NOPE:-}", "", ""},
		{"empty with default", "${env:EMPTY:-d}", "d", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := "caco: 1\nsteps:\n  a:\n    op: filter\n    where: '\"" + c.value + "\" == \"\"'\n    input: a\n"
			r, errs := parse(t, text, recipe.Options{Getenv: getenv})
			if c.err != "" {
				if !strings.Contains(errs, c.err) {
					t.Fatalf("got:\n%s\nwant: %s", errs, c.err)
				}
				return
			}
			if errs != "" {
				t.Fatal(errs)
			}
			if !strings.Contains(string(r.Steps[0].Canonical), `"\"`+c.want+`\" == \"\""`) && !strings.Contains(string(r.Steps[0].Canonical), "${env:") {
				t.Fatalf("canonical %s", r.Steps[0].Canonical)
			}
		})
	}
	// a type error names the variable the value came from
	text := "caco: 1\nmodels:\n  m:\n    model: x\n    base_url: http://127.0.0.1:9/v1\n    temperature: ${env:TEMP}\nsteps:\n  a:\n    op: limit\n    n: ${env:EMPTY:-}\n"
	_, errs := parse(t, text, recipe.Options{Getenv: getenv})
	for _, want := range []string{`r.yaml:10:8: step "a" n: want an integer, got "" from ${env:EMPTY:-}`} {
		if !strings.Contains(errs, want) {
			t.Errorf("got:\n%s\nwant: %s", errs, want)
		}
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ secret, in, want string }{
		{"pa&ss<word>99", `key pa&ss<word>99 used`, `key [redacted] used`},
		{`quo"te`, `open /d/quo"te.jsonl: denied`, `open /d/[redacted].jsonl: denied`},
		{`back\slash`, `x=back\slash`, `x=[redacted]`},
		{"ünï✓", "dir ünï✓/x", "dir [redacted]/x"},
		{"Q", "writing /runs/Q.jsonl: Quiet exit", "writing /runs/[redacted].jsonl: Quiet exit"},
		{"7", "step 17 of 7", "step 17 of [redacted]"},
		{"ab", "abc ab cab", "abc [redacted] cab"},
	}
	for _, c := range cases {
		text := "caco: 1\nsteps:\n  a:\n    op: filter\n    input: a\n    where: '\"${env:S}\" != \"\"'\n"
		r, errs := parse(t, text, recipe.Options{Getenv: func(string) (string, bool) { return c.secret, true }})
		if errs != "" {
			t.Fatal(errs)
		}
		if got := r.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) with secret %q = %q, want %q", c.in, c.secret, got, c.want)
		}
		if strings.Contains(string(r.Steps[0].Canonical), c.secret) || !strings.Contains(string(r.Steps[0].Canonical), `${env:S}`) {
			t.Errorf("canonical config %s shows the secret %q", r.Steps[0].Canonical, c.secret)
		}
		if len(r.Steps[0].Env) != 1 || r.Steps[0].Env[0].Value != c.secret {
			t.Errorf("step env %+v", r.Steps[0].Env)
		}
	}
}
