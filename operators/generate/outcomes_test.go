package generate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// Permanent outcomes stay rejects, each with its reason; transient ones
// (5xx after the retries) are deferred, never rejected.
func TestGenerateOutcomes(t *testing.T) {
	srv := startLLM(t, llmtest.Config{Rules: []llmtest.Rule{
		{Match: `filtered`, Reply: "I can't help with that", FinishReason: "content_filter"},
		{Match: `aborted`, Reply: "partial", FinishReason: "abort"},
		{Match: `too long`, Reply: "This model's maximum context length is 4096 tokens", Status: 400},
		{Match: `overloaded`, Reply: "server overloaded", Status: 503},
		{Match: ``, Reply: "fine"},
	}})
	cases := []struct {
		question, reject, deferral, detail string
	}{
		{question: "ok"},
		{question: "filtered", reject: "content_filter", detail: "finish_reason content_filter"},
		{question: "aborted", reject: "aborted", detail: "finish_reason abort"},
		{question: "too long", reject: "llm_error", detail: "HTTP 400: This model's maximum context length"},
		{question: "overloaded", deferral: "llm_unavailable", detail: "after 2 attempt(s): " + srv.URL() + ": HTTP 503: server overloaded"},
	}
	for _, tc := range cases {
		t.Run(tc.question, func(t *testing.T) {
			mem := checkedMem(t)
			p := mustPlan(t, model(srv.URL(), "completions", "retries: 1", "backoff: 1ms"), "model: m\nprompt: '{{.question}}'\n", inSchema)
			rec := optest.Record(t, mem, inSchema, `{"id": 1, "question": "`+tc.question+`"}`)
			defer rec.Release()
			out := run(t, p, p.runCtx(t, mem), mem, rec)
			switch {
			case tc.reject != "":
				if len(out.Rows) != 0 || len(out.Deferred) != 0 || len(out.Rejects) != 1 || out.Rejects[0].Reason != tc.reject || !strings.Contains(out.Rejects[0].Detail, tc.detail) {
					t.Errorf("rows %v rejects %+v deferred %+v", out.Rows, out.Rejects, out.Deferred)
				}
			case tc.deferral != "":
				if len(out.Rows) != 0 || len(out.Rejects) != 0 || len(out.Deferred) != 1 || out.Deferred[0].Reason != tc.deferral || out.Deferred[0].Row != 0 || !strings.Contains(out.Deferred[0].Detail, tc.detail) {
					t.Errorf("rows %v rejects %+v deferred %+v", out.Rows, out.Rejects, out.Deferred)
				}
			default:
				if len(out.Rows) != 1 || len(out.Rejects) != 0 || len(out.Deferred) != 0 {
					t.Errorf("rows %v rejects %+v deferred %+v", out.Rows, out.Rejects, out.Deferred)
				}
			}
		})
	}
}

// The error budget: once 20 requests finished, more transient failures in
// the window than max_failed allows stop the step with an error naming the
// model, the endpoint, the error and the rows waiting.
func TestGenerateErrorBudget(t *testing.T) {
	srv := startLLM(t, llmtest.Config{Rules: []llmtest.Rule{
		{Match: `bad`, Reply: "upstream crashed", Status: 500},
		{Match: ``, Reply: "fine"},
	}})
	var rows []string
	for i := 0; i < 40; i++ {
		q := "good"
		if i%4 == 3 {
			q = "bad" // 25% fail
		}
		rows = append(rows, fmt.Sprintf(`{"id": %d, "question": "%s %d"}`, i, q, i))
	}
	for _, tc := range []struct {
		maxFailed string
		fails     bool
	}{{"", true}, {"max_failed: 10%", true}, {"max_failed: 30%", false}, {"max_failed: 0.3", false}, {"max_failed: 20", false}, {"max_failed: 5", true}} {
		t.Run(tc.maxFailed, func(t *testing.T) {
			mem := checkedMem(t)
			p := mustPlan(t, model(srv.URL(), "completions", "retries: 0", "concurrency: 1"), "model: m\nprompt: '{{.question}}'\n"+tc.maxFailed+"\n", inSchema)
			rec := optest.Record(t, mem, inSchema, strings.Join(rows, "\n"))
			defer rec.Release()
			out, err := optest.RunErr(p.step, mem, p.runCtx(t, mem), t, rec)
			if !tc.fails {
				if err != nil || len(out.Deferred) != 10 {
					t.Fatalf("err %v, %d deferred", err, len(out.Deferred))
				}
				return
			}
			if err == nil {
				t.Fatal("no error past the budget")
			}
			for _, want := range []string{"model m: ", "of the last 2", "requests failed on transient errors", srv.URL() + ": HTTP 500: upstream crashed", "rows of this step are waiting"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
		})
	}
	// a bad value is a validation error
	d := planGenerate(t, model(srv.URL(), "completions"), "model: m\nprompt: x\nmax_failed: lots\n", inSchema).diags
	if !d.HasErrors() || !strings.Contains(d.Error(), "max_failed: want a count (10) or a fraction (0.05 or 5%)") {
		t.Errorf("diags: %v", d.Error())
	}
}
