package generate_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	engrun "github.com/caco-dev/caco/engine/run"
	"github.com/caco-dev/caco/operators/exec/sandbox"
	"github.com/caco-dev/caco/operators/generate/internal/llm"
	"github.com/caco-dev/caco/operators/generate/llmtest"

	_ "github.com/caco-dev/caco/operators/load"
)

const helperEnv = "CACO_GENERATE_TEST_HELPER"

// TestMain lets tests re-execute the test binary as a helper process: a
// model server for `serve:` (helperEnv=llm) or a caco run that a test
// kills (helperEnv=run).
func TestMain(m *testing.M) {
	sandbox.MaybeInit() // the exec sandbox re-executes this binary (quickstart test)
	switch os.Getenv(helperEnv) {
	case "llm":
		os.Exit(llmHelper(os.Args[1:]))
	case "run":
		os.Exit(runHelper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func llmHelper(args []string) int {
	fs := flag.NewFlagSet("llm", flag.ExitOnError)
	port := fs.Int("port", 0, "")
	fs.Parse(args)
	srv, err := llmtest.Start(llmtest.Config{}, fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("test llm listening on", srv.URL())
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	<-term
	srv.Close()
	fmt.Println("test llm stopped")
	return 0
}

// runHelper runs a recipe (args: recipe file, run dir) and prints the
// stats as JSON.
func runHelper(args []string) int {
	r, diags := recipe.Load(args[0], recipe.Options{RunDir: args[1]})
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, diags.Error())
		return 2
	}
	p, diags := plan.Build(r)
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, diags.Error())
		return 2
	}
	st, err := engrun.Run(context.Background(), p, engrun.Options{RunDir: args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(st)
	return 0
}

// serve: starts a real server process for the run, answers through it,
// logs to the run folder and stops it when the run's shared values close.
func TestGenerateServe(t *testing.T) {
	t.Setenv(helperEnv, "llm")
	mem := checkedMem(t)
	models := fmt.Sprintf(`m:
  model: test-model
  api: completions
  serve:
    command: [%q, --port, "${port}"]
    ready: /v1/models
    startup_timeout: 30s
    stop_timeout: 5s
`, os.Args[0])
	p := mustPlan(t, models, "model: m\nprompt: 'hi {{.question}}'\n", inSchema)
	rc := p.runCtx(t, mem)
	rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "there"}`)
	defer rec.Release()
	out := run(t, p, rc, mem, rec)
	if len(out.Rows) != 1 || !strings.Contains(out.Rows[0], `"text":"reply `) {
		t.Fatalf("rows %v", out.Rows)
	}
	v, err := rc.Shared("model:m", func() (any, error) { return nil, fmt.Errorf("not shared") })
	if err != nil {
		t.Fatal(err)
	}
	if err := v.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(rc.Dir, "serve-m.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"caco: starting", "test llm listening on", "test llm stopped", "caco: server stopped"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("serve log lacks %q:\n%s", want, log)
		}
	}
}

// The resume test: a run is killed (SIGKILL) in the middle of its generate
// step; the rerun finishes it without sending any request whose response
// the first run had stored (checked on the server side, request by
// request).
func TestGenerateResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const rows = 400
	srv := startLLM(t, llmtest.Config{Latency: 15 * time.Millisecond, KeepBodies: true})
	dir := t.TempDir()
	var lines []string
	for i := 0; i < rows; i++ {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "question": "question %d"}`, i, i))
	}
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	recipeFile := filepath.Join(dir, "recipe.yaml")
	os.WriteFile(recipeFile, []byte(fmt.Sprintf(`caco: 1
name: resume-generate
models:
  m:
    base_url: %s
    model: test-model
    api: completions
    concurrency: 8
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 40
  answers:
    op: generate
    input: rows
    model: m
    prompt: "Q: {{.question}}"
    temperature: 0
    cache_by: prompt
    extra: {top_k: 20}
`, srv.URL())), 0o644)
	runDir := filepath.Join(dir, "run")
	helper := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], recipeFile, runDir)
		cmd.Env = append(os.Environ(), helperEnv+"=run")
		return cmd
	}

	// First run: killed once a third of the requests were answered.
	cmd := helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Stats().OK < rows/3 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the first run made too little progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	time.Sleep(50 * time.Millisecond) // let the server finish requests in flight
	firstBodies := len(srv.Bodies())

	// What the killed run had stored.
	cache, err := llm.OpenCache(runDir)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[llm.Key]bool{}
	for i := 0; i < rows; i++ {
		k := keyOf(t, map[string]any{"model": "test-model", "prompt": fmt.Sprintf("Q: question %d", i), "temperature": 0, "top_k": 20})
		if _, hit, _ := cache.Get(k); hit {
			stored[k] = true
		}
	}
	cache.Close()
	if len(stored) == 0 || len(stored) == rows {
		t.Fatalf("the kill did not land mid-step: %d of %d responses stored", len(stored), rows)
	}

	// Second run: resumes and completes.
	cmd = helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	var st engrun.Stats
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("rerun stats: %v\n%s", err, out)
	}
	var gen *engrun.StepStats
	for _, s := range st.Steps {
		if s.Step == "answers" {
			gen = s
		}
	}
	if gen == nil || gen.RowsOut != rows || gen.Rejected != 0 {
		t.Fatalf("rerun stats: %s", out)
	}
	second := srv.Bodies()[firstBodies:]
	for _, b := range second {
		if stored[keyOf(t, b)] {
			t.Errorf("the rerun sent a request the first run had answered and stored: %v", b["prompt"])
		}
	}
	if len(second) > rows-len(stored) {
		t.Errorf("rerun sent %d requests; %d were stored of %d", len(second), len(stored), rows)
	}
	t.Logf("first run: %d requests, %d responses stored; rerun: %d requests; resumed batches %d", firstBodies, len(stored), len(second), gen.Resumed)
}

// keyOf is the cache key of a completions request body (sample 0).
func keyOf(t *testing.T, body map[string]any) llm.Key {
	t.Helper()
	params := map[string]any{}
	for k, v := range body {
		switch k {
		case "model", "prompt", "n", "stream":
		default:
			params[k] = v
		}
	}
	p, err := llm.CanonicalParams(params)
	if err != nil {
		t.Fatal(err)
	}
	req := llm.Request{API: llm.APICompletions, Model: body["model"].(string), Prompt: body["prompt"].(string), Params: p}
	return req.Key()
}

var _ op.RunContext = (*optest.RunContext)(nil)

// A key planted in the environment never appears in anything a whole run
// wrote: checkpoints, manifests, stats, logs, the cache, record files.
func TestRunWritesNoSecret(t *testing.T) {
	const key = "sk-planted-in-env-31337"
	t.Setenv("CACO_PLANTED_KEY", key)
	srv := startLLM(t, llmtest.Config{APIKey: key, Rules: []llmtest.Rule{{Match: "refuse", Reply: "refused " + key, Status: 400}}})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte("{\"id\": 1, \"question\": \"fine\"}\n{\"id\": 2, \"question\": \"refuse\"}\n"), 0o644)
	recipeFile := filepath.Join(dir, "recipe.yaml")
	os.WriteFile(recipeFile, []byte(fmt.Sprintf(`caco: 1
name: secret
models:
  m:
    base_url: %s
    model: test-model
    api: chat
    api_key: ${env:CACO_PLANTED_KEY}
steps:
  rows:
    op: load
    path: rows.jsonl
  answers:
    op: generate
    input: rows
    model: m
    prompt: "{{.question}}"
`, srv.URL())), 0o644)
	runDir := filepath.Join(dir, "run")
	recordDir := filepath.Join(dir, "record")
	r, diags := recipe.Load(recipeFile, recipe.Options{RunDir: runDir})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	p, diags := plan.Build(r)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var log strings.Builder
	st, err := engrun.Run(context.Background(), p, engrun.Options{RunDir: runDir, Flags: map[string]string{"record": recordDir}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	var gen *engrun.StepStats
	for _, s := range st.Steps {
		if s.Step == "answers" {
			gen = s
		}
	}
	if gen == nil || gen.RowsOut != 1 || gen.Rejected != 1 {
		t.Fatalf("stats %+v", gen)
	}
	if strings.Contains(log.String(), key) {
		t.Errorf("key in the run log:\n%s", log.String())
	}
	files := 0
	for _, d := range []string{runDir, recordDir} {
		filepath.Walk(d, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			files++
			data, _ := os.ReadFile(path)
			if strings.Contains(string(data), key) {
				t.Errorf("key written to %s", path)
			}
			return nil
		})
	}
	rj, _ := os.ReadFile(filepath.Join(runDir, "rejects.jsonl"))
	if !strings.Contains(string(rj), "refused ***") {
		t.Errorf("rejects ledger: %s", rj)
	}
	if gen.Counters["requests"] != 2 || gen.Counters["prompt_tokens"] == 0 {
		t.Errorf("counters %v", gen.Counters)
	}
	if files < 3 {
		t.Errorf("only %d files written", files)
	}
}
