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
