package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// repoRoot is where testdata/ lives, relative to this package.
const repoRoot = "../.."

// caco runs the CLI in-process from the repository root's point of view:
// paths in its output are made relative to the root.
func caco(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = realMain(args, &out, &errb)
	clean := func(s string) string { return strings.ReplaceAll(s, repoRoot+"/", "") }
	return clean(out.String()), clean(errb.String()), code
}

func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "validate", "*.yaml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("want the validate corpus, got %d files (%v)", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, stderr, code := caco(t, "validate", f)
			got := stderr + "exit " + itoa(code) + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden (run go test ./cmd/caco -run TestValidateGolden -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("caco validate %s:\n--- got\n%s--- want\n%s", f, got, want)
			}
			if name != "valid" && code != exitFail {
				t.Errorf("exit %d, want %d", code, exitFail)
			}
		})
	}
}

func TestValidateAllProblemsInOnePass(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "many.yaml")
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(`{"id": 1, "code": "x"}`+"\n"), 0o644)
	os.WriteFile(f, []byte(`caco: 1
name: many
colour: blue
steps:
  seeds:
    op: load
    path: rows.jsonl
  a:
    op: filter
    input: seeds
    where: idd > 0
  b:
    op: mapp
    input: a
  c:
    op: limit
    input: nowhere
    n: ten
`), 0o644)
	_, stderr, code := caco(t, "validate", f)
	if code != exitFail {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"many.yaml:3:1: unknown top-level key \"colour\"",
		"many.yaml:13:9: step \"b\": unknown op \"mapp\" (did you mean \"map\"?)",
		"many.yaml:18:8: step \"c\" n: want an integer, got \"ten\"",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in:\n%s", want, stderr)
		}
	}
}

func TestValidateJSON(t *testing.T) {
	stdout, _, code := caco(t, "validate", "--json", filepath.Join(repoRoot, "testdata", "validate", "missing_column.yaml"))
	if code != exitFail {
		t.Fatalf("exit %d", code)
	}
	var diags []struct {
		Severity string `json:"severity"`
		Pos      struct {
			File      string
			Line, Col int
		} `json:"pos"`
		Summary string `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &diags); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(diags) != 2 || diags[0].Pos.Line != 10 || diags[0].Pos.Col != 29 || diags[0].Severity != "error" {
		t.Fatalf("diags = %+v", diags)
	}
}

func TestUsageErrors(t *testing.T) {
	if _, _, code := caco(t); code != exitUsage {
		t.Errorf("no args: exit %d", code)
	}
	if _, _, code := caco(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if _, _, code := caco(t, "run"); code != exitUsage {
		t.Errorf("run without recipe: exit %d", code)
	}
	if _, stderr, code := caco(t, "run", "x.yaml", "--shard", "3/2"); code != exitUsage || !strings.Contains(stderr, "--shard") {
		t.Errorf("bad shard: exit %d %s", code, stderr)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// caco validate takes recipe tests too, and caco test runs them.
func TestValidateAndRunRecipeTests(t *testing.T) {
	dir := filepath.Join(repoRoot, "testdata", "recipetest")
	stdout, stderr, code := caco(t, "validate", filepath.Join(dir, "example.test.yaml"), filepath.Join(dir, "example.yaml"))
	if code != exitOK || strings.Count(stdout, ": ok") != 2 {
		t.Fatalf("validate example: exit %d\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = caco(t, "validate", filepath.Join(dir, "bad.test.yaml"))
	if code != exitFail || !strings.Contains(stderr, "testdata/recipetest/bad.test.yaml:4:3: set: the recipe declares no var") {
		t.Fatalf("validate bad test file: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = caco(t, "test", filepath.Join(dir, "example.yaml"))
	if code != exitOK || !strings.Contains(stdout, "PASS") {
		t.Fatalf("caco test example: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = caco(t, "test", filepath.Join(dir, "fail.test.yaml"))
	if code != exitFail || !strings.Contains(stdout+stderr, "want") {
		t.Fatalf("caco test fail: exit %d\n%s%s", code, stdout, stderr)
	}
}

// Values from the environment are secrets: validate and graph never print them.
func TestValidateAndGraphRedactSecrets(t *testing.T) {
	const key = "sk-test-4b1d2e0c9a"
	t.Setenv("CACO_TEST_API_KEY", key)
	dir := t.TempDir()
	f := filepath.Join(dir, "secret.yaml")
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(`{"id": 1}`+"\n"), 0o644)
	os.WriteFile(f, []byte(`caco: 1
name: secret
models:
  m:
    base_url: http://127.0.0.1:9/v1
    model: x
    api_key: ${env:CACO_TEST_API_KEY}
    api: ${env:CACO_TEST_API_KEY}
steps:
  seeds:
    op: load
    path: rows.jsonl
    description: uses ${env:CACO_TEST_API_KEY}
`), 0o644)
	stdout, stderr, code := caco(t, "validate", f)
	if code != exitFail || !strings.Contains(stderr, "[redacted]") {
		t.Fatalf("want a redacted enum error, got exit %d:\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, key) {
		t.Fatalf("validate printed the key:\n%s%s", stdout, stderr)
	}
	os.WriteFile(f, []byte(strings.Replace(mustReadString(t, f), "    api: ${env:CACO_TEST_API_KEY}\n", "", 1)), 0o644)
	stdout, stderr, code = caco(t, "graph", f)
	if code != exitOK || strings.Contains(stdout+stderr, key) {
		t.Fatalf("graph: exit %d, printed the key: %v\n%s%s", code, strings.Contains(stdout+stderr, key), stdout, stderr)
	}
}

func mustReadString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
