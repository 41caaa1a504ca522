package generate_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

var inSchema = optest.Schema("id", "int", "question", "string")

const fakeURL = "http://127.0.0.1:9/v1"

func TestPlanErrors(t *testing.T) {
	chat := model(fakeURL, "chat")
	compl := model(fakeURL, "completions")
	cases := []struct {
		name, models, cfg, want string
	}{
		{"unknown model", chat, "model: mm\nprompt: x", `no model "mm" under ` + "`models:`" + ` (did you mean "m"?)`},
		{"unknown model, list", chat + "other:\n  base_url: " + fakeURL + "\n  model: o\n", "model: zzzzzz\nprompt: x", "models: m, other"},
		{"no models", "", "model: m\nprompt: x", "the recipe declares no `models:`"},
		{"no prompt", chat, "model: m", "generate needs prompt: or messages:"},
		{"no prompt completions", compl, "model: m", "generate needs a prompt:"},
		{"messages for completions", compl, "model: m\nmessages: [{role: user, content: hi}]", "api: completions, which takes a prompt:"},
		{"both", chat, "model: m\nprompt: x\nmessages: [{role: user, content: hi}]", "not both"},
		{"unknown column", chat, "model: m\nprompt: \"Q: {{.questoin}}\"", `no column "questoin" in the input of this step (did you mean "question"?)`},
		{"unknown column in message", chat, "model: m\nmessages:\n  - {role: system, content: hi}\n  - {role: user, content: '{{.nope_nope}}'}", `no column "nope_nope"`},
		{"template syntax", chat, "model: m\nprompt: \"{{.question\"", "template:"},
		{"variant unknown column", chat, "model: m\nprompt: x\nvariants:\n  a: {prompt: '{{.quest}}'}", `no column "quest"`},
		{"variant column only with variants", chat, "model: m\nprompt: '{{.variant}}'", `no column "variant"`},
		{"bad regexp", chat, "model: m\nprompt: x\nparse: '(?P<a>'", "not a valid regexp"},
		{"regexp without groups", chat, "model: m\nprompt: x\nparse: 'a+'", "no named groups"},
		{"group clash", chat, "model: m\nprompt: x\nparse: '(?P<finish_reason>a)'", "already writes"},
		{"extra reserved", chat, "model: m\nprompt: x\nextra: {temperature: 0}", "use the step's temperature:"},
		{"extra model", chat, "model: m\nprompt: x\nextra: {model: other}", `extra may not set "model"`},
		{"columns without json", chat, "model: m\nprompt: x\ncolumns: {a: int}", "columns: is for parse: json"},
		{"n zero", chat, "model: m\nprompt: x\nn: 0", "minimum"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := planGenerate(t, tc.models, tc.cfg, inSchema)
			if !p.diags.HasErrors() {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !strings.Contains(p.diags.Error(), tc.want) {
				t.Errorf("errors:\n%s\nwant %q", p.diags.Error(), tc.want)
			}
		})
	}
}

func TestPlanTemplateErrorPosition(t *testing.T) {
	p := planGenerate(t, model(fakeURL, "chat"), "model: m\nprompt: |\n  line one\n  and {{.nope}} here\n", inSchema)
	if !p.diags.HasErrors() {
		t.Fatal("no error")
	}
	var found bool
	for _, d := range p.diags {
		if strings.Contains(d.Summary, `"nope"`) {
			found = true
			// Line 14 is "      and {{.nope}} here"; .nope starts at column 13.
			if d.Pos.Line != 14 || d.Pos.Col != 13 {
				t.Errorf("position %d:%d, want 14:13 (%s)", d.Pos.Line, d.Pos.Col, d)
			}
		}
	}
	if !found {
		t.Errorf("diags: %s", p.diags.Error())
	}
}

func TestPlanSchema(t *testing.T) {
	cases := []struct {
		cfg  string
		want string
	}{
		{"model: m\nprompt: x", "id:int question:string text:string finish_reason:string prompt_tokens:int completion_tokens:int"},
		{"model: m\nprompt: x\nn: 3\noutput: cot", "id:int question:string sample:int cot:string finish_reason:string prompt_tokens:int completion_tokens:int"},
		{"model: m\nprompt: x\nvariants: {a: {}, b: {prompt: y}}\nparse: '(?P<code>c+)(?P<rest>.*)'", "id:int question:string variant:string text:string code:string rest:string finish_reason:string prompt_tokens:int completion_tokens:int"},
		{"model: m\nprompt: x\nparse: json\ncolumns: {answer: int, steps: json}", "id:int question:string text:string answer:int steps:json finish_reason:string prompt_tokens:int completion_tokens:int"},
		{"model: m\nprompt: x\nparse: json", "id:int question:string text:string text_json:json finish_reason:string prompt_tokens:int completion_tokens:int"},
		{"model: m\nprompt: x\noutput: question", "id:int question:string finish_reason:string prompt_tokens:int completion_tokens:int"},
	}
	for _, tc := range cases {
		p := mustPlan(t, model(fakeURL, "chat"), tc.cfg, inSchema)
		var got []string
		for _, f := range p.out.Fields() {
			got = append(got, f.Name+":"+op.TypeName(f))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.cfg, strings.Join(got, " "), tc.want)
		}
	}
}

const rowsJSONL = `{"id": 1, "question": "What is 1+2?"}
{"id": 2, "question": "What is 3+4?"}
{"id": 3, "question": "forbidden question"}
`

var rules = []llmtest.Rule{
	{Match: `What is (?P<a>\d+)\+(?P<b>\d+)`, Reply: "Let me compute. ANSWER: {{.Groups.a}}{{.Groups.b}} [{{.Sample}}]"},
	{Match: `forbidden`, Reply: "this prompt is not allowed", Status: 400},
}

func TestGenerateFanOut(t *testing.T) {
	mem := checkedMem(t)
	srv := startLLM(t, llmtest.Config{Rules: rules})
	p := mustPlan(t, model(srv.URL(), "completions"), `model: m
prompt: "Q: {{.question}}"
n: 2
variants:
  plain: {}
  polite:
    prompt: "Please. {{.question}} ({{.variant}})"
output: reply
parse: 'ANSWER: (?P<answer>\d+)'
temperature: 0
`, inSchema)
	rec := optest.Record(t, mem, inSchema, rowsJSONL)
	defer rec.Release()
	rc := p.runCtx(t, mem)
	out := run(t, p, rc, mem, rec)
	want := []string{
		`{"id":1,"question":"What is 1+2?","variant":"plain","sample":0,"reply":"Let me compute. ANSWER: 12 [0]","answer":"12","finish_reason":"stop","prompt_tokens":4,"completion_tokens":6}`,
		`{"id":1,"question":"What is 1+2?","variant":"plain","sample":1,"reply":"Let me compute. ANSWER: 12 [1]","answer":"12","finish_reason":"stop","prompt_tokens":4,"completion_tokens":6}`,
		`{"id":1,"question":"What is 1+2?","variant":"polite","sample":0,"reply":"Let me compute. ANSWER: 12 [0]","answer":"12","finish_reason":"stop","prompt_tokens":5,"completion_tokens":6}`,
		`{"id":1,"question":"What is 1+2?","variant":"polite","sample":1,"reply":"Let me compute. ANSWER: 12 [1]","answer":"12","finish_reason":"stop","prompt_tokens":5,"completion_tokens":6}`,
		`{"id":2,"question":"What is 3+4?","variant":"plain","sample":0,"reply":"Let me compute. ANSWER: 34 [0]","answer":"34","finish_reason":"stop","prompt_tokens":4,"completion_tokens":6}`,
		`{"id":2,"question":"What is 3+4?","variant":"plain","sample":1,"reply":"Let me compute. ANSWER: 34 [1]","answer":"34","finish_reason":"stop","prompt_tokens":4,"completion_tokens":6}`,
		`{"id":2,"question":"What is 3+4?","variant":"polite","sample":0,"reply":"Let me compute. ANSWER: 34 [0]","answer":"34","finish_reason":"stop","prompt_tokens":5,"completion_tokens":6}`,
		`{"id":2,"question":"What is 3+4?","variant":"polite","sample":1,"reply":"Let me compute. ANSWER: 34 [1]","answer":"34","finish_reason":"stop","prompt_tokens":5,"completion_tokens":6}`,
	}
	if strings.Join(out.Rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(out.Rows, "\n"), strings.Join(want, "\n"))
	}
	// Row 3 is refused (400, not retried) for each sample and variant.
	if len(out.Rejects) != 4 {
		t.Fatalf("rejects %+v", out.Rejects)
	}
	var details []string
	for _, r := range out.Rejects {
		if r.Row != 2 || r.Reason != "llm_error" || !strings.Contains(r.Detail, "HTTP 400") || !strings.Contains(r.Detail, "not allowed") {
			t.Errorf("reject %+v", r)
		}
		details = append(details, r.Detail[:strings.Index(r.Detail, ":")])
	}
	sort.Strings(details)
	if strings.Join(details, ",") != "sample 0 variant plain,sample 0 variant polite,sample 1 variant plain,sample 1 variant polite" {
		t.Errorf("reject details %v", details)
	}
	c := out.Counters
	if c["requests"] != 12 || c["retries"] != 0 || c["cache_misses"] != 12 || c["cache_hits"] != 0 || c["llm_errors"] != 4 ||
		c["prompt_tokens"] != 36 || c["completion_tokens"] != 48 {
		t.Errorf("counters %v", c)
	}
	if st := srv.Stats(); st.Requests != 12 {
		t.Errorf("server saw %d requests", st.Requests)
	}
}

// temperature 0 and the extra fields reach the server's JSON body, and the
// seed is offset per sample.
func TestGenerateBodyOnServer(t *testing.T) {
	mem := checkedMem(t)
	srv := startLLM(t, llmtest.Config{KeepBodies: true})
	p := mustPlan(t, model(srv.URL(), "chat"), `model: m
messages:
  - {role: system, content: "You are terse."}
  - {role: user, content: "{{.question}}"}
n: 2
temperature: 0
top_p: 0.95
max_tokens: 64
stop: ["</answer>"]
seed: 100
cache_by: prompt
extra: {top_k: 20, min_p: 0, chat_template_kwargs: {enable_thinking: false}}
`, inSchema)
	rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "hi"}`)
	defer rec.Release()
	out := run(t, p, p.runCtx(t, mem), mem, rec)
	if len(out.Rows) != 2 {
		t.Fatalf("rows %v", out.Rows)
	}
	bodies := srv.Bodies()
	if len(bodies) != 2 {
		t.Fatalf("%d bodies", len(bodies))
	}
	seeds := map[float64]bool{}
	for _, b := range bodies {
		for k, v := range map[string]any{"temperature": 0.0, "top_p": 0.95, "max_tokens": 64.0, "top_k": 20.0, "min_p": 0.0, "model": "test-model", "n": 1.0} {
			if got, ok := b[k]; !ok || got != v {
				t.Errorf("body[%q] = %v (present: %v), want %v", k, got, ok, v)
			}
		}
		kw, _ := b["chat_template_kwargs"].(map[string]any)
		if v, ok := kw["enable_thinking"]; !ok || v != false {
			t.Errorf("chat_template_kwargs = %v", b["chat_template_kwargs"])
		}
		if st, _ := b["stop"].([]any); len(st) != 1 || st[0] != "</answer>" {
			t.Errorf("stop = %v", b["stop"])
		}
		msgs, _ := b["messages"].([]any)
		if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[1].(map[string]any)["content"] != "hi" {
			t.Errorf("messages = %v", b["messages"])
		}
		seeds[b["seed"].(float64)] = true
	}
	if !seeds[100] || !seeds[101] {
		t.Errorf("seeds %v, want 100 and 101 (cache_by: prompt)", seeds)
	}
}

func TestGenerateTruncated(t *testing.T) {
	srv := startLLM(t, llmtest.Config{Rules: []llmtest.Rule{{Match: ``, Reply: "one two three four five six seven"}}})
	for _, keep := range []bool{false, true} {
		mem := checkedMem(t)
		cfg := "model: m\nprompt: '{{.question}}'\nmax_tokens: 3\n"
		if keep {
			cfg += "keep_truncated: true\n"
		}
		p := mustPlan(t, model(srv.URL(), "completions"), cfg, inSchema)
		rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "a"}`+"\n"+`{"id": 2, "question": "b"}`)
		out := run(t, p, p.runCtx(t, mem), mem, rec)
		rec.Release()
		if keep {
			if len(out.Rows) != 2 || len(out.Rejects) != 0 || !strings.Contains(out.Rows[0], `"text":"one two three","finish_reason":"length"`) {
				t.Errorf("keep_truncated: rows %v rejects %v", out.Rows, out.Rejects)
			}
		} else {
			if len(out.Rows) != 0 || len(out.Rejects) != 2 || out.Rejects[0].Reason != "truncated" || !strings.Contains(out.Rejects[0].Detail, "max_tokens") {
				t.Errorf("rows %v rejects %+v", out.Rows, out.Rejects)
			}
		}
		if out.Counters["truncated"] != 2 {
			t.Errorf("counters %v", out.Counters)
		}
	}
}

func TestGenerateParseJSON(t *testing.T) {
	mem := checkedMem(t)
	srv := startLLM(t, llmtest.Config{Rules: []llmtest.Rule{
		{Match: `good`, Reply: "Here:\n```json\n{\"answer\": 42, \"steps\": [\"a\", \"b\"], \"ok\": true}\n```"},
		{Match: `wrongtype`, Reply: `{"answer": "forty-two"}`},
		{Match: ``, Reply: "no json here"},
	}})
	p := mustPlan(t, model(srv.URL(), "chat"), "model: m\nprompt: '{{.question}}'\nparse: json\ncolumns: {answer: int, steps: json, ok: bool, missing: string}\n", inSchema)
	rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "good"}
{"id": 2, "question": "wrongtype"}
{"id": 3, "question": "bad"}`)
	defer rec.Release()
	out := run(t, p, p.runCtx(t, mem), mem, rec)
	if len(out.Rows) != 1 || !strings.Contains(out.Rows[0], `"answer":42,"steps":["a","b"],"ok":true,"missing":null`) {
		t.Errorf("rows %v", out.Rows)
	}
	if len(out.Rejects) != 2 {
		t.Fatalf("rejects %+v", out.Rejects)
	}
	for i, want := range []string{`key "answer": want int`, "no JSON object"} {
		if r := out.Rejects[i]; r.Reason != "parse_error" || !strings.Contains(r.Detail, want) {
			t.Errorf("reject %d: %+v, want %q", i, r, want)
		}
	}
}

func TestGenerateCache(t *testing.T) {
	srv := startLLM(t, llmtest.Config{})
	cacheDir := t.TempDir()
	const cfg = "model: m\nprompt: 'Q: {{.question}}'\nn: 2\ntemperature: 0.7\n"
	// Each run is a subtest, so that its shared cache is closed when it
	// ends, as at the end of a real run.
	runOnce := func(cfg string, flags map[string]string) (out optest.Output, sent int64) {
		t.Run("", func(t *testing.T) {
			mem := checkedMem(t)
			before := srv.Stats().Requests
			p := mustPlan(t, model(srv.URL(), "completions"), cfg, inSchema)
			rc := p.runCtx(t, mem)
			for k, v := range flags {
				rc.Flags[k] = v
			}
			rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "a"}
{"id": 2, "question": "b"}`)
			defer rec.Release()
			out = run(t, p, rc, mem, rec)
			sent = srv.Stats().Requests - before
		})
		return out, sent
	}
	shared := map[string]string{"cache": cacheDir}
	first, sent := runOnce(cfg, shared)
	if sent != 4 || first.Counters["cache_misses"] != 4 || first.Counters["cache_hits"] != 0 {
		t.Fatalf("first run: sent %d, counters %v", sent, first.Counters)
	}
	// Another run sharing the cache sends nothing and returns the same rows.
	second, sent := runOnce(cfg, shared)
	if sent != 0 || second.Counters["cache_hits"] != 4 || second.Counters["cache_misses"] != 0 || second.Counters["requests"] != 0 {
		t.Fatalf("second run: sent %d, counters %v", sent, second.Counters)
	}
	if strings.Join(first.Rows, "\n") != strings.Join(second.Rows, "\n") {
		t.Errorf("cached rows differ:\n%v\n%v", first.Rows, second.Rows)
	}
	// More samples: only the new ones are sent.
	third, sent := runOnce(strings.Replace(cfg, "n: 2", "n: 3", 1), shared)
	if sent != 2 || third.Counters["cache_hits"] != 4 {
		t.Errorf("n 2 -> 3: sent %d, counters %v", sent, third.Counters)
	}
	// Another temperature is another request.
	if _, sent = runOnce(strings.Replace(cfg, "0.7", "0.8", 1), shared); sent != 4 {
		t.Errorf("new temperature: sent %d", sent)
	}
	// cache: false always asks.
	if _, sent = runOnce(cfg+"cache: false\n", shared); sent != 4 {
		t.Errorf("cache: false: sent %d", sent)
	}
	// Without --cache, each run has its own cache in its run dir.
	if _, sent = runOnce(cfg, nil); sent != 4 {
		t.Errorf("fresh run dir: sent %d", sent)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "llm-cache.db")); err != nil {
		t.Error(err)
	}
}

// A variant whose prompt changed is sent again; the others come from the
// cache of the same run folder.
func TestGenerateCacheEditedVariant(t *testing.T) {
	srv := startLLM(t, llmtest.Config{})
	mem := checkedMem(t)
	rc := optest.NewRunContext(t, mem)
	runWith := func(cfg string) int64 {
		before := srv.Stats().Requests
		p := mustPlan(t, model(srv.URL(), "chat"), cfg, inSchema)
		rc.Models = p.models
		rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "a"}`)
		defer rec.Release()
		run(t, p, rc, mem, rec)
		return srv.Stats().Requests - before
	}
	base := "model: m\nvariants:\n  a: {prompt: 'A {{.question}}'}\n  b: {prompt: 'B {{.question}}'}\n"
	if n := runWith(base); n != 2 {
		t.Fatalf("first: %d", n)
	}
	if n := runWith(strings.Replace(base, "'B {{", "'B2 {{", 1)); n != 1 {
		t.Errorf("edited variant b: sent %d, want 1", n)
	}
}

func TestGenerateRecordReplay(t *testing.T) {
	srv := startLLM(t, llmtest.Config{Rules: rules})
	recordDir := t.TempDir()
	const cfg = "model: m\nprompt: '{{.question}}'\nn: 2\nextra: {top_k: 5}\n"
	const rows = `{"id": 1, "question": "What is 1+2?"}
{"id": 2, "question": "What is 3+4?"}`
	runDir := t.TempDir()
	var live optest.Output
	for i := 0; i < 2; i++ {
		// The second run answers from the cache of the first: the
		// recording stays complete and is not duplicated.
		t.Run("", func(t *testing.T) {
			mem := checkedMem(t)
			p := mustPlan(t, model(srv.URL(), "completions"), cfg, inSchema)
			rc := p.runCtx(t, mem)
			rc.Dir = runDir
			rc.Flags["record"] = recordDir
			rec := optest.Record(t, mem, inSchema, rows)
			defer rec.Release()
			out := run(t, p, rc, mem, rec)
			if i == 0 {
				live = out
			} else if out.Counters["cache_hits"] != 4 {
				t.Errorf("second run counters %v", out.Counters)
			}
		})
	}
	mem := checkedMem(t)
	rec := optest.Record(t, mem, inSchema, rows)
	defer rec.Release()
	file := filepath.Join(recordDir, "m.jsonl")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 4 {
		t.Errorf("record file has %d lines, want 4:\n%s", n, data)
	}

	// Replay: no server needed.
	before := srv.Stats().Requests
	models := "m:\n  model: test-model\n  api: completions\n  replay: " + file + "\n"
	rp := mustPlan(t, models, cfg, inSchema)
	replayed := run(t, rp, rp.runCtx(t, mem), mem, rec)
	if strings.Join(replayed.Rows, "\n") != strings.Join(live.Rows, "\n") {
		t.Errorf("replayed rows differ:\n%v\n%v", replayed.Rows, live.Rows)
	}
	if srv.Stats().Requests != before || replayed.Counters["replayed"] != 4 {
		t.Errorf("replay sent requests or miscounted: %v", replayed.Counters)
	}

	// A request that was not recorded fails the run, naming it.
	rp2 := mustPlan(t, models, cfg, inSchema)
	rec2 := optest.Record(t, mem, inSchema, `{"id": 9, "question": "never recorded"}`)
	defer rec2.Release()
	_, err = optest.RunErr(rp2.step, mem, rp2.runCtx(t, mem), t, rec2)
	if err == nil {
		t.Fatal("replay miss: no error")
	}
	for _, want := range []string{file, "never recorded", "sample 0", `model "test-model"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("replay miss error %q lacks %q", err, want)
		}
	}
}

// Replay a recording through the test server's replay mode too.
func TestTestServerReplaysRecording(t *testing.T) {
	srv := startLLM(t, llmtest.Config{Rules: rules})
	recordDir := t.TempDir()
	const cfg = "model: m\nprompt: '{{.question}}'\nn: 2\ntemperature: 0\n"
	mem := checkedMem(t)
	p := mustPlan(t, model(srv.URL(), "chat"), cfg, inSchema)
	rc := p.runCtx(t, mem)
	rc.Flags["record"] = recordDir
	rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "What is 5+5?"}`)
	defer rec.Release()
	live := run(t, p, rc, mem, rec)
	rsrv := startLLM(t, llmtest.Config{Replay: filepath.Join(recordDir, "m.jsonl")})
	p2 := mustPlan(t, model(rsrv.URL(), "chat"), cfg, inSchema)
	again := run(t, p2, p2.runCtx(t, mem), mem, rec)
	if strings.Join(again.Rows, "\n") != strings.Join(live.Rows, "\n") {
		t.Errorf("rows differ:\n%v\n%v", again.Rows, live.Rows)
	}
	if st := rsrv.Stats(); st.ReplayMisses != 0 || st.OK != 2 {
		t.Errorf("replay server stats %+v", st)
	}
}

// An API key never reaches anything the step writes.
func TestGenerateSecretNotWritten(t *testing.T) {
	const key = "sk-planted-secret-4242"
	srv := startLLM(t, llmtest.Config{APIKey: key, Rules: []llmtest.Rule{{Match: "bad", Reply: "rejected", Status: 400}}})
	recordDir := t.TempDir()
	mem := checkedMem(t)
	t.Setenv("CACO_TEST_KEY", key)
	p := mustPlan(t, model(srv.URL(), "completions", "api_key: ${env:CACO_TEST_KEY}"), "model: m\nprompt: '{{.question}}'\n", inSchema)
	rc := p.runCtx(t, mem)
	rc.Flags["record"] = recordDir
	rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "fine"}
{"id": 2, "question": "bad"}`)
	defer rec.Release()
	out := run(t, p, rc, mem, rec)
	if len(out.Rows) != 1 || len(out.Rejects) != 1 {
		t.Fatalf("rows %v rejects %v", out.Rows, out.Rejects)
	}
	dump, _ := json.Marshal(out)
	if strings.Contains(string(dump), key) {
		t.Errorf("key in output: %s", dump)
	}
	// Close the shared cache and recorder so their files are complete.
	for _, k := range []string{"llm-cache:" + rc.Dir, "llm-record:" + filepath.Join(recordDir, "m.jsonl")} {
		v, _ := rc.Shared(k, func() (any, error) { return nil, errors.New("not open") })
		if c, ok := v.(interface{ Close() error }); ok {
			c.Close()
		}
	}
	for _, dir := range []string{rc.Dir, recordDir} {
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			data, _ := os.ReadFile(path)
			if strings.Contains(string(data), key) {
				t.Errorf("key written to %s", path)
			}
			return nil
		})
	}
}

// A model's client is shared: steps naming the same model share its
// concurrency limit.
func TestGenerateConcurrencyShared(t *testing.T) {
	srv := startLLM(t, llmtest.Config{Latency: 20 * time.Millisecond})
	mem := checkedMem(t)
	models := model(srv.URL(), "completions", "concurrency: 3")
	p1 := mustPlan(t, models, "model: m\nprompt: 'a {{.question}}'\n", inSchema)
	p2 := mustPlan(t, models, "model: m\nprompt: 'b {{.question}}'\n", inSchema)
	rc := p1.runCtx(t, mem)
	var lines []string
	for i := 0; i < 12; i++ {
		lines = append(lines, `{"id": 1, "question": "q`+string(rune('a'+i))+`"}`)
	}
	rec := optest.Record(t, mem, inSchema, strings.Join(lines, "\n"))
	defer rec.Release()
	done := make(chan optest.Output, 2)
	for _, p := range []planned{p1, p2} {
		go func() {
			out, err := optest.RunErr(p.step, mem, rc, t, rec)
			if err != nil {
				t.Error(err)
			}
			done <- out
		}()
	}
	a, b := <-done, <-done
	if len(a.Rows) != 12 || len(b.Rows) != 12 {
		t.Errorf("rows %d %d", len(a.Rows), len(b.Rows))
	}
	if m := srv.Stats().MaxInFlight; m > 3 {
		t.Errorf("server saw %d requests in flight, the model's concurrency is 3", m)
	}
}
