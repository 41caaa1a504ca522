package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeTestLLM(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuf
	done := make(chan int, 1)
	go func() {
		done <- serveTestLLMMain(ctx, []string{"--addr", "127.0.0.1:0", "--latency", "1ms", "--max-parallel", "4"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`at (http://\S+/v1)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no URL printed; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Post(url+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"test-model","messages":[{"role":"user","content":"hi"}],"temperature":0}`))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(out["choices"].([]any)) != 1 {
		t.Fatalf("reply %d %v", resp.StatusCode, out)
	}
	resp, err = http.Get(strings.TrimSuffix(url, "/v1") + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st["requests"] != 1.0 {
		t.Errorf("stats %v", st)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "stopped after 1 requests") {
		t.Errorf("stdout %q", stdout.String())
	}
	if code := serveTestLLMMain(context.Background(), []string{"--fail-5xx", "2"}, &stdout, &stderr); code == 0 {
		t.Error("--fail-5xx 2 accepted")
	}
}

// TestGenerateKill9Resume: a `caco run` is killed with SIGKILL in the
// middle of its generate step; the rerun sends exactly the requests that
// had not been answered (counted at the test server). The server answers
// `answered` requests and then holds every reply, so the kill lands at an
// exact point.
func TestGenerateKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, ok := op.Lookup("generate"); !ok {
		t.Skip("the generate operator is not registered in operators/all")
	}
	const rows, answered = 400, 150
	srv, err := llmtest.Start(llmtest.Config{Latency: 5 * time.Millisecond, PauseAfter: answered}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	bin := cacoBinary(t)
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "{\"id\": %d, \"question\": \"question %d\"}\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(b.String()), 0o644)
	recipe := filepath.Join(dir, "gen.yaml")
	os.WriteFile(recipe, []byte(fmt.Sprintf(`caco: 1
name: gen-resume
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
`, srv.URL())), 0o644)
	runDir := filepath.Join(dir, "run")

	cmd := exec.Command(bin, "run", recipe, "--run-dir", runDir, "--quiet")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for srv.Stats().Requests <= answered {
		select {
		case err := <-done:
			t.Fatalf("the run ended before the kill: %v\n%s", err, stderr.String())
		case <-deadline:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatal("the run made no progress")
		case <-time.After(5 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond) // the answered replies reach the response cache
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	if ok := srv.Stats().OK; ok != answered {
		t.Fatalf("%d replies before the kill, want %d", ok, answered)
	}

	srv.Resume()
	before := srv.Stats().Requests
	rerun := exec.Command(bin, "run", recipe, "--run-dir", runDir, "--quiet")
	if out, err := rerun.CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if sent := srv.Stats().Requests - before; sent != rows-answered {
		t.Errorf("the rerun sent %d requests; %d of %d were answered before the kill, so want %d", sent, answered, rows, rows-answered)
	}
	data, err := os.ReadFile(filepath.Join(runDir, "stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Steps []struct {
			Step     string           `json:"step"`
			RowsOut  int64            `json:"rows_out"`
			Counters map[string]int64 `json:"counters"`
		} `json:"steps"`
	}
	json.Unmarshal(data, &st)
	for _, s := range st.Steps {
		if s.Step == "answers" && s.RowsOut != rows {
			t.Errorf("answers: %d rows out, want %d (%s)", s.RowsOut, rows, data)
		}
	}
}
