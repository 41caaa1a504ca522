package generate_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caco-dev/caco/operators/generate/internal/llm"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// sampledRecipe: rows with one and the same prompt, n: 2 with sampling.
func sampledRecipe(t *testing.T, dir, url string) string {
	t.Helper()
	var lines []string
	for i := 0; i < 30; i++ {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "question": "the same question"}`, i))
	}
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	file := filepath.Join(dir, "recipe.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`caco: 1
name: sampled
models:
  m:
    base_url: %s
    model: test-model
    api: completions
    concurrency: 4
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 5
  answers:
    op: generate
    input: rows
    model: m
    prompt: "Q: {{.question}}"
    n: 2
    temperature: 0.8
  save:
    op: write
    input: answers
    path: ${run_dir}/out.jsonl
    columns: [id, sample, text]
`, url)), 0o644)
	return file
}

// Sampled rows keep their own samples: rows whose prompts are identical
// each get their own replies (cache keys carry the row's identity, and each
// request a seed derived from it); after a kill -9 in the middle, the rerun
// sends only what was not stored and its output equals a clean run's.
func TestSampledRowsKeepTheirSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const rows, answered = 30, 25
	clean := startLLM(t, llmtest.Config{})
	cleanDir := t.TempDir()
	if _, err := runRecipe(t, sampledRecipe(t, cleanDir, clean.URL()), filepath.Join(cleanDir, "run")); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(cleanDir, "run", "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		i := strings.Index(line, `"text":`)
		texts[line[i:]] = true
	}
	if len(texts) != 2*rows {
		t.Fatalf("%d distinct replies for %d (row, sample) pairs:\n%s", len(texts), 2*rows, want)
	}

	srv := startLLM(t, llmtest.Config{Latency: 5 * time.Millisecond, PauseAfter: answered})
	dir := t.TempDir()
	file := sampledRecipe(t, dir, srv.URL())
	runDir := filepath.Join(dir, "run")
	cmd := exec.Command(os.Args[0], file, runDir)
	cmd.Env = append(os.Environ(), helperEnv+"=run")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Stats().Requests <= answered {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the first run made too little progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// no grace period: whatever was not durable yet is sent again
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	srv.Resume()
	cache, err := llm.OpenCache(runDir)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := cache.Len()
	cache.Close()
	if stored == 0 || stored >= 2*rows {
		t.Fatalf("the kill did not land mid-step: %d of %d replies stored", stored, 2*rows)
	}
	before := srv.Stats().Requests
	rerun := exec.Command(os.Args[0], file, runDir)
	rerun.Env = append(os.Environ(), helperEnv+"=run")
	if out, err := rerun.CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if sent := srv.Stats().Requests - before; sent != int64(2*rows-stored) {
		t.Errorf("the rerun sent %d requests; %d of %d were stored", sent, stored, 2*rows)
	}
	got, err := os.ReadFile(filepath.Join(runDir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("resumed output differs from a clean run's:\n%s\n---\n%s", got, want)
	}
}
