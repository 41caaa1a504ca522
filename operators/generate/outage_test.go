package generate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	engrun "github.com/caco-dev/caco/engine/run"
	"github.com/caco-dev/caco/operators/generate/internal/llm"
	"github.com/caco-dev/caco/operators/generate/llmtest"

	_ "github.com/caco-dev/caco/operators/core"
	_ "github.com/caco-dev/caco/operators/write"
)

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// outageRecipe: rows → generate → limit → write, against url.
func outageRecipe(t *testing.T, dir, url, modelExtra string, rows int) string {
	t.Helper()
	var lines []string
	for i := 0; i < rows; i++ {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "question": "question %d"}`, i, i))
	}
	if err := os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "recipe.yaml")
	text := fmt.Sprintf(`caco: 1
name: outage
models:
  m:
    base_url: %s
    model: test-model
    api: completions
    concurrency: 4
%s
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 10
  answers:
    op: generate
    input: rows
    model: m
    prompt: "Q: {{.question}}"
    temperature: 0
  first:
    op: limit
    input: answers
    n: %d
  save:
    op: write
    input: first
    path: ${run_dir}/out.jsonl
`, url, modelExtra, rows-5)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func runRecipe(t *testing.T, file, runDir string) (*engrun.Stats, error) {
	t.Helper()
	r, diags := recipe.Load(file, recipe.Options{RunDir: runDir})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	p, diags := plan.Build(r)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return engrun.Run(context.Background(), p, engrun.Options{RunDir: runDir})
}

// cleanOutputs runs the recipe against a healthy server of its own and
// returns out.jsonl and rejects.jsonl.
func cleanOutputs(t *testing.T, extra string, rows int) (string, string) {
	t.Helper()
	srv := startLLM(t, llmtest.Config{})
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	if _, err := runRecipe(t, outageRecipe(t, dir, srv.URL(), extra, rows), runDir); err != nil {
		t.Fatal(err)
	}
	return readOutputs(t, runDir)
}

func readOutputs(t *testing.T, runDir string) (string, string) {
	t.Helper()
	out, err := os.ReadFile(filepath.Join(runDir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	rj, _ := os.ReadFile(filepath.Join(runDir, "rejects.jsonl"))
	return string(out), string(rj)
}

// A server that is down from the start fails the run within 10 s, naming
// its URL (instead of rejecting every row after its retries and exiting
// 0); once it is up, the same command completes, byte-identical to a run
// that never saw the outage.
func TestServerDownThenUp(t *testing.T) {
	const rows = 60
	wantOut, wantRejects := cleanOutputs(t, "    retries: 6", rows)
	addr := freeAddr(t)
	url := "http://" + addr + "/v1"
	dir := t.TempDir()
	file := outageRecipe(t, dir, url, "    retries: 6", rows)
	runDir := filepath.Join(dir, "run")
	start := time.Now()
	_, err := runRecipe(t, file, runDir)
	took := time.Since(start)
	if err == nil {
		t.Fatal("the run succeeded with its server down")
	}
	for _, want := range []string{"model m: the server at " + url + " is not reachable", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if took > 10*time.Second {
		t.Errorf("the run took %s to notice the server is down", took)
	}
	if _, err := os.Stat(filepath.Join(runDir, "out.jsonl")); err == nil {
		t.Error("out.jsonl written by the failed run")
	}
	srv, err := llmtest.Start(llmtest.Config{}, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st, err := runRecipe(t, file, runDir)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	gotOut, gotRejects := readOutputs(t, runDir)
	if gotOut != wantOut || gotRejects != wantRejects {
		t.Errorf("rerun output differs from a clean run's")
	}
	if n := srv.Stats().Requests; n != rows {
		t.Errorf("rerun sent %d requests for %d rows", n, rows)
	}
	t.Logf("failed after %s; rerun %+v", took.Round(time.Millisecond), st.Steps[1])
}

// A server that goes down in the middle of a run: rows whose retries run
// out wait instead of being rejected. With the default error budget the
// run stops (exit 1) naming the endpoint, the error and the rows waiting;
// with max_failed: 100% it goes on, ends with the rows waiting, and commits
// nothing at or after the first waiting batch. Either way, once the server
// is back, running the same command again sends exactly the requests that
// never got an answer and ends byte-identical to a run without the outage.
func TestServerDownInTheMiddle(t *testing.T) {
	const rows = 200
	for _, tc := range []struct {
		name, extra string
		budget      bool
	}{
		{"default budget", "    retries: 2\n    backoff: 20ms", true},
		{"max_failed 100%", "    retries: 2\n    backoff: 20ms\n    max_failed: 100%", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOut, wantRejects := cleanOutputs(t, tc.extra, rows)
			addr := freeAddr(t)
			srv, err := llmtest.Start(llmtest.Config{Latency: 5 * time.Millisecond}, addr)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			file := outageRecipe(t, dir, srv.URL(), tc.extra, rows)
			runDir := filepath.Join(dir, "run")
			// the server goes down once it answered 50 requests
			down := make(chan struct{})
			go func() {
				defer close(down)
				for srv.Stats().OK < 50 {
					time.Sleep(time.Millisecond)
				}
				srv.Close()
			}()
			_, runErr := runRecipe(t, file, runDir)
			err = runErr
			<-down
			first := srv.Stats()
			if err == nil {
				t.Fatal("the run succeeded although its server went down")
			}
			var we *engrun.WaitingError
			if tc.budget {
				for _, want := range []string{"model m: ", "requests failed on transient errors, more than max_failed 5% allows", addr, "rows of this step are waiting", "run the same command again"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q: %v", want, err)
					}
				}
			} else {
				if !errors.As(err, &we) {
					t.Fatalf("err = %v, want rows waiting", err)
				}
				if len(we.Steps) != 1 || we.Steps[0].Step != "answers" || we.Steps[0].Rows["llm_unavailable"] == 0 || !strings.Contains(err.Error(), addr) {
					t.Errorf("waiting: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(runDir, "out.jsonl")); err == nil {
				t.Error("out.jsonl written although rows wait")
			}
			// what the first run stored (the server may have counted a
			// reply as sent that the client never got: it went down)
			cache, err := llm.OpenCache(runDir)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := cache.Len()
			cache.Close()
			if err != nil || int64(stored) > first.OK || stored < 40 {
				t.Fatalf("%d replies stored of %d sent (%v)", stored, first.OK, err)
			}
			// the server is back
			srv2, err := llmtest.Start(llmtest.Config{}, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer srv2.Close()
			if _, err := runRecipe(t, file, runDir); err != nil {
				t.Fatalf("rerun: %v", err)
			}
			gotOut, gotRejects := readOutputs(t, runDir)
			if gotOut != wantOut || gotRejects != wantRejects {
				t.Errorf("rerun output differs from a clean run's")
			}
			// answered requests came from the cache
			if again := srv2.Stats().Requests; again != int64(rows-stored) {
				t.Errorf("rerun sent %d requests; %d of %d were answered and stored before", again, stored, rows)
			}
			t.Logf("first run: %+v; %v", first, runErr)
		})
	}
}
