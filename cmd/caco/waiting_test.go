package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// caco run exits 1 whenever rows wait on transient failures, prints the
// funnel and says how many rows wait, where, why and how to resume; the
// same command completes once the server answers.
func TestRunExitsNonZeroWhenRowsWait(t *testing.T) {
	if _, ok := op.Lookup("generate"); !ok {
		t.Skip("the generate operator is not registered in operators/all")
	}
	srv, err := llmtest.Start(llmtest.Config{Rules: []llmtest.Rule{
		{Match: `busy`, Reply: "overloaded", Status: 503},
		{Match: ``, Reply: "fine"},
	}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte("{\"q\": \"a\"}\n{\"q\": \"busy\"}\n{\"q\": \"c\"}\n"), 0o644)
	recipe := filepath.Join(dir, "r.yaml")
	write := func(url string) {
		os.WriteFile(recipe, []byte(fmt.Sprintf(`caco: 1
name: waits
models:
  m:
    base_url: %s
    model: test-model
    api: completions
    retries: 0
steps:
  rows:
    op: load
    path: rows.jsonl
  answers:
    op: generate
    input: rows
    model: m
    prompt: "{{.q}}"
  save:
    op: write
    input: answers
    path: ${run_dir}/out.jsonl
`, url)), 0o644)
	}
	write(srv.URL())
	runDir := filepath.Join(dir, "run")
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"run", recipe, "--run-dir", runDir}, &stdout, &stderr)
	if code != exitFail {
		t.Fatalf("exit %d with a row waiting\n%s", code, stderr.String())
	}
	for _, want := range []string{"rows in", "1 rows are waiting on transient failures", "step answers: 1 rows, llm_unavailable", "HTTP 503: overloaded", "run the same command again to resume"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, "out.jsonl")); err == nil {
		t.Error("out.jsonl written although a row waits")
	}
	// the server recovers (here: a second server without the failure)
	srv2, err := llmtest.Start(llmtest.Config{Rules: []llmtest.Rule{{Match: ``, Reply: "fine"}}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	write(srv2.URL())
	stderr.Reset()
	if code := realMain([]string{"run", recipe, "--run-dir", runDir}, &stdout, &stderr); code != exitOK {
		t.Fatalf("rerun: exit %d\n%s", code, stderr.String())
	}
	if n := srv2.Stats().Requests; n != 1 {
		t.Errorf("rerun sent %d requests, want only the one that had failed", n)
	}
	out, _ := os.ReadFile(filepath.Join(runDir, "out.jsonl"))
	if strings.Count(string(out), "\n") != 3 {
		t.Errorf("out.jsonl:\n%s", out)
	}
}

// --no-cache and --refresh-cache reach the operators as run flags and
// exclude each other.
func TestRunCacheFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"run", "x.yaml", "--no-cache", "--refresh-cache"}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "exclude each other") {
		t.Errorf("both flags: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	realMain([]string{"run", "--help"}, &stdout, &stderr)
	for _, want := range []string{"-no-cache", "-refresh-cache", "the LLM response cache survives it"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stderr.String())
		}
	}
}
