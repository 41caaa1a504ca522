package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// shardRecipe has every kind of step a sharded run must get right: an LLM
// step, sandboxed execution, an answer check, a keep-first dedup whose
// duplicates fall in different shards, a limit (which shards must not
// apply each on their own), a second LLM step after the barrier, and a
// writer. exec adds no timing column unless asked (timing: true), so rows
// compare byte for byte.
const shardRecipe = `caco: 1
name: shards
vars:
  url: http://127.0.0.1:1/v1
  caco: caco
models:
  m:
    base_url: ${vars.url}
    model: test-model
    api: completions
    concurrency: 8
    retries: 2
  # a server of its own per process (per Slurm array task)
  served:
    model: test-model
    api: completions
    concurrency: 8
    serve:
      command: ["${vars.caco}", serve-test-llm, --addr, "127.0.0.1:${port}", --rules, rules.json]
steps:
  problems:
    op: load
    path: problems.jsonl
    batch_size: 5
  code:
    op: generate
    input: problems
    model: m
    prompt: "ADD {{.a}} {{.b}} KIND {{.kind}}"
    output: reply
  run:
    op: exec
    input: code
    code: reply
    processes: 1
  slim:
    op: map
    input: run
    columns:
      program: reply
    drop: [reply]
  check:
    op: consistency
    input: slim
    left: expected
    right: output
  unique:
    op: dedup
    input: check
    key: program
    method: exact
  first:
    op: limit
    input: unique
    n: 20
  explain:
    op: generate
    input: first
    model: served
    prompt: "EXPLAIN {{.id}} {{.program}}"
  save:
    op: write
    input: explain
    path: ${run_dir}/out.jsonl
`

// shardRules are the test server's replies: a six-line Code CoT that adds
// a and b, one that raises, and an explanation.
const shardRules = `[
 {"match": "ADD (\\d+) (\\d+) KIND ok", "reply": "input = {\"a\": {{index .Match 1}}, \"b\": {{index .Match 2}}}\na = input[\"a\"]\nb = input[\"b\"]\ns = a + b\nt = s * 1\noutput = t\n"},
 {"match": "ADD (\\d+) (\\d+) KIND raise", "reply": "input = {\"a\": {{index .Match 1}}, \"b\": {{index .Match 2}}}\na = input[\"a\"]\nb = input[\"b\"]\ns = a + b\nraise ValueError(s)\noutput = s\n"},
 {"match": "EXPLAIN (\\S+)", "reply": "Explanation of {{index .Match 1}} ({{.Hash}})"}
]`

// writeShardFixture writes the recipe and rows problems (with duplicates
// across batches, wrong expected answers and programs that raise).
func writeShardFixture(t *testing.T, dir string, rows int) {
	t.Helper()
	var b bytes.Buffer
	for i := 0; i < rows; i++ {
		a, c := i%10, (i/10)%4 // pairs repeat every 40 rows: duplicates in other batches and shards
		kind := "ok"
		if i%11 == 5 {
			kind = "raise"
		}
		expected := a + c
		if i%13 == 3 {
			expected++ // a wrong answer: consistency rejects it
		}
		fmt.Fprintf(&b, `{"id": "p%03d", "a": %d, "b": %d, "kind": %q, "expected": "%d"}`+"\n", i, a, c, kind, expected)
	}
	must(t, os.WriteFile(filepath.Join(dir, "problems.jsonl"), b.Bytes(), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "shards.yaml"), []byte(shardRecipe), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "rules.json"), []byte(shardRules), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func startShardServer(t *testing.T, latency time.Duration) *llmtest.Server {
	t.Helper()
	var rules []llmtest.Rule
	must(t, json.Unmarshal([]byte(shardRules), &rules))
	srv, err := llmtest.Start(llmtest.Config{Rules: rules, Latency: latency}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func cacoRun(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestShardMergeMatchesOneMachine runs a recipe on one machine, then as 4
// shards plus `caco merge`, and checks that the dataset and the rejects
// ledger are byte-identical; that a shard stops at the first global step
// and says so; and that merge refuses while a shard is missing.
func TestShardMergeMatchesOneMachine(t *testing.T) {
	t.Parallel() // mostly waits on subprocesses and jobs
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := cacoBinary(t)
	dir := t.TempDir()
	writeShardFixture(t, dir, 80)
	srv := startShardServer(t, 0)
	set := "url=" + srv.URL()
	serve := "caco=" + bin // the served model's server: caco serve-test-llm

	start := time.Now()
	if out, err := cacoRun(t, bin, dir, "run", "shards.yaml", "--run-dir", "one", "--set", set, "--set", serve, "--quiet"); err != nil {
		t.Fatalf("one-machine run: %v\n%s", err, out)
	}
	oneTime := time.Since(start)

	start = time.Now()
	// shards 0-2 at once, as on three machines; then a merge that must
	// refuse, then shard 3
	outs := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			outs[i], errs[i] = cacoRun(t, bin, dir, "run", "shards.yaml", "--run-dir", "sharded", "--set", set, "--set", serve, "--quiet", "--shard", fmt.Sprintf("%d/4", i))
		}(i)
	}
	wg.Wait()
	for i := 0; i < 4; i++ {
		if i == 3 {
			outs[i], errs[i] = cacoRun(t, bin, dir, "run", "shards.yaml", "--run-dir", "sharded", "--set", set, "--set", serve, "--quiet", "--shard", "3/4")
		}
		out, err := outs[i], errs[i]
		if err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, out)
		}
		if !strings.Contains(out, "stopped at the first global steps (unique, first)") || !strings.Contains(out, "caco merge") {
			t.Errorf("shard %d does not say where it stopped and what continues it:\n%s", i, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "sharded", "out.jsonl")); err == nil {
			t.Fatalf("shard %d ran the writer", i)
		}
		if _, err := os.Stat(filepath.Join(dir, "sharded", fmt.Sprintf("shard-%04d-of-0004", i), "steps", "unique")); err == nil {
			t.Fatalf("shard %d ran the dedup step on its own rows", i)
		}
		if i == 2 {
			// merging before the last shard is done names it
			out, err := cacoRun(t, bin, dir, "merge", "sharded", "--quiet")
			if err == nil || !strings.Contains(out, "shard(s) 3 of 4") {
				t.Fatalf("merge with shard 3 missing: err %v\n%s", err, out)
			}
		}
	}
	// caco status before the merge: array 0 done everywhere, merge 0 to run
	st, err := cacoRun(t, bin, dir, "status", "sharded")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, st)
	}
	for _, want := range []string{"(4 shards)", "array 0  done in all 4 shards", "merge 0  to run", "shard 3/4"} {
		if !strings.Contains(st, want) {
			t.Errorf("caco status lacks %q:\n%s", want, st)
		}
	}
	if out, err := cacoRun(t, bin, dir, "merge", "sharded", "--quiet"); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	shardTime := time.Since(start)
	st, _ = cacoRun(t, bin, dir, "status", "sharded")
	if !strings.Contains(st, "merge 1  done") {
		t.Errorf("caco status after the merge:\n%s", st)
	}
	// an unsharded folder: a row per step, counts from the commits
	st, _ = cacoRun(t, bin, dir, "status", "one")
	if !regexp.MustCompile(`(?m)^\s+problems\s+array 0\s+run\s+16\s+80\s+80\s+0\s*$`).MatchString(st) {
		t.Errorf("caco status of the one-machine run:\n%s", st)
	}
	t.Logf("one machine %s; 3 shards at once, then 1, then merge %s", oneTime.Round(time.Millisecond), shardTime.Round(time.Millisecond))

	for _, f := range []string{"out.jsonl", "rejects.jsonl"} {
		a, err := os.ReadFile(filepath.Join(dir, "one", f))
		must(t, err)
		b, err := os.ReadFile(filepath.Join(dir, "sharded", f))
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the one-machine run (%d bytes) and the merged shards (%d bytes)", f, len(a), len(b))
		}
	}
	out, _ := os.ReadFile(filepath.Join(dir, "one", "out.jsonl"))
	if n := bytes.Count(out, []byte("\n")); n != 20 {
		t.Errorf("out.jsonl has %d rows, want the limit's 20", n)
	}
	rej, _ := os.ReadFile(filepath.Join(dir, "one", "rejects.jsonl"))
	for _, reason := range []string{`"reason":"duplicate"`, `"reason":"mismatch"`, `"reason":"exception"`} {
		if !bytes.Contains(rej, []byte(reason)) {
			t.Errorf("the fixture made no %s reject: the test would not see a wrong merge", reason)
		}
	}
	// a second merge changes nothing
	if out, err := cacoRun(t, bin, dir, "merge", "sharded", "--quiet"); err != nil {
		t.Fatalf("second merge: %v\n%s", err, out)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "sharded", "out.jsonl"))
	if !bytes.Equal(again, out) {
		t.Errorf("a second merge changed out.jsonl")
	}
}
