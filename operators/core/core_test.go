package core_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	_ "github.com/caco-dev/caco/operators/core"
)

const rowsJSONL = `{"id": 1, "code": "print(1)", "status": "ok", "score": 0.5, "meta": {"k": [1, 2]}}
{"id": 2, "code": "", "status": "ok", "score": 1.5, "meta": null}
{"id": 3, "code": "x = 1", "status": "exception", "score": 2, "meta": {"k": []}}
{"id": 4, "code": null, "status": "ok", "score": 3, "meta": {}}`

var inSchema = optest.Schema("id", "int", "code", "string", "status", "string", "score", "float", "meta", "json")

func TestFilter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := optest.Record(t, mem, inSchema, rowsJSONL)
	defer rec.Release()
	p, out := optest.Plan(t, "filter", `where: len(code) > 0 && status == "ok"`, inSchema)
	if !out.Equal(inSchema) {
		t.Fatalf("filter changed the schema: %v", out)
	}
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 1 || !strings.HasPrefix(res.Rows[0], `{"id":1,`) {
		t.Fatalf("rows = %v", res.Rows)
	}
	reasons := map[string]int{}
	for _, r := range res.Rejects {
		reasons[r.Reason]++
	}
	// row 2 (empty code) and 3 (exception) are false; row 4 has a null code: len(nil) fails
	if reasons["where is false"] != 2 || reasons["where failed"] != 1 || len(res.Rejects) != 3 {
		t.Fatalf("rejects = %+v", res.Rejects)
	}
}

func TestFilterJSONColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := optest.Record(t, mem, inSchema, rowsJSONL)
	defer rec.Release()
	p, _ := optest.Plan(t, "filter", `where: meta != nil && len(meta.k ?? []) > 1`, inSchema)
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 1 || !strings.Contains(res.Rows[0], `"meta":{"k":[1,2]}`) {
		t.Fatalf("rows = %v", res.Rows)
	}
}

func TestFilterPlanErrors(t *testing.T) {
	cases := []struct{ where, want string }{
		{`stauts == "ok"`, `no column "stauts" in the input of this step (did you mean "status"?)`},
		{`status == 3`, `mismatched types string and int`},
		{`score + 1`, `expected bool`},
		{`len(code) >`, `unexpected token`},
	}
	for _, c := range cases {
		_, _, diags := optest.PlanDiags(t, "filter", "where: "+c.where, inSchema)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("where %q: diags = %v, want %q", c.where, diags, c.want)
		}
	}
}

func TestMap(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := optest.Record(t, mem, inSchema, rowsJSONL)
	defer rec.Release()
	p, out := optest.Plan(t, "map", "columns:\n  n: len(code)\n  double: score * 2\n  tag: '\"x\" + status'\n  id: id + 100\ndrop: [meta]\n", inSchema)
	var names []string
	for _, f := range out.Fields() {
		names = append(names, f.Name+":"+op.TypeName(f))
	}
	if got := strings.Join(names, ","); got != "id:int,code:string,status:string,score:float,n:int,double:float,tag:string" {
		t.Fatalf("schema = %s", got)
	}
	res := optest.Run(t, p, mem, nil, rec)
	if len(res.Rows) != 3 || len(res.Rejects) != 1 || res.Rejects[0].Row != 3 || res.Rejects[0].Reason != "map failed" {
		t.Fatalf("rows=%v rejects=%+v", res.Rows, res.Rejects)
	}
	if res.Rows[0] != `{"id":101,"code":"print(1)","status":"ok","score":0.5,"n":8,"double":1.0,"tag":"xok"}` {
		t.Fatalf("row 0 = %s", res.Rows[0])
	}
}

func TestLimitAcrossBatchesAndRestore(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := optest.Record(t, mem, inSchema, rowsJSONL)
	defer rec.Release()
	p, _ := optest.Plan(t, "limit", "n: 6", inSchema)
	res := optest.Run(t, p, mem, nil, rec, rec, rec)
	if len(res.Rows) != 6 || len(res.Rejects) != 6 {
		t.Fatalf("rows=%d rejects=%d", len(res.Rows), len(res.Rejects))
	}
	// a resumed limit that already passed 4 rows passes 2 more
	p2, _ := optest.Plan(t, "limit", "n: 6", inSchema)
	cp := p2.(op.Checkpointer)
	p1, _ := optest.Plan(t, "limit", "n: 6", inSchema)
	optest.Run(t, p1, mem, nil, rec)
	d, _ := p1.(op.Checkpointer).Delta()
	if err := cp.Restore([][]byte{d}); err != nil {
		t.Fatal(err)
	}
	res = optest.Run(t, p2, mem, nil, rec)
	if len(res.Rows) != 2 {
		t.Fatalf("after restore: %d rows, want 2", len(res.Rows))
	}
}

func TestSampleIsDeterministic(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var lines []string
	for i := 0; i < 1000; i++ {
		lines = append(lines, `{"id": `+itoa(i)+`, "code": "c", "status": "ok", "score": 1, "meta": null}`)
	}
	rec := optest.Record(t, mem, inSchema, strings.Join(lines, "\n"))
	defer rec.Release()
	run := func(cfg string) []string {
		p, _ := optest.Plan(t, "sample", cfg, inSchema)
		return optest.Run(t, p, mem, nil, rec).Rows
	}
	a, b := run("fraction: 0.3\nseed: 1\nkey: id"), run("fraction: 0.3\nseed: 1\nkey: id")
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("same seed gave different samples")
	}
	if len(a) < 240 || len(a) > 360 {
		t.Fatalf("kept %d of 1000 at fraction 0.3", len(a))
	}
	if c := run("fraction: 0.3\nseed: 2\nkey: id"); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Fatal("another seed gave the same sample")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
