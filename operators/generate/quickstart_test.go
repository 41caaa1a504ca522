package generate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	engrun "github.com/caco-dev/caco/engine/run"
	"github.com/caco-dev/caco/operators/generate/llmtest"

	_ "github.com/caco-dev/caco/operators/all"
)

// The quickstart, replayed, then pointed at servers on the same run
// folder (the README's next command): the generate steps are recomputed
// (where replies come from is in their fingerprint) and send requests. The
// servers are down for the first run against them (the issue's "down for
// its first 20 s", with the quickstart's retries: 6): it fails within 10 s
// with exit 1 naming the URL; once they are up (test servers answering
// from the same recordings), the same command completes with a dataset
// byte-identical to the replayed one.
func TestQuickstartReplayThenLive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart three times")
	}
	root, _ := filepath.Abs("../..")
	file := filepath.Join(root, "recipes", "quickstart.yaml")
	runDir := filepath.Join(t.TempDir(), "run")
	runQS := func(set map[string]string) (*engrun.Stats, error) {
		r, diags := recipe.Load(file, recipe.Options{RunDir: runDir, Set: set})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		p, diags := plan.Build(r)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return engrun.Run(context.Background(), p, engrun.Options{RunDir: runDir})
	}
	if _, err := runQS(nil); err != nil {
		t.Fatalf("replayed quickstart: %v", err)
	}
	replayed, err := os.ReadFile(filepath.Join(runDir, "caco.jsonl"))
	if err != nil || len(replayed) == 0 {
		t.Fatal(err)
	}

	instructAddr, codegenAddr := freeAddr(t), freeAddr(t)
	set := map[string]string{"instruct_url": "http://" + instructAddr + "/v1", "codegen_url": "http://" + codegenAddr + "/v1"}
	start := time.Now()
	_, downErr := runQS(set)
	took := time.Since(start)
	err = downErr
	if err == nil {
		t.Fatal("the quickstart succeeded with its servers down")
	}
	if !strings.Contains(err.Error(), "is not reachable") || !strings.Contains(err.Error(), "/v1") || took > 10*time.Second {
		t.Fatalf("after %s: %v", took, err)
	}

	replay := filepath.Join(root, "testdata", "quickstart", "replay")
	instruct, err := llmtest.Start(llmtest.Config{Replay: filepath.Join(replay, "instruct.jsonl")}, instructAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer instruct.Close()
	codegen, err := llmtest.Start(llmtest.Config{Replay: filepath.Join(replay, "codegen.jsonl")}, codegenAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer codegen.Close()
	st, err := runQS(set)
	if err != nil {
		t.Fatalf("rerun against the servers: %v", err)
	}
	live, err := os.ReadFile(filepath.Join(runDir, "caco.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if string(live) != string(replayed) {
		t.Errorf("live dataset differs from the replayed one:\n%s\n---\n%s", live, replayed)
	}
	is, cs := instruct.Stats(), codegen.Stats()
	if is.OK == 0 || cs.OK == 0 || is.ReplayMisses+cs.ReplayMisses != 0 {
		t.Errorf("servers: instruct %+v codegen %+v", is, cs)
	}
	for _, s := range st.Steps {
		if s.Op == "generate" && s.Resumed != 0 {
			t.Errorf("step %s reused %d batches committed from the replay", s.Step, s.Resumed)
		}
	}
	t.Logf("down: failed after %s: %v; live rerun: instruct %d requests, codegen %d", took.Round(time.Millisecond), downErr, is.Requests, cs.Requests)
}
