package exec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
)

func cot(lines ...string) string {
	return "Reasoning first.\n```python\n" + strings.Join(lines, "\n") + "\n```\nDone."
}

func rowsJSONL(t *testing.T, rows ...map[string]any) string {
	var b strings.Builder
	for _, r := range rows {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

var (
	okCode     = cot(`input = {"a": 2, "b": 3}`, `a = input["a"]`, `b = input["b"]`, `s = a + b`, `p = a * b`, `print("sum", s)`, `output = {"sum": s, "product": p}`)
	shortCode  = cot(`print(1)`)
	excCode    = cot(`input = {"a": 2}`, `a = input["a"]`, `b = a - 2`, `c = a / b`, `d = c + 1`, `output = d`)
	unusedCode = cot(`input = {"a": 2, "b": 3}`, `a = input["a"]`, `x = a + input["b"]`, `y = x * 2`, `z = y - 1`, `output = z`)
	boundCode  = cot(`n = input["n"]`, `total = 0`, `for i in range(n + 1):`, `    total += i`, `check = n * (n + 1) // 2`, `assert total == check`, `output = total`)
)

func TestOperator(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := optest.Schema("id", "int", "cot", "string")
	rec := optest.Record(t, mem, in, rowsJSONL(t,
		map[string]any{"id": 1, "cot": okCode},
		map[string]any{"id": 2, "cot": shortCode},
		map[string]any{"id": 3, "cot": excCode},
		map[string]any{"id": 4, "cot": unusedCode},
		map[string]any{"id": 5, "cot": nil},
	))
	defer rec.Release()

	p, out := optest.Plan(t, "exec", "code: cot\nprocesses: 1\ntimeout: 3s\n", in)
	var names []string
	for _, f := range out.Fields() {
		names = append(names, f.Name+":"+op.TypeName(f))
	}
	if got := strings.Join(names, ","); got != "id:int,cot:string,status:string,reason:string,input:json,output:json,stdout:string,traceback:string" {
		t.Fatalf("schema %s", got)
	}
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 1 {
		t.Fatalf("rows = %v", res.Rows)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(res.Rows[0]), &row); err != nil {
		t.Fatal(err)
	}
	if row["status"] != "ok" || row["stdout"] != "sum 5\n" || row["traceback"] != nil {
		t.Errorf("row = %v", res.Rows[0])
	}
	if o, _ := json.Marshal(row["output"]); string(o) != `{"product":6,"sum":5}` {
		t.Errorf("output = %s", o)
	}
	if o, _ := json.Marshal(row["input"]); string(o) != `{"a":2,"b":3}` {
		t.Errorf("input = %s", o)
	}
	want := map[int]string{1: StatusTooShort, 2: "exception", 3: StatusUnusedInput, 4: StatusTooShort}
	if len(res.Rejects) != len(want) {
		t.Fatalf("rejects = %+v", res.Rejects)
	}
	for _, r := range res.Rejects {
		if want[r.Row] != r.Reason {
			t.Errorf("reject %+v, want reason %s", r, want[r.Row])
		}
		if r.Row == 2 && r.Detail != "ZeroDivisionError: division by zero" {
			t.Errorf("exception detail %q", r.Detail)
		}
	}
	if res.Counters["status_ok"] != 1 || res.Counters["status_too_short"] != 2 {
		t.Errorf("counters %v", res.Counters)
	}
}

func TestOperatorKeepFailedAndInputFrom(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := optest.Schema("code", "string", "args", "json")
	rec := optest.Record(t, mem, in, rowsJSONL(t,
		map[string]any{"code": boundCode, "args": map[string]any{"n": 10}},
		map[string]any{"code": excCode, "args": nil},
	))
	defer rec.Release()
	p, _ := optest.Plan(t, "exec", "input_from: args\nkeep_failed: true\nprocesses: 1\n", in)
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 2 || len(res.Rejects) != 0 {
		t.Fatalf("rows %v rejects %v", res.Rows, res.Rejects)
	}
	if !strings.Contains(res.Rows[0], `"status":"ok"`) || !strings.Contains(res.Rows[0], `"output":55`) || !strings.Contains(res.Rows[0], `"input":{"n":10}`) {
		t.Errorf("row 0 = %s", res.Rows[0])
	}
	if !strings.Contains(res.Rows[1], `"status":"exception"`) || !strings.Contains(res.Rows[1], `ZeroDivisionError`) {
		t.Errorf("row 1 = %s", res.Rows[1])
	}
}

func TestOperatorInputFromStringColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := optest.Schema("code", "string", "word", "string")
	rec := optest.Record(t, mem, in, rowsJSONL(t,
		map[string]any{"code": "output = input.upper()", "word": "caco"},
		map[string]any{"code": "output = input", "word": "{not json"},
	))
	defer rec.Release()
	p, _ := optest.Plan(t, "exec", "input_from: word\nrules: none\nprocesses: 1\n", in)
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 2 || !strings.Contains(res.Rows[0], `"output":"CACO"`) || !strings.Contains(res.Rows[1], `"output":"{not json"`) {
		t.Fatalf("rows %v rejects %v", res.Rows, res.Rejects)
	}
}

func TestOperatorRulesNone(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := optest.Schema("code", "string")
	rec := optest.Record(t, mem, in, rowsJSONL(t,
		map[string]any{"code": "print(6 * 7)"},
		map[string]any{"code": unusedCode},
	))
	defer rec.Release()
	p, _ := optest.Plan(t, "exec", "rules: none\nprocesses: 1\n", in)
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 2 || !strings.Contains(res.Rows[0], `"output":"42"`) {
		t.Fatalf("rows %v rejects %v", res.Rows, res.Rejects)
	}
	// An explicitly set check applies under rules: none.
	p, _ = optest.Plan(t, "exec", "rules: none\ncheck_unused_input: true\nprocesses: 1\n", in)
	res = optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 1 || len(res.Rejects) != 1 || res.Rejects[0].Reason != StatusUnusedInput {
		t.Fatalf("rows %v rejects %v", res.Rows, res.Rejects)
	}
}

func TestOperatorPlanErrors(t *testing.T) {
	in := optest.Schema("id", "int", "text", "string")
	cases := []struct{ cfg, want string }{
		{"code: missing", `no column "missing"`},
		{"code: id", `want a string column`},
		{"input_from: nope", `no column "nope"`},
		{"sandbox: maybe", `maybe`},
	}
	for _, c := range cases {
		_, _, diags := optest.PlanDiags(t, "exec", c.cfg, in)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%q: diags = %v, want %q", c.cfg, diags, c.want)
		}
	}
}

func TestExtractCode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"text\n```python\nx = 1\n```\nmore ```python\ny\n```", "x = 1"},
		{"```\n  a\n  b  \n```", "a\n  b"},
		{"```pythonx = 2```", "x = 2"},
		{"  no fence here \n", "no fence here"},
		{"```python\n\n```", "\n"},           // the group needs one character: a backtracked newline
		{"```python\n\u3000x\x1c\n```", "x"}, // Python's \s includes Unicode spaces and \x1c
		{"```Python\nx\n```", "Python\nx"},
	}
	for _, c := range cases {
		if got := ExtractCode(c.in); got != c.want {
			t.Errorf("ExtractCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCountLines(t *testing.T) {
	code := "import math\n  import os\nfrom x import y\n# c\n   # c2\n\n  \nx = 1\nimportant = 2\n"
	// "important = 2" starts with "import": the reference drops it too.
	if got := CountLines(code); got != 2 {
		t.Fatalf("CountLines = %d, want 2", got)
	}
}

// A program that met a sandbox failure is deferred: neither kept nor
// rejected, so the engine does not commit its batch and the next run
// executes it again; and past 1% of such programs the step fails.
func TestSandboxFailureDeferred(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := optest.Schema("id", "int", "cot", "string")
	rec := optest.Record(t, mem, in, rowsJSONL(t,
		map[string]any{"id": 1, "cot": okCode},
		map[string]any{"id": 2, "cot": okCode},
		map[string]any{"id": 3, "cot": excCode},
	))
	defer rec.Release()
	p, _ := optest.Plan(t, "exec", "code: cot\n", in)
	e := p.(*Exec)
	outs := []Outcome{
		{Status: "ok", Ran: true, Output: json.RawMessage("1"), Input: json.RawMessage(`{"a":1}`)},
		{Status: "sandbox_error", Reason: "reading the sandbox's answer: EOF", Ran: true},
		{Status: "exception", Reason: "ZeroDivisionError", Ran: true},
	}
	res, err := e.build(op.Batch{Record: rec, Alloc: mem}, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Record.Release()
	if res.Record.NumRows() != 1 {
		t.Errorf("kept %d rows, want 1", res.Record.NumRows())
	}
	if len(res.Deferred) != 1 || res.Deferred[0].Row != 1 || res.Deferred[0].Reason != "sandbox_error" {
		t.Errorf("deferred = %+v", res.Deferred)
	}
	if len(res.Rejects) != 1 || res.Rejects[0].Row != 2 || res.Rejects[0].Reason != "exception" {
		t.Errorf("rejects = %+v", res.Rejects)
	}

	// The failure rate: 2 failures in 300 programs pass, the third past 1%
	// stops the step with the reason.
	e2 := &Exec{}
	batch := func(failures, total int) []Outcome {
		o := make([]Outcome, total)
		for i := range o {
			o[i] = Outcome{Status: "ok", Ran: true}
			if i < failures {
				o[i] = Outcome{Status: "sandbox_error", Reason: "worker died", Ran: true}
			}
		}
		return o
	}
	if err := e2.checkFailureRate(batch(2, 300)); err != nil {
		t.Fatalf("2 of 300: %v", err)
	}
	if err := e2.checkFailureRate(batch(0, 100)); err != nil {
		t.Fatalf("2 of 400: %v", err)
	}
	err = e2.checkFailureRate(batch(3, 10))
	if err == nil || !strings.Contains(err.Error(), "5 of 410 programs met a sandbox failure") || !strings.Contains(err.Error(), "worker died") {
		t.Fatalf("5 of 410: %v", err)
	}
}
