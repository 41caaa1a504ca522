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
