package generate_test

import (
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// --no-cache neither reads nor writes the response cache; --refresh-cache
// sends every request again and overwrites the cached replies.
func TestGenerateCacheFlags(t *testing.T) {
	oldSrv := startLLM(t, llmtest.Config{Rules: []llmtest.Rule{{Match: ``, Reply: "old reply"}}})
	newSrv := startLLM(t, llmtest.Config{Rules: []llmtest.Rule{{Match: ``, Reply: "new reply"}}})
	cacheDir := t.TempDir()
	const cfg = "model: m\nprompt: 'Q: {{.question}}'\ntemperature: 0\n"
	runOnce := func(srv *llmtest.Server, flags map[string]string) (out optest.Output, sent int64) {
		t.Run("", func(t *testing.T) {
			mem := checkedMem(t)
			before := srv.Stats().Requests
			p := mustPlan(t, model(srv.URL(), "completions"), cfg, inSchema)
			rc := p.runCtx(t, mem)
			rc.Flags["cache"] = cacheDir
			for k, v := range flags {
				rc.Flags[k] = v
			}
			rec := optest.Record(t, mem, inSchema, "{\"id\": 1, \"question\": \"a\"}\n{\"id\": 2, \"question\": \"b\"}")
			defer rec.Release()
			out = run(t, p, rc, mem, rec)
			sent = srv.Stats().Requests - before
		})
		return out, sent
	}
	says := func(out optest.Output, text string) bool {
		return len(out.Rows) == 2 && strings.Contains(out.Rows[0], text) && strings.Contains(out.Rows[1], text)
	}
	noCache := map[string]string{"no-cache": "1"}
	// --no-cache twice: both send, nothing is stored
	for i := 0; i < 2; i++ {
		if out, sent := runOnce(oldSrv, noCache); sent != 2 || out.Counters["cache_hits"] != 0 || !says(out, "old reply") {
			t.Fatalf("--no-cache run %d: sent %d, %v", i, sent, out.Counters)
		}
	}
	// a normal run finds nothing stored, sends and stores
	if out, sent := runOnce(oldSrv, nil); sent != 2 || !says(out, "old reply") {
		t.Fatalf("after --no-cache: sent %d", sent)
	}
	// cached now: the new server is not asked, the old replies come back
	if out, sent := runOnce(newSrv, nil); sent != 0 || !says(out, "old reply") {
		t.Fatalf("cached: sent %d, rows %v", sent, out.Rows)
	}
	// --no-cache does not read it either
	if out, sent := runOnce(newSrv, noCache); sent != 2 || !says(out, "new reply") {
		t.Fatalf("--no-cache with a cache: sent %d, rows %v", sent, out.Rows)
	}
	// --refresh-cache sends again and overwrites
	if out, sent := runOnce(newSrv, map[string]string{"refresh-cache": "1"}); sent != 2 || !says(out, "new reply") {
		t.Fatalf("--refresh-cache: sent %d, rows %v", sent, out.Rows)
	}
	if out, sent := runOnce(oldSrv, nil); sent != 0 || !says(out, "new reply") {
		t.Fatalf("after --refresh-cache: sent %d, rows %v", sent, out.Rows)
	}
}
