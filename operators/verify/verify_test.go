package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/exec/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.MaybeInit()
	os.Exit(m.Run())
}

func newMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func decodeRows(t *testing.T, rows []string) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	return out
}

func reasons(rs []op.Reject) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Reason)
	}
	return out
}

func TestAnswerOp(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema("id", "int", "solution", "string")
	p, out := optest.Plan(t, "answer", "text: solution\nmethod: how\n", in)
	if out.NumFields() != 4 || out.Field(2).Name != "answer" || out.Field(3).Name != "how" {
		t.Fatalf("output schema: %v", out)
	}
	rec := optest.Record(t, mem, in, `
{"id": 1, "solution": "First $\\boxed{3}$, then correcting: $\\boxed{\\dfrac{1}{2}}$."}
{"id": 2, "solution": "Adding gives 5 + 7 = 12.\nThe answer is 12 apples."}
{"id": 3, "solution": "I cannot solve this."}
{"id": 4, "solution": null}
{"id": 5, "solution": "Final Answer: The final answer is $x = 4$. I hope it is correct."}
{"id": 6, "solution": "so the total is 1,500 meters"}
{"id": 7, "solution": "The area is $\\boxed{24\\text{ cm}^2}$."}
`)
	defer rec.Release()
	res := optest.Run(t, p, mem, nil, rec)
	rows := decodeRows(t, res.Rows)
	want := []struct {
		id      float64
		ans, by string
	}{{1, `\frac{1}{2}`, "boxed"}, {2, `12\text{ apples}`, "phrase"}, {5, "x=4", "minerva"}, {6, "1500", "last_number"}, {7, `24\text{ cm^2}`, "boxed"}}
	if len(rows) != len(want) {
		t.Fatalf("rows: %v", res.Rows)
	}
	for i, w := range want {
		if rows[i]["id"] != w.id || rows[i]["answer"] != w.ans || rows[i]["how"] != w.by {
			t.Errorf("row %d = %v, want id %v answer %q by %s", i, rows[i], w.id, w.ans, w.by)
		}
	}
	if len(res.Rejects) != 2 || res.Rejects[0].Row != 2 || res.Rejects[1].Row != 3 ||
		res.Rejects[0].Reason != ReasonNoAnswer || res.Rejects[1].Detail != "text is null" {
		t.Errorf("rejects: %+v", res.Rejects)
	}

	// keep_missing keeps the rows with a null answer
	p, _ = optest.Plan(t, "answer", "text: solution\noutput: final\nkeep_missing: true\n", in)
	res = optest.Run(t, p, mem, nil, rec)
	rows = decodeRows(t, res.Rows)
	if len(rows) != 7 || len(res.Rejects) != 0 || rows[2]["final"] != nil || rows[0]["final"] != `\frac{1}{2}` {
		t.Errorf("keep_missing: %v %+v", res.Rows, res.Rejects)
	}
}

func TestAnswerPlanErrors(t *testing.T) {
	in := optest.Schema("id", "int", "solution", "string")
	for _, c := range []struct{ cfg, want string }{
		{"text: nope\n", `no column "nope"`},
		{"text: id\n", "answer reads text"},
		{"text: solution\nmethod: answer\n", "also the output column"},
	} {
		_, _, diags := optest.PlanDiags(t, "answer", c.cfg, in)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%q: diagnostics %v, want %q", c.cfg, diags, c.want)
		}
	}
}

func TestConsistencyOp(t *testing.T) {
	mem := newMem(t)
	in := arrow.NewSchema([]arrow.Field{
		op.MustField("id", op.TypeInt), op.MustField("answer", op.TypeString), op.JSONField("output"),
	}, nil)
	rec := optest.Record(t, mem, in, `
{"id": 1, "answer": "42", "output": 42}
{"id": 2, "answer": "\\frac{3}{4}", "output": "3/4"}
{"id": 3, "answer": "(1, 2)", "output": [1, 2]}
{"id": 4, "answer": "0.5", "output": 0.5000000001}
{"id": 5, "answer": "10", "output": 0.1}
{"id": 6, "answer": "12345", "output": 12346}
{"id": 7, "answer": null, "output": 3}
{"id": 8, "answer": "2\\oplus1", "output": 3}
{"id": 9, "answer": "50\\%", "output": 0.5}
`)
	defer rec.Release()

	p, out := optest.Plan(t, "consistency", "left: answer\nright: output\n", in)
	if out.Field(3).Name != ColumnMatch || out.Field(4).Name != ColumnMatchReason {
		t.Fatalf("schema %v", out)
	}
	res := optest.Run(t, p, mem, nil, rec)
	rows := decodeRows(t, res.Rows)
	var ids []float64
	for _, r := range rows {
		ids = append(ids, r["id"].(float64))
		if r[ColumnMatch] != true {
			t.Errorf("kept row not matching: %v", r)
		}
	}
	if got := strings.Trim(strings.Join(strings.Fields(strings.Trim(jsonText(ids), "[]")), ""), ","); got != "1,2,3,4,9" {
		t.Errorf("kept ids %v", ids)
	}
	if r := rows[0][ColumnMatchReason]; r != "exact" {
		t.Errorf("42 vs 42: %v", r)
	}
	if r := rows[1][ColumnMatchReason]; r != "exact" {
		t.Errorf("3/4: %v", r)
	}
	if got := strings.Join(reasons(res.Rejects), ","); got != "mismatch,mismatch,unparsable,unparsable" {
		t.Errorf("reject reasons %s (%+v)", got, res.Rejects)
	}
	if res.Rejects[0].Row != 4 || res.Rejects[0].Detail != "answer=10 output=0.1" {
		t.Errorf("first reject %+v", res.Rejects[0])
	}
	if res.Counters["match_exact"] != 3 || res.Counters["match_mismatch"] != 2 {
		t.Errorf("counters %v", res.Counters)
	}

	// lenient reproduces the reference grader; keep_mismatches keeps every row
	p, _ = optest.Plan(t, "consistency", "left: answer\nright: output\npercent: lenient\nkeep_mismatches: true\n", in)
	res = optest.Run(t, p, mem, nil, rec)
	rows = decodeRows(t, res.Rows)
	if len(rows) != 9 || len(res.Rejects) != 0 {
		t.Fatalf("keep_mismatches: %d rows, %d rejects", len(rows), len(res.Rejects))
	}
	for i, want := range []bool{true, true, true, true, true, true, false, false, true} {
		if rows[i][ColumnMatch] != want {
			t.Errorf("lenient row %d: %v", i, rows[i])
		}
	}
	if rows[6][ColumnMatchReason] != "unparsable" {
		t.Errorf("null side: %v", rows[6])
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestConsistencyPlanErrors(t *testing.T) {
	in := optest.Schema("a", "string", "b", "string")
	for _, c := range []struct{ cfg, want string }{
		{"left: a\nright: c\n", `no column "c"`},
		{"left: a\nright: b\npercent: loose\n", "percent"},
		{"left: a\nright: b\nrel_tol: 2\n", "rel_tol"},
	} {
		_, _, diags := optest.PlanDiags(t, "consistency", c.cfg, in)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%q: diagnostics %v, want %q", c.cfg, diags, c.want)
		}
	}
}

const voteRows1 = `
{"pid": "a", "i": 0, "answer": "\\frac{1}{2}"}
{"pid": "b", "i": 0, "answer": "7"}
{"pid": "a", "i": 1, "answer": "0.5"}
{"pid": "a", "i": 2, "answer": "1/3"}
`

const voteRows2 = `
{"pid": "b", "i": 1, "answer": "8"}
{"pid": "a", "i": 3, "answer": "50\\%"}
{"pid": "c", "i": 0, "answer": null}
{"pid": "b", "i": 2, "answer": "9"}
{"pid": "b", "i": 3, "answer": null}
`

func TestVoteOp(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema("pid", "string", "i", "int", "answer", "string")
	r1 := optest.Record(t, mem, in, voteRows1)
	defer r1.Release()
	r2 := optest.Record(t, mem, in, voteRows2)
	defer r2.Release()

	p, out := optest.Plan(t, "vote", "group_by: pid\nanswer: answer\n", in)
	if out.Field(3).Name != ColumnMajority || out.Field(4).Name != ColumnAgreement {
		t.Fatalf("schema %v", out)
	}
	res := optest.Run(t, p, mem, nil, r1, r2)
	rows := decodeRows(t, res.Rows)
	if len(rows) != 9 || len(res.Rejects) != 0 {
		t.Fatalf("rows %v rejects %+v", res.Rows, res.Rejects)
	}
	// stream order is kept
	for k, r := range rows {
		if r["pid"] != []string{"a", "b", "a", "a", "b", "a", "c", "b", "b"}[k] {
			t.Fatalf("order: %v", res.Rows)
		}
	}
	// a: 1/2, 0.5, 50% agree (3 of 4); b: 7, 8, 9 all differ (1 of 4, first wins); c: no answer
	if rows[0][ColumnMajority] != `\frac{1}{2}` || rows[0][ColumnAgreement] != 0.75 {
		t.Errorf("group a: %v", rows[0])
	}
	if rows[1][ColumnMajority] != "7" || rows[1][ColumnAgreement] != 0.25 {
		t.Errorf("group b: %v", rows[1])
	}
	if rows[6][ColumnMajority] != nil || rows[6][ColumnAgreement] != 0.0 {
		t.Errorf("group c: %v", rows[6])
	}

	// min_agreement drops groups b and c; only_majority drops a's 1/3
	p, _ = optest.Plan(t, "vote", "group_by: [pid]\nanswer: answer\nmin_agreement: 0.5\nonly_majority: true\n", in)
	res = optest.Run(t, p, mem, nil, r1, r2)
	rows = decodeRows(t, res.Rows)
	if len(rows) != 3 {
		t.Fatalf("kept %v", res.Rows)
	}
	for _, r := range rows {
		if r["pid"] != "a" || r["answer"] == "1/3" {
			t.Errorf("kept %v", r)
		}
	}
	got := map[string]int{}
	for _, r := range res.Rejects {
		got[r.Reason]++
		if r.Row != -1 || !strings.HasPrefix(r.Data, `{"pid":`) || !strings.Contains(r.Data, `"agreement":`) {
			t.Errorf("reject must carry the row: %+v", r)
		}
	}
	if got[ReasonLowAgreement] != 5 || got[ReasonMinority] != 1 {
		t.Errorf("reject reasons %v", got)
	}
}

// TestVoteResume checks that held batches survive a resume through
// Delta/Restore.
func TestVoteResume(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema("pid", "string", "i", "int", "answer", "string")
	r1 := optest.Record(t, mem, in, voteRows1)
	defer r1.Release()
	r2 := optest.Record(t, mem, in, voteRows2)
	defer r2.Release()
	ctx := context.Background()

	p, _ := optest.Plan(t, "vote", "group_by: pid\nanswer: answer\n", in)
	v := p.(*Vote)
	if err := v.Open(ctx, optest.NewRunContext(t, mem)); err != nil {
		t.Fatal(err)
	}
	res, err := v.Process(ctx, op.Batch{Seq: 0, Record: r1, Alloc: mem})
	if err != nil || res.Record != nil {
		t.Fatalf("process: %v %v", res, err)
	}
	d1, err := v.Delta()
	if err != nil || len(d1) == 0 {
		t.Fatalf("delta: %v", err)
	}
	v.Close() // the run dies here

	p2, _ := optest.Plan(t, "vote", "group_by: pid\nanswer: answer\n", in)
	v2 := p2.(*Vote)
	if err := v2.Open(ctx, optest.NewRunContext(t, mem)); err != nil {
		t.Fatal(err)
	}
	if err := v2.Restore([][]byte{d1}); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Process(ctx, op.Batch{Seq: 1, Record: r2, Alloc: mem}); err != nil {
		t.Fatal(err)
	}
	fin, err := v2.Finish(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	rows := optest.Rows(fin.Record)
	fin.Record.Release()
	v2.Close()

	p3, _ := optest.Plan(t, "vote", "group_by: pid\nanswer: answer\n", in)
	whole := optest.Run(t, p3, mem, nil, r1, r2)
	if strings.Join(rows, "\n") != strings.Join(whole.Rows, "\n") {
		t.Errorf("resumed:\n%s\nwhole:\n%s", strings.Join(rows, "\n"), strings.Join(whole.Rows, "\n"))
	}
}

func TestVoteJSONAnswers(t *testing.T) {
	mem := newMem(t)
	in := arrow.NewSchema([]arrow.Field{op.MustField("pid", op.TypeInt), op.JSONField("out")}, nil)
	rec := optest.Record(t, mem, in, `
{"pid": 1, "out": [1, 2]}
{"pid": 1, "out": "(1, 2)"}
{"pid": 1, "out": [2, 1]}
`)
	defer rec.Release()
	p, _ := optest.Plan(t, "vote", "group_by: pid\nanswer: out\n", in)
	res := optest.Run(t, p, mem, nil, rec)
	rows := decodeRows(t, res.Rows)
	if len(rows) != 3 {
		t.Fatalf("rows %v", res.Rows)
	}
	maj, _ := json.Marshal(rows[0][ColumnMajority])
	if string(maj) != "[1,2]" || rows[0][ColumnAgreement].(float64) < 0.66 || rows[0][ColumnAgreement].(float64) > 0.67 {
		t.Errorf("json vote: %v", rows[0])
	}
}

// TestConsistencySymbolic runs the sympy fallback in the exec sandbox.
func TestConsistencySymbolic(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema("a", "string", "b", "string")
	rec := optest.Record(t, mem, in, `
{"a": "2^{100000}", "b": "4^{50000}"}
{"a": "2^{100000}", "b": "2^{100001}"}
{"a": "\\frac{\\sqrt{3}}{2}", "b": "\\sin(\\pi/3)"}
{"a": "2x+2", "b": "2(x+1)"}
{"a": "12345", "b": "12346"}
{"a": "2\\oplus 1", "b": "3"}
`)
	defer rec.Release()
	for _, mode := range []string{SandboxIsolated, SandboxNone} {
		t.Run(mode, func(t *testing.T) {
			p, _ := optest.Plan(t, "consistency", "left: a\nright: b\nsymbolic: true\nkeep_mismatches: true\ntimeout: 20s\nsandbox: "+mode+"\n", in)
			res, err := optest.RunErr(p, mem, nil, t, rec)
			if err != nil {
				if mode == SandboxIsolated && strings.Contains(err.Error(), "sandbox") {
					t.Skipf("isolated sandbox unavailable here: %v", err)
				}
				t.Fatal(err)
			}
			rows := decodeRows(t, res.Rows)
			want := []string{"symbolic", "mismatch", "numeric", "numeric", "mismatch", "unparsable"}
			for i, w := range want {
				if rows[i][ColumnMatchReason] != w || rows[i][ColumnMatch] != (w == "symbolic" || w == "numeric") {
					t.Errorf("row %d %v: want %s", i, rows[i], w)
				}
			}
		})
	}

	// a comparison that times out is unparsable, not a match
	p, _ := optest.Plan(t, "consistency", "left: a\nright: b\nsymbolic: true\nkeep_mismatches: true\ntimeout: 1ms\nsandbox: none\n", in)
	res := optest.Run(t, p, mem, nil, rec)
	rows := decodeRows(t, res.Rows)
	if rows[0][ColumnMatchReason] != "unparsable" || rows[0][ColumnMatch] != false {
		t.Errorf("timeout: %v", rows[0])
	}
}

// boxed: all writes every box as a candidate list (a json column) that
// consistency counts as equal when any candidate matches, with the reason of
// the matching candidate in the rejects ledger otherwise.
func TestAnswerBoxedAllThenConsistency(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema("id", "int", "solution", "string", "ref", "string")
	rec := optest.Record(t, mem, in, `
{"id": 1, "solution": "So $x = \\boxed{2}$ or $x = \\boxed{-3}$.", "ref": "-3"}
{"id": 2, "solution": "So $x = \\boxed{2}$ or $x = \\boxed{-3}$.", "ref": "3"}
{"id": 3, "solution": "No boxes; the answer is 5 cm.", "ref": "5 km"}
{"id": 4, "solution": "No boxes; the answer is 5 cm.", "ref": "0.05 m"}
`)
	defer rec.Release()
	p, out := optest.Plan(t, "answer", "text: solution\nboxed: all\n", in)
	if !op.IsJSON(out.Field(3)) {
		t.Fatalf("boxed: all must write a json column: %v", out)
	}
	res := optest.Run(t, p, mem, nil, rec)
	rows := decodeRows(t, res.Rows)
	if len(rows) != 4 {
		t.Fatalf("rows %v", res.Rows)
	}
	if a, _ := json.Marshal(rows[0]["answer"]); string(a) != `{"any_of":["2","-3"]}` {
		t.Errorf("boxed all answer %s", a)
	}
	if rows[2]["answer"] != `5\text{ cm}` {
		t.Errorf("fallback answer %v", rows[2]["answer"])
	}
	ansRec := optest.Record(t, mem, out, strings.Join(res.Rows, "\n"))
	defer ansRec.Release()
	p2, _ := optest.Plan(t, "consistency", "left: answer\nright: ref\n", out)
	res2 := optest.Run(t, p2, mem, nil, ansRec)
	rows2 := decodeRows(t, res2.Rows)
	var kept []float64
	for _, r := range rows2 {
		kept = append(kept, r["id"].(float64))
	}
	if len(kept) != 2 || kept[0] != 1 || kept[1] != 4 || rows2[1][ColumnMatchReason] != "unit" {
		t.Errorf("kept %v (%v)", kept, res2.Rows)
	}
	if got := strings.Join(reasons(res2.Rejects), ","); got != "mismatch,mismatch" {
		t.Errorf("rejects %s %+v", got, res2.Rejects)
	}

	_, _, diags := optest.PlanDiags(t, "answer", "text: solution\nboxed: first\n", in)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "boxed") {
		t.Errorf("bad boxed mode: %v", diags)
	}
}

// The rejects ledger carries the rule that decided each dropped row, and
// match_reason the rule that kept each row.
func TestConsistencyReasonsInLedger(t *testing.T) {
	mem := newMem(t)
	in := optest.Schema("a", "string", "b", "string")
	rec := optest.Record(t, mem, in, `
{"a": "5 kg", "b": "5 m"}
{"a": "980 cm/s^2", "b": "9.8 m/s^2"}
{"a": "4, 10, -2", "b": "10, 4, -2"}
{"a": "\\{4, 10, -2\\}", "b": "10, 4, -2"}
{"a": "x \\in [-2,7]", "b": "-2 \\le x \\le 7"}
{"a": "y = 2x+1", "b": "y-2x-1=0"}
{"a": "\\text{Yes}", "b": "yes"}
{"a": "(B)", "b": "B"}
{"a": "32, 349", "b": "32349"}
`)
	defer rec.Release()
	p, _ := optest.Plan(t, "consistency", "left: a\nright: b\n", in)
	res := optest.Run(t, p, mem, nil, rec)
	var kept []string
	for _, r := range decodeRows(t, res.Rows) {
		kept = append(kept, r[ColumnMatchReason].(string))
	}
	if got := strings.Join(kept, ","); got != "unit,set,interval,equation,text,choice" {
		t.Errorf("match reasons of kept rows: %s", got)
	}
	var ledger []string
	for _, r := range res.Rejects {
		ledger = append(ledger, fmt.Sprintf("%d:%s", r.Row, r.Reason))
	}
	if got := strings.Join(ledger, ","); got != "0:unit_mismatch,2:mismatch,8:mismatch" {
		t.Errorf("ledger: %s (%+v)", got, res.Rejects)
	}
	// unordered: true for find-all-solutions lists
	p, _ = optest.Plan(t, "consistency", "left: a\nright: b\nunordered: true\n", in)
	res = optest.Run(t, p, mem, nil, rec)
	for _, r := range res.Rejects {
		if r.Row == 2 {
			t.Errorf("unordered: true still rejects row 2: %+v", r)
		}
	}
}
