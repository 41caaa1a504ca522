package core_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
)

// Values pass through map and filter exactly: integers beyond 2^53 and
// beyond int64, dict key order, -0.0, floats that look like floats; integer
// overflow and non-finite floats reject the row with the reason.
func TestMapExactValues(t *testing.T) {
	sc := optest.Schema("i", "int", "f", "float", "j", "json")
	cases := []struct {
		name, row, expr string
		want            string // the output column as JSON, or "" when rejected
		wantType        string
		reject          string // substring of the reject detail
	}{
		{"big integer in json", `{"j": 10000000000000000000000001}`, "j", `10000000000000000000000001`, "json", ""},
		{"2^53+1 in json", `{"j": 9007199254740993}`, "j", `9007199254740993`, "json", ""},
		{"dict key order", `{"j": {"b": 1, "a": {"z": 2, "y": [1.0, -0.0]}}}`, "j", `{"b":1,"a":{"z":2,"y":[1.0,-0.0]}}`, "json", ""},
		{"negative zero float", `{"f": -0.0}`, "f", `-0.0`, "float", ""},
		{"integral float stays float", `{"f": 1.0}`, "f", `1.0`, "float", ""},
		{"1e20 is a float", `{"f": 1e20}`, "f", `1e+20`, "float", ""},
		{"small float", `{"f": 0.00001}`, "f", `1e-05`, "float", ""},
		{"subnormal", `{"f": 5e-324}`, "f", `5e-324`, "float", ""},
		{"int column max", `{"i": 9223372036854775807}`, "i", `9223372036854775807`, "int", ""},
		{"i + 1 overflows", `{"i": 9223372036854775807}`, "i + 1", "", "int", "integer overflow"},
		{"i - 1 overflows", `{"i": -9223372036854775808}`, "i - 1", "", "int", "integer overflow"},
		{"i * 2 overflows", `{"i": 4611686018427387904}`, "i * 2", "", "int", "integer overflow"},
		{"-i overflows", `{"i": -9223372036854775808}`, "-i", "", "int", "integer overflow"},
		{"i * -1 fits", `{"i": 9223372036854775807}`, "i * -1", `-9223372036854775807`, "int", ""},
		{"int(1e20) overflows", `{"f": 1e20}`, "int(f)", "", "int", "integer overflow"},
		{"int of a float", `{"f": -2.5}`, "int(f)", `-2`, "int", ""},
		{"json int + 1 overflows", `{"j": 9223372036854775807}`, "j + 1", "", "json", "integer overflow"},
		{"big + 1 is exact", `{"j": 10000000000000000000000000}`, "j + 1", `10000000000000000000000001`, "json", ""},
		{"big - big fits int", `{"j": 10000000000000000000000001}`, "j - 10000000000000000 * 1000000000", "", "json", "integer overflow"},
		{"big * 3", `{"j": 10000000000000000000000001}`, "j * 3", `30000000000000000000000003`, "json", ""},
		{"1.0/0 is rejected", `{"f": 1.0}`, "f / 0", "", "float", "non-finite float +Inf"},
		{"inf inside json is rejected", `{"f": 0.0}`, "[0, 1 / f]", "", "json", "non-finite float +Inf"},
		{"nan is rejected", `{"f": 0.0}`, "f / f", "", "float", "non-finite float NaN"},
		{"string ints stay exact", `{"j": "12345678901234567890123"}`, "int(j)", "", "int", "integer overflow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rec := optest.Record(t, mem, sc, c.row)
			defer rec.Release()
			p, out := optest.Plan(t, "map", "columns:\n  out: '"+c.expr+"'\n", sc)
			f := out.Field(out.FieldIndices("out")[0])
			if got := op.TypeName(f); got != c.wantType {
				t.Errorf("type of %s = %s, want %s", c.expr, got, c.wantType)
			}
			res := optest.Run(t, p, mem, nil, rec)
			if c.want == "" || (c.reject != "" && len(res.Rejects) > 0) {
				if len(res.Rows) != 0 || len(res.Rejects) != 1 {
					t.Fatalf("rows=%v rejects=%+v, want one reject", res.Rows, res.Rejects)
				}
				r := res.Rejects[0]
				if r.Reason != "map failed" || !strings.Contains(r.Detail, c.reject) {
					t.Fatalf("reject = %+v, want map failed with %q", r, c.reject)
				}
				return
			}
			if len(res.Rows) != 1 {
				t.Fatalf("rows=%v rejects=%+v", res.Rows, res.Rejects)
			}
			if !strings.HasSuffix(res.Rows[0], `"out":`+c.want+`}`) {
				t.Fatalf("row = %s, want out = %s", res.Rows[0], c.want)
			}
		})
	}
}

func TestFilterExactComparison(t *testing.T) {
	sc := optest.Schema("v", "json", "i", "int")
	cases := []struct {
		row, where string
		keep       bool
	}{
		{`{"v": 9007199254740993}`, "v == 9007199254740992", false},
		{`{"v": 9007199254740992}`, "v == 9007199254740992", true},
		{`{"i": 9007199254740993}`, "i == 9007199254740992", false},
		{`{"i": 9007199254740993}`, "i > 9007199254740992", true},
		{`{"v": 10000000000000000000000001}`, "v == 10000000000000000000000000", false},
		{`{"v": 1.0}`, "v == 1", true},
		{`{"v": -0.0}`, "v == 0", true},
		{`{"v": 10000000000000000000000001}`, `string(v) == "10000000000000000000000001"`, true},
		{`{"v": 10000000000000000000000001}`, `v == v + 0`, true},
	}
	for _, c := range cases {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rec := optest.Record(t, mem, sc, c.row)
		p, _, diags := optest.PlanDiags(t, "filter", "where: '"+c.where+"'", sc)
		if diags.HasErrors() {
			rec.Release()
			if !c.keep {
				continue // a literal beyond int64 is refused at validation: no silent match
			}
			t.Fatalf("%s: %v", c.where, diags)
		}
		res := optest.Run(t, p, mem, nil, rec)
		if got := len(res.Rows) == 1; got != c.keep {
			t.Errorf("%s on %s: kept=%v, want %v (rejects %+v)", c.where, c.row, got, c.keep, res.Rejects)
		}
		rec.Release()
		mem.AssertSize(t, 0)
	}
}
