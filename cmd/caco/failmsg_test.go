package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/checkpoint"
)

// After a failure before anything ran (a locked or unusable run folder) caco
// does not promise a resume; after a failure inside the run it does, and the
// manifest holds the same error text as stderr.
func TestRunFailureMessages(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte("{\"id\": 1}\n{\"id\": 2}\n"), 0o644)
	recipe := filepath.Join(dir, "r.yaml")
	os.WriteFile(recipe, []byte(`caco: 1
name: msg
steps:
  rows:
    op: load
    path: rows.jsonl
  bad:
    op: filter
    input: rows
    where: 1 / (id - 1) > 0
  save:
    op: write
    input: rows
    path: ${run_dir}/out.jsonl
`), 0o644)
	runDir := filepath.Join(dir, "run")
	held, err := checkpoint.Open(runDir, false)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runMain(context.Background(), []string{recipe, "--run-dir", runDir, "--quiet"}, &out, &errb)
	held.Close()
	if code != exitFail || !strings.Contains(errb.String(), "in use by another caco run") || strings.Contains(errb.String(), "resume") {
		t.Fatalf("locked folder: exit %d, stderr:\n%s", code, errb.String())
	}
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o644)
	errb.Reset()
	code = runMain(context.Background(), []string{recipe, "--run-dir", filepath.Join(file, "run"), "--quiet"}, &out, &errb)
	if code != exitFail || strings.Contains(errb.String(), "resume") || !strings.Contains(errb.String(), "nothing was run") {
		t.Fatalf("unusable folder: exit %d, stderr:\n%s", code, errb.String())
	}
}

func TestFailedRunManifestMatchesStderr(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.yaml")
	os.WriteFile(recipe, []byte(`caco: 1
name: msg
steps:
  rows:
    op: load
    path: rows.jsonl
  save:
    op: write
    input: rows
    path: a-file/out.jsonl
`), 0o644)
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte("{\"id\": 1}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a-file"), nil, 0o644) // so the output's folder cannot be made
	runDir := filepath.Join(dir, "run")
	var out, errb bytes.Buffer
	code := runMain(context.Background(), []string{recipe, "--run-dir", runDir, "--quiet"}, &out, &errb)
	if code != exitFail {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	b, err := os.ReadFile(filepath.Join(runDir, "manifest.json"))
	if err != nil {
		t.Fatalf("no manifest: %v; stderr:\n%s", err, errb.String())
	}
	var m struct{ Status, Error string }
	json.Unmarshal(b, &m)
	if m.Status != "failed" || m.Error == "" || !strings.Contains(errb.String(), "caco run: "+m.Error+"\n") || !strings.Contains(errb.String(), "run the same command to resume") {
		t.Fatalf("manifest %+v, stderr:\n%s", m, errb.String())
	}
	logText, _ := os.ReadFile(filepath.Join(runDir, "caco.log"))
	if !strings.Contains(string(logText), m.Error) {
		t.Fatalf("caco.log lacks the error:\n%s", logText)
	}
}

// The repro and its run-time half: a recipe that filters a file onto
// itself does not validate; an output outside the run folder is replaced
// only by the run folder that wrote it, and after --fresh only with
// overwrite: true.
func TestRunDoesNotReplaceOthersFiles(t *testing.T) {
	dir := t.TempDir()
	data := "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n"
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "x.jsonl"), []byte(data), 0o644)
	recipe := filepath.Join(dir, "r.yaml")
	text := "caco: 1\nname: own\nsteps:\n  rows:\n    op: load\n    path: data/x.jsonl\n  kept:\n    op: filter\n    input: rows\n    where: id > 1\n  save:\n    op: write\n    input: kept\n    path: %s\n"
	runCmd := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), append([]string{recipe, "--quiet"}, args...), &out, &errb)
		return code, errb.String()
	}
	os.WriteFile(recipe, []byte(strings.Replace(text, "%s", "data/x.jsonl", 1)), 0o644)
	if code, stderr := runCmd("--run-dir", filepath.Join(dir, "a")); code != exitFail || !strings.Contains(stderr, "the run would replace its own input") {
		t.Fatalf("filtering a file onto itself: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "data", "x.jsonl")); string(b) != data {
		t.Fatal("the input changed")
	}
	out := filepath.Join(dir, "out", "y.jsonl")
	os.WriteFile(recipe, []byte(strings.Replace(text, "%s", out, 1)), 0o644)
	steps := []struct {
		name   string
		args   []string
		edit   string
		refuse bool
	}{
		{"first run", []string{"--run-dir", filepath.Join(dir, "a")}, "", false},
		{"same folder again", []string{"--run-dir", filepath.Join(dir, "a")}, "", false},
		{"another folder", []string{"--run-dir", filepath.Join(dir, "b")}, "", true},
		{"after --fresh", []string{"--run-dir", filepath.Join(dir, "a"), "--fresh"}, "", true},
		{"overwrite", []string{"--run-dir", filepath.Join(dir, "a")}, "    overwrite: true\n", false},
		{"own again without the flag", []string{"--run-dir", filepath.Join(dir, "a")}, "", false},
	}
	for _, s := range steps {
		os.WriteFile(recipe, []byte(strings.Replace(text, "%s", out, 1)+s.edit), 0o644)
		before, err := os.ReadFile(out)
		if err == nil {
			// rewritten with the same bytes (a new mtime and ctime): the
			// content hash still says it is the run folder's own
			os.WriteFile(out, before, 0o644)
		}
		code, stderr := runCmd(s.args...)
		if s.refuse {
			if code != exitFail || !strings.Contains(stderr, "refusing to replace "+out) {
				t.Fatalf("%s: exit %d\n%s", s.name, code, stderr)
			}
			if after, _ := os.ReadFile(out); string(after) != string(before) {
				t.Fatalf("%s: the file changed", s.name)
			}
			continue
		}
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s", s.name, code, stderr)
		}
		if b, _ := os.ReadFile(out); string(b) != "{\"id\":2}\n{\"id\":3}\n" {
			t.Fatalf("%s: output %q", s.name, b)
		}
	}
}
