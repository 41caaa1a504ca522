package generate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// A generate step's lineage columns are its own: a sample or variant
// column already in the input is refused with a fix hint, and
// sample_column / variant_column name this step's.
func TestGenerateLineageColumns(t *testing.T) {
	withSample := optest.Schema("id", "int", "question", "string", "sample", "int", "variant", "string")
	for _, tc := range []struct{ cfg, want string }{
		{"n: 2\n", `sample_column: the input already has a column "sample" (an earlier step wrote it); this step would overwrite that sample index and lose lineage: name this step's column, e.g. sample_column: s_sample`},
		{"variants: {a: {}, b: {}}\n", `variant_column: the input already has a column "variant"`},
		{"n: 2\nsample_column: variant\n", `the input already has a column "variant"`},
	} {
		d := planGenerate(t, model(fakeURL, "completions"), "model: m\nprompt: '{{.question}}'\n"+tc.cfg, withSample).diags
		if !d.HasErrors() || !strings.Contains(d.Error(), tc.want) {
			t.Errorf("%q: diags %v, want %q", tc.cfg, d.Error(), tc.want)
		}
	}
	// n: 1 writes no sample column: no clash
	if d := planGenerate(t, model(fakeURL, "completions"), "model: m\nprompt: '{{.question}}'\n", withSample).diags; d.HasErrors() {
		t.Errorf("n: 1: %v", d.Error())
	}
	// own names: both lineages survive
	srv := startLLM(t, llmtest.Config{})
	mem := checkedMem(t)
	p := mustPlan(t, model(srv.URL(), "completions"), "model: m\nprompt: '{{.question}} {{.solve_variant}}'\nn: 2\nsample_column: solve_sample\nvariants: {x: {}}\nvariant_column: solve_variant\n", withSample)
	rec := optest.Record(t, mem, withSample, `{"id": 1, "question": "q", "sample": 7, "variant": "decompose"}`)
	defer rec.Release()
	out := run(t, p, p.runCtx(t, mem), mem, rec)
	if len(out.Rows) != 2 || !strings.Contains(out.Rows[1], `"sample":7,"variant":"decompose","solve_variant":"x","solve_sample":1,`) {
		t.Errorf("rows %v", out.Rows)
	}
}

// A null in a template rejects the row (null_in_prompt, naming the column)
// unless the template says what to write instead; json columns render as
// JSON, exactly.
func TestGenerateTemplateValues(t *testing.T) {
	srv := startLLM(t, llmtest.Config{KeepBodies: true})
	in := optest.Schema("id", "int", "q", "string", "j", "json")
	cases := []struct {
		prompt, row, want, reject string
	}{
		{prompt: "Q: {{.q}}", row: `{"id": 1, "q": null, "j": null}`, reject: "column q is null"},
		{prompt: "Q: {{trim .q}}", row: `{"id": 1, "q": null, "j": null}`, reject: "column q is null"},
		{prompt: "J: {{json .j}}", row: `{"id": 1, "q": "a", "j": null}`, reject: "column j is null"},
		{prompt: "Q: {{or .q \"(none)\"}}", row: `{"id": 1, "q": null, "j": null}`, want: "Q: (none)"},
		{prompt: "Q: {{if .q}}{{.q}}{{else}}-{{end}}", row: `{"id": 1, "q": null, "j": null}`, want: "Q: -"},
		{prompt: "J: {{.j}}", row: `{"id": 1, "q": "a", "j": {"b": [1, 2.5], "a": 12345678901234567890}}`, want: `J: {"a":12345678901234567890,"b":[1,2.5]}`},
		{prompt: "J: {{json .j}} {{.j.a}} {{index .j.b 1}}", row: `{"id": 1, "q": "a", "j": {"b": [1, 2.5], "a": 7}}`, want: `J: {"a":7,"b":[1,2.5]} 7 2.5`},
		{prompt: "J: {{.j}} {{join \",\" .j}}", row: `{"id": 1, "q": "a", "j": ["x", 1.0]}`, want: `J: ["x",1.0] x,1.0`},
	}
	for _, tc := range cases {
		t.Run(tc.prompt, func(t *testing.T) {
			mem := checkedMem(t)
			p := mustPlan(t, model(srv.URL(), "completions"), "model: m\nprompt: '"+strings.ReplaceAll(tc.prompt, "'", "''")+"'\ncache: false\n", in)
			rec := optest.Record(t, mem, in, tc.row)
			defer rec.Release()
			before := len(srv.Bodies())
			out := run(t, p, p.runCtx(t, mem), mem, rec)
			if tc.reject != "" {
				if len(out.Rejects) != 1 || out.Rejects[0].Reason != "null_in_prompt" || !strings.Contains(out.Rejects[0].Detail, tc.reject) || len(srv.Bodies()) != before {
					t.Errorf("rejects %+v", out.Rejects)
				}
				return
			}
			bodies := srv.Bodies()[before:]
			if len(out.Rejects) != 0 || len(bodies) != 1 || bodies[0]["prompt"] != tc.want {
				t.Errorf("rejects %+v, sent %v, want %q", out.Rejects, bodies, tc.want)
			}
		})
	}
}

// The step's fingerprint includes where its replies come from: a replay
// file (by content) or a live server.
func TestGenerateFingerprintReplySource(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	os.WriteFile(a, []byte("{}\n"), 0o644)
	os.WriteFile(b, []byte("{}\n{}\n"), 0o644)
	fp := func(models string) string {
		p := mustPlan(t, models, "model: m\nprompt: '{{.question}}'\n", inSchema)
		s, err := p.step.(op.Fingerprinter).Fingerprint()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	replayA := fp("m:\n  model: test-model\n  replay: " + a + "\n")
	replayA2 := fp("m:\n  model: test-model\n  replay: " + a + "\n")
	replayB := fp("m:\n  model: test-model\n  replay: " + b + "\n")
	live := fp("m:\n  model: test-model\n  replay: " + a + "\n  base_url: " + fakeURL + "\n")
	live2 := fp(model(fakeURL, "chat"))
	if replayA != replayA2 || replayA == replayB || replayA == live || live != live2 || !strings.Contains(live, "replies=live") {
		t.Errorf("fingerprints: replay a %q, b %q, live %q, %q", replayA, replayB, live, live2)
	}
}
