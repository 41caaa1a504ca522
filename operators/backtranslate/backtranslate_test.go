package backtranslate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	"github.com/caco-dev/caco/operators/backtranslate"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// the input: executed Code CoTs with lineage columns (sample from CodeGen)
var inSchema = optest.Schema("cot_id", "string", "sample", "int", "code", "string", "code_input", "json", "code_output", "json")

const inRows = `{"cot_id": "muffins", "sample": 3, "code": "input = {\"muffins\": 7, \"muffin_price\": 3, \"cookies\": 12}\nmuffins = input[\"muffins\"]\nmuffin_price = input[\"muffin_price\"]\ncookies = input[\"cookies\"]\noutput = muffins * muffin_price + cookies\n", "code_input": {"muffins": 7, "muffin_price": 3, "cookies": 12}, "code_output": 33}
{"cot_id": "discount", "sample": 5, "code": "input = {\"price\": 80, \"rate\": 0.15}\nprice = input[\"price\"]\nrate = input[\"rate\"]\noutput = price * (1 - rate)\n", "code_input": {"price": 80, "rate": 0.15}, "code_output": 68}`

// rule answers the prompt of one style for one program.
func rule(style, key, reply string) llmtest.Rule {
	return llmtest.Rule{Match: `(?s)Style: ` + style + `.*` + key, Reply: reply}
}

var rules = []llmtest.Rule{
	// muffins
	rule("a textbook", `"muffins": 7`, "Tom buys 7 muffins at 3 dollars each and 12 cookies at 1 dollar each. How many dollars does he spend?"),
	rule("a real-world", `"muffins": 7`, `{{if eq .Sample 0}}{{"At the bakery Tom picks seven muffins (3 dollars each) and a dozen cookies at a dollar each. What is his bill?"}}{{else}}{{"Tom buys 7 muffins; muffin_price is 3 dollars, and 12 cookies cost 1 dollar each. Find the total."}}{{end}}`),
	rule("write the whole problem in French", `"muffins": 7`, "Tom achète sept muffins à 3 euros et douze biscuits à 1 euro. Combien paie-t-il ?"),
	// discount
	rule("a textbook", `"price": 80`, "A coat costs $80 and is discounted by 15%. What is the sale price?"),
	rule("a real-world", `"price": 80`, `{{if eq .Sample 0}}{{"Ana sees a jacket for $80 in a shop. What does she pay after the discount?"}}{{else}}{{"A jacket for $80 is 15% off, so Ana pays $68. How much does she save?"}}{{end}}`),
	rule("write the whole problem in French", `"price": 80`, "Un manteau coûte 80 euros. Il est soldé de 15 %. Quel est le prix dans le code Python ?"),
	{Match: ".", Status: 400, Reply: "no rule"},
}

const stepConfig = `model: m
output: instruction
styles:
  textbook: {}
  word_problem: {count: 2}
  other_language: {language: French}
temperature: 0.7
`

func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

type planned struct {
	step   op.Planner
	models map[string]*op.ModelConfig
	diags  diag.List
}

func planStep(t *testing.T, models, cfg string) planned {
	t.Helper()
	src := optest.StepRecipe("back_translate", cfg, models)
	dir := t.TempDir()
	file := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, diags := recipe.Parse(file, []byte(src), recipe.Options{RunDir: filepath.Join(dir, "run")})
	if diags.HasErrors() {
		return planned{diags: diags}
	}
	for _, s := range r.Steps {
		if s.Name == "s" {
			_, d := plan.PlanStep(r, s, inSchema)
			return planned{step: s.Config, models: r.Models, diags: append(diags, d...)}
		}
	}
	t.Fatal("no step s")
	return planned{}
}

func TestBackTranslate(t *testing.T) {
	srv, err := llmtest.Start(llmtest.Config{Rules: rules, KeepBodies: true}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mem := checked(t)
	models := fmt.Sprintf("m:\n  base_url: %s\n  model: test-model\n  api: chat\n  retries: 0\n", srv.URL())
	p := planStep(t, models, stepConfig)
	if p.diags.HasErrors() {
		t.Fatal(p.diags.Error())
	}
	rc := optest.NewRunContext(t, mem)
	rc.Models = p.models
	rec := optest.Record(t, mem, inSchema, inRows)
	defer rec.Release()
	out, err := optest.RunErr(p.step, mem, rc, t, rec)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		CotID       string `json:"cot_id"`
		Sample      int    `json:"sample"`
		Style       string `json:"style"`
		StyleSample int    `json:"style_sample"`
		Instruction string `json:"instruction"`
	}
	var got []string
	for _, r := range out.Rows {
		var x row
		if err := json.Unmarshal([]byte(r), &x); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%d %s/%d", x.CotID, x.Sample, x.Style, x.StyleSample))
	}
	// ordered by row, style, sample; lineage (cot_id, sample) kept
	want := []string{"muffins/3 textbook/0", "muffins/3 word_problem/0", "muffins/3 other_language/0", "discount/5 textbook/0"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("rows %q, want %q", got, want)
	}
	var reasons []string
	for _, r := range out.Rejects {
		reasons = append(reasons, fmt.Sprintf("%d %s", r.Row, r.Reason))
	}
	wantRejects := []string{"0 mentions_code", "1 missing_given", "1 leaks_answer", "1 mentions_code"}
	if strings.Join(reasons, "; ") != strings.Join(wantRejects, "; ") {
		t.Errorf("rejects %q, want %q\n%+v", reasons, wantRejects, out.Rejects)
	}
	for _, r := range out.Rejects {
		if r.Reason == backtranslate.ReasonMentionsCode && r.Row == 0 && !strings.Contains(r.Detail, "style word_problem sample 1") {
			t.Errorf("detail does not name style and sample: %s", r.Detail)
		}
	}
	if out.Counters["style_word_problem_rows"] != 1 || out.Counters["rejected_missing_given"] != 1 {
		t.Errorf("counters %v", out.Counters)
	}
	// every prompt carries its style's instruction and the program
	bodies := srv.Bodies()
	if len(bodies) != 8 {
		t.Errorf("%d requests, want 8 (2 rows × (1 + 2 + 1))", len(bodies))
	}
	for _, b := range bodies {
		msgs, _ := json.Marshal(b["messages"])
		if !strings.Contains(string(msgs), "Style: ") || !strings.Contains(string(msgs), "Input: {") {
			t.Errorf("prompt without style or input: %s", msgs)
		}
	}
}

func TestBackTranslateChecksOff(t *testing.T) {
	srv, err := llmtest.Start(llmtest.Config{Rules: rules}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mem := checked(t)
	models := fmt.Sprintf("m:\n  base_url: %s\n  model: test-model\n  api: chat\n  retries: 0\n", srv.URL())
	p := planStep(t, models, stepConfig+"checks: {givens: false, no_code: false, no_answer: false}\n")
	if p.diags.HasErrors() {
		t.Fatal(p.diags.Error())
	}
	rc := optest.NewRunContext(t, mem)
	rc.Models = p.models
	rec := optest.Record(t, mem, inSchema, inRows)
	defer rec.Release()
	out, err := optest.RunErr(p.step, mem, rc, t, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rows) != 8 || len(out.Rejects) != 0 {
		t.Errorf("with checks off: %d rows, rejects %v", len(out.Rows), out.Rejects)
	}
}

func TestBackTranslatePlanErrors(t *testing.T) {
	chat := "m:\n  base_url: http://127.0.0.1:1/v1\n  model: x\n  api: chat\n"
	cases := []struct{ models, cfg, want string }{
		{chat, "model: m\nstyles: {poem: {}}\n", `style "poem" is not built in`},
		{chat, "model: m\nstyles: {other_language: {}}\n", "needs language:"},
		{chat, "model: m\ncode: program\nstyles: {textbook: {}}\n", `no column "program"`},
		{chat, "model: m\nstyles: {textbook: {prompt: '{{.nope}}'}}\n", "nope"},
		{chat, "model: m\nstyles: {textbook: {scales: [cm]}}\n", `scale "cm"`},
		{"m:\n  base_url: http://127.0.0.1:1/v1\n  model: x\n  api: completions\n", "model: m\nstyles: {textbook: {}}\n", "api: completions"},
	}
	for _, tc := range cases {
		p := planStep(t, tc.models, tc.cfg)
		if !p.diags.HasErrors() || !strings.Contains(p.diags.Error(), tc.want) {
			t.Errorf("%q: %q, want %q", tc.cfg, p.diags.Error(), tc.want)
		}
	}
	// a bad style prompt is reported at that style's prompt
	p := planStep(t, chat, "model: m\nstyles: {textbook: {prompt: '{{.nope}}'}}\n")
	if !strings.Contains(p.diags.Error(), "recipe.yaml:") {
		t.Errorf("no position: %s", p.diags.Error())
	}
}

// TestBackTranslateDefers: requests that fail on transient errors (5xx after
// the retries) give no verdict: the rows are deferred, as in generate, with
// no output and no rejects.
func TestBackTranslateDefers(t *testing.T) {
	srv, err := llmtest.Start(llmtest.Config{Rules: rules, Fail5xx: 1}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mem := checked(t)
	models := fmt.Sprintf("m:\n  base_url: %s\n  model: test-model\n  api: chat\n  retries: 0\n", srv.URL())
	p := planStep(t, models, stepConfig)
	if p.diags.HasErrors() {
		t.Fatal(p.diags.Error())
	}
	rc := optest.NewRunContext(t, mem)
	rc.Models = p.models
	rec := optest.Record(t, mem, inSchema, inRows)
	defer rec.Release()
	out, err := optest.RunErr(p.step, mem, rc, t, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rows) != 0 || len(out.Rejects) != 0 {
		t.Errorf("rows %v rejects %v, want none", out.Rows, out.Rejects)
	}
	var rows []string
	for _, d := range out.Deferred {
		rows = append(rows, fmt.Sprint(d.Row))
		if !strings.HasPrefix(d.Detail, "style ") {
			t.Errorf("deferral detail does not name the style: %+v", d)
		}
	}
	if strings.Join(rows, ",") != "0,1" {
		t.Errorf("deferred rows %v, want 0,1", rows)
	}
}
