package generate_test

import (
	"path/filepath"
	"testing"

	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// A model with a replay file and a URL uses the URL: replay is the offline
// default that one --set of the URL overrides.
func TestURLWinsOverReplay(t *testing.T) {
	srv := startLLM(t, llmtest.Config{Rules: rules})
	missing := filepath.Join(t.TempDir(), "no-such-replay.jsonl")
	models := "m:\n  model: test-model\n  api: completions\n  base_url: " + srv.URL() + "\n  replay: " + missing + "\n"
	mem := checkedMem(t)
	p := mustPlan(t, models, "model: m\nprompt: '{{.question}}'\n", inSchema)
	rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "What is 1+2?"}`)
	defer rec.Release()
	out := run(t, p, p.runCtx(t, mem), mem, rec)
	if len(out.Rows) != 1 || srv.Stats().Requests != 1 || out.Counters["replayed"] != 0 {
		t.Fatalf("rows %d, server requests %d, counters %v", len(out.Rows), srv.Stats().Requests, out.Counters)
	}
}
