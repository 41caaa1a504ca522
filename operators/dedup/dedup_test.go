package dedup_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/dedup"
	"github.com/caco-dev/caco/operators/dedup/internal/gen"
)

// row is one input row.
type row struct {
	ID   string
	Code *string // nil is null
}

func str(s string) *string { return &s }

var codeSchema = optest.Schema("id", "string", "code", "string")

// records cuts rows into records of at most batch rows.
func records(t testing.TB, alloc memory.Allocator, rows []row, batch int) []arrow.Record {
	t.Helper()
	var out []arrow.Record
	for lo := 0; lo < len(rows); lo += batch {
		hi := min(lo+batch, len(rows))
		ib := array.NewStringBuilder(alloc)
		cb := array.NewStringBuilder(alloc)
		for _, r := range rows[lo:hi] {
			ib.Append(r.ID)
			if r.Code == nil {
				cb.AppendNull()
			} else {
				cb.Append(*r.Code)
			}
		}
		ia, ca := ib.NewArray(), cb.NewArray()
		out = append(out, array.NewRecord(codeSchema, []arrow.Array{ia, ca}, int64(hi-lo)))
		ia.Release()
		ca.Release()
		ib.Release()
		cb.Release()
	}
	return out
}

func release(recs []arrow.Record) {
	for _, r := range recs {
		r.Release()
	}
}

// outcome is what a run decided, by row id: the kept ids in order and, for
// each dropped id, the ledger detail.
type outcome struct {
	Kept    []string
	Dropped map[string]string
}

// run plans cfg and drives the operator over rows cut into batches of the
// given size; with split > 0 it checkpoints after `split` batches and
// resumes in a fresh operator restored from the deltas.
func run(t *testing.T, cfg string, rows []row, batch, split int) outcome {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := records(t, mem, rows, batch)
	defer release(recs)
	ctx := context.Background()
	res := outcome{Dropped: map[string]string{}}
	var deltas [][]byte
	drive := func(p op.Planner, from, to int) {
		rc := optest.NewRunContext(t, mem)
		if err := p.(op.Opener).Open(ctx, rc); err != nil {
			t.Fatal(err)
		}
		defer p.(op.Closer).Close()
		if from > 0 {
			if err := p.(op.Checkpointer).Restore(deltas); err != nil {
				t.Fatal(err)
			}
		}
		for seq := from; seq < to; seq++ {
			r, err := p.(op.Processor).Process(ctx, op.Batch{Seq: uint64(seq), Record: recs[seq], Alloc: mem})
			if err != nil {
				t.Fatal(err)
			}
			d, err := p.(op.Checkpointer).Delta()
			if err != nil {
				t.Fatal(err)
			}
			if d != nil {
				deltas = append(deltas, d)
			}
			ids := recs[seq].Column(0).(*array.String)
			for _, rj := range r.Rejects {
				if rj.Reason != dedup.Reason {
					t.Fatalf("reject reason %q", rj.Reason)
				}
				res.Dropped[ids.Value(rj.Row)] = rj.Detail
			}
			out := r.Record.Column(0).(*array.String)
			for i := 0; i < out.Len(); i++ {
				res.Kept = append(res.Kept, out.Value(i))
			}
			if int(r.Record.NumRows())+len(r.Rejects) != int(recs[seq].NumRows()) {
				t.Fatalf("batch %d: %d rows in, %d out + %d rejects", seq, recs[seq].NumRows(), r.Record.NumRows(), len(r.Rejects))
			}
			r.Record.Release()
		}
	}
	p, _ := optest.Plan(t, "dedup", cfg, codeSchema)
	if split <= 0 || split >= len(recs) {
		drive(p, 0, len(recs))
		return res
	}
	drive(p, 0, split)
	p2, _ := optest.Plan(t, "dedup", cfg, codeSchema)
	drive(p2, split, len(recs))
	return res
}

func TestExactNormalize(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		a, b    string
		wantDup bool
	}{
		{"none differs on space", "normalize: none", "x = 1", "x  = 1", false},
		{"none same", "normalize: none", "x = 1", "x = 1", true},
		{"whitespace", "normalize: whitespace", "a  b\n\tc ", "a b c", true},
		{"whitespace keeps case", "normalize: whitespace", "A b", "a b", false},
		{"text case and punctuation", "normalize: text", "Hello, World!", "hello world", true},
		{"text keeps numbers", "normalize: text", "costs 3 dollars", "costs 4 dollars", false},
		{"text replace numbers", "normalize: text\nreplace_numbers: true", "costs 3.5 dollars", "costs 4 dollars", true},
		{"code comments and blank lines", "normalize: code", "x = 1  # one\n\n\ny = x+2\n", "# header\nx=1\ny = x + 2", true},
		{"code indentation", "normalize: code", "def f():\n    return 1\n", "def f():\n  return 1", true},
		{"code keeps strings", "normalize: code", "print('a  b')", "print('a b')", false},
		{"code hash in string", "normalize: code", "s = '#x'  # c", "s = '#x'", true},
		{"code constants differ", "normalize: code", "x = 10", "x = 11", false},
		{"code replace numbers", "normalize: code\nreplace_numbers: true", "x = 10\ny = 2.5e3", "x = 11\ny = 7", true},
		{"code identifiers kept", "normalize: code", "x = 1", "y = 1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := "key: code\nid: id\nmethod: exact\n" + tc.cfg
			got := run(t, cfg, []row{{"a", str(tc.a)}, {"b", str(tc.b)}}, 10, 0)
			detail, dup := got.Dropped["b"]
			if dup != tc.wantDup {
				t.Fatalf("dup = %v (kept %v), want %v", dup, got.Kept, tc.wantDup)
			}
			if dup && detail != "dup_of=a similarity=1.000" {
				t.Errorf("detail = %q", detail)
			}
		})
	}
}

func TestMinHashVariants(t *testing.T) {
	g := gen.New(3)
	base := g.Program()
	tests := []struct {
		name    string
		cfg     string
		other   string
		wantDup bool
	}{
		{"identical", "", base.Render(), true},
		{"renamed variables", "", g.Rename(base).Render(), true},
		{"changed comments", "", g.Recomment(base).Render(), true},
		{"reordered lines", "", g.Reorder(base).Render(), true},
		{"spacing", "", g.Loosen(base).Render(), true},
		{"all of them", "", g.Loosen(g.Reorder(g.Recomment(g.Rename(base)))).Render(), true},
		{"changed constant", "", g.Reconst(base).Render(), false},
		{"changed constant, numbers replaced", "replace_numbers: true\n", g.Reconst(base).Render(), true},
		{"another program", "", g.Program().Render(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := "key: code\nid: id\nnormalize: code\nshingle: code\n" + tc.cfg
			got := run(t, cfg, []row{{"a", str(base.Render())}, {"b", str(tc.other)}}, 10, 0)
			detail, dup := got.Dropped["b"]
			if dup != tc.wantDup {
				t.Fatalf("dup = %v (%s), want %v", dup, detail, tc.wantDup)
			}
			if dup && !strings.HasPrefix(detail, "dup_of=a similarity=") {
				t.Errorf("detail = %q", detail)
			}
		})
	}
}

// corpus builds rows with near-duplicate groups, constant variants and
// null keys, in an interleaved order.
func corpus(n int) []row {
	g := gen.New(11)
	var rows []row
	var later []row
	for i := 0; i < n; i++ {
		p := g.Program()
		rows = append(rows, row{fmt.Sprintf("p%d", i), str(p.Render())})
		switch i % 4 {
		case 0:
			later = append(later, row{fmt.Sprintf("p%d-rename", i), str(g.Rename(p).Render())})
		case 1:
			later = append(later, row{fmt.Sprintf("p%d-comment", i), str(g.Recomment(p).Render())})
		case 2:
			later = append(later, row{fmt.Sprintf("p%d-const", i), str(g.Reconst(p).Render())})
		case 3:
			later = append(later, row{fmt.Sprintf("p%d-null", i), nil})
		}
		if i%5 == 0 {
			later = append(later, row{fmt.Sprintf("p%d-copy", i), str(g.Loosen(p).Render())})
		}
		if i%3 == 0 {
			rows = append(rows, later...)
			later = later[:0]
		}
	}
	return append(rows, later...)
}

func TestDeterministicAcrossBatchesAndResume(t *testing.T) {
	rows := corpus(120)
	for _, cfg := range []string{
		"key: code\nid: id\nnormalize: code\nshingle: code\n",
		"key: code\nid: id\nmethod: exact\nnormalize: code\n",
		"key: code\nid: id\nnormalize: text\nshingle: word\nngram: 3\nthreshold: 0.7\n",
	} {
		ref := run(t, cfg, rows, len(rows), 0)
		if len(ref.Dropped) == 0 {
			t.Fatalf("%s: nothing dropped", cfg)
		}
		for _, c := range []struct{ batch, split int }{{1, 0}, {7, 0}, {64, 0}, {7, 5}, {1, 100}, {64, 1}} {
			got := run(t, cfg, rows, c.batch, c.split)
			if !reflect.DeepEqual(got, ref) {
				t.Errorf("%sbatch %d split %d: outcome differs from one batch:\nkept %v\nwant %v\ndropped %v\nwant %v", cfg, c.batch, c.split, got.Kept, ref.Kept, got.Dropped, ref.Dropped)
			}
		}
	}
}

func TestSeqRowIDs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, out := optest.Plan(t, "dedup", "key: code\nmethod: exact", codeSchema)
	if !out.Equal(codeSchema) {
		t.Fatalf("output schema %v", out)
	}
	r1 := optest.Record(t, mem, codeSchema, `{"id":"a","code":"x"}
{"id":"b","code":"y"}`)
	defer r1.Release()
	r2 := optest.Record(t, mem, codeSchema, `{"id":"c","code":"z"}
{"id":"d","code":"y"}
{"id":"e","code":null}
{"id":"f","code":"z"}`)
	defer r2.Release()
	o := optest.Run(t, p, mem, nil, r1, r2)
	want := []op.Reject{
		{Row: 1, Reason: "duplicate", Detail: "dup_of=0:1 similarity=1.000"},
		{Row: 3, Reason: "duplicate", Detail: "dup_of=1:0 similarity=1.000"},
	}
	if !reflect.DeepEqual(o.Rejects, want) {
		t.Errorf("rejects %+v, want %+v", o.Rejects, want)
	}
	if len(o.Rows) != 4 || o.Counters["dedup_duplicates"] != 2 || o.Counters["dedup_null_keys"] != 1 {
		t.Errorf("rows %v counters %v", o.Rows, o.Counters)
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string
	}{
		{"missing key column", "key: nope", `no column "nope"`},
		{"key not a string", "key: n", `"n" is int`},
		{"missing id column", "key: code\nid: nope", `no column "nope"`},
		{"bands x rows", "key: code\nbands: 20\nrows: 10", "exceeds num_perm"},
		{"unknown method", "key: code\nmethod: fuzzy", "fuzzy"},
	}
	sc := optest.Schema("id", "string", "code", "string", "n", "int")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, diags := optest.PlanDiags(t, "dedup", tc.cfg, sc)
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
				t.Fatalf("diagnostics %q, want an error containing %q", diags.Error(), tc.want)
			}
		})
	}
}

func TestLSHShape(t *testing.T) {
	tests := []struct {
		cfg        string
		bands, row int
	}{
		{"key: code", 12, 10},
		{"key: code\nfp_weight: 0.5", 9, 13},
		{"key: code\nbands: 16", 16, 8},
		{"key: code\nrows: 5\nnum_perm: 64", 12, 5},
		{"key: code\nbands: 4\nrows: 4", 4, 4},
	}
	for _, tc := range tests {
		p, _ := optest.Plan(t, "dedup", tc.cfg, codeSchema)
		b, r := p.(*dedup.Dedup).LSHShape()
		if b != tc.bands || r != tc.row {
			t.Errorf("%q: bands %d rows %d, want %d %d", tc.cfg, b, r, tc.bands, tc.row)
		}
	}
}

func TestSpec(t *testing.T) {
	s, ok := op.Lookup("dedup")
	if !ok {
		t.Fatal("dedup not registered")
	}
	for _, f := range s.Fields {
		if f.Doc == "" {
			t.Errorf("field %s has no doc", f.Name)
		}
	}
	if _, _, diags := optest.PlanRecipe(t, "caco: 1\nname: x\nsteps:\n"+indent(s.Example), "dedup", codeSchema); diags.HasErrors() {
		t.Errorf("example does not plan: %s", diags.Error())
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

func writeJSONL(t *testing.T, path string, rows []map[string]any) {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAgainst(t *testing.T) {
	g := gen.New(5)
	p1, p2, p3 := g.Program(), g.Program(), g.Program()
	dir := t.TempDir()
	writeJSONL(t, filepath.Join(dir, "old.jsonl"), []map[string]any{
		{"id": "old-1", "code": p1.Render()},
		{"code": p2.Render()},
		{"id": "old-3", "code": nil},
	})
	writeParquet(t, filepath.Join(dir, "old.parquet"), []string{"pq-1"}, []string{g.Recomment(p3).Render()})
	p5 := g.Program()
	writeGzip(t, filepath.Join(dir, "older.jsonl.gz"), `{"code":"x = 1"}`+"\n"+`{"code":`+strconvQuote(p5.Render())+"}\n")
	rows := []row{
		{"n1", str(g.Rename(p1).Render())},
		{"n2", str(p2.Render())},
		{"n3", str(p3.Render())},
		{"n4", str(g.Reconst(p1).Render())},
		{"n5", str(p5.Render())},
	}
	for _, method := range []string{"minhash", "exact"} {
		t.Run(method, func(t *testing.T) {
			cfg := fmt.Sprintf("key: code\nid: id\nnormalize: code\nshingle: code\nmethod: %s\nagainst: [%q, %q, %q]\n",
				method, filepath.Join(dir, "old.jsonl"), filepath.Join(dir, "*.parquet"), filepath.Join(dir, "older.jsonl.gz"))
			got := run(t, cfg, rows, 2, 1)
			wantKept := []string{"n4"}
			want := map[string]string{"n2": "dup_of=old.jsonl:2 similarity=1.000", "n5": "dup_of=older.jsonl.gz:2 similarity=1.000"}
			if method == "minhash" {
				want["n1"] = "dup_of=old-1 similarity=1.000"
				want["n3"] = "dup_of=pq-1 similarity=1.000"
			} else {
				// normalize: code keeps identifiers but drops comments
				want["n3"] = "dup_of=pq-1 similarity=1.000"
				wantKept = []string{"n1", "n4"}
			}
			if !reflect.DeepEqual(got.Kept, wantKept) || !reflect.DeepEqual(got.Dropped, want) {
				t.Errorf("kept %v dropped %v, want %v %v", got.Kept, got.Dropped, wantKept, want)
			}
		})
	}
}

// planContext is a PlanContext with a recipe folder.
type planContext struct {
	dir  string
	errs []string
}

func (p *planContext) Step() string { return "s" }
func (p *planContext) Errorf(field, format string, args ...any) {
	p.errs = append(p.errs, field+": "+fmt.Sprintf(format, args...))
}
func (p *planContext) ErrorAt(field string, _, _ int, format string, args ...any) {
	p.Errorf(field, format, args...)
}
func (p *planContext) Warnf(string, string, ...any)         {}
func (p *planContext) Has(string) bool                      { return false }
func (p *planContext) RecipeDir() string                    { return p.dir }
func (p *planContext) Model(string) (*op.ModelConfig, bool) { return nil, false }
func (p *planContext) ModelNames() []string                 { return nil }

func TestAgainstRelativeAndFingerprint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	writeJSONL(t, path, []map[string]any{{"code": "x"}})
	d := &dedup.Dedup{Key: "code", Method: "exact", Against: op.StringList{"*.jsonl"}}
	pc := &planContext{dir: dir}
	if d.Plan(pc, codeSchema) == nil {
		t.Fatal(pc.errs)
	}
	fp1, err := d.Fingerprint()
	if err != nil || !strings.Contains(fp1, path) {
		t.Fatalf("fingerprint %q, %v", fp1, err)
	}
	writeJSONL(t, path, []map[string]any{{"code": "x"}, {"code": "y"}})
	if fp2, _ := d.Fingerprint(); fp2 == fp1 {
		t.Errorf("fingerprint did not change with the file")
	}
}

func writeGzip(t *testing.T, path, text string) {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestAgainstMissing(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, _ := optest.Plan(t, "dedup", "key: code\nagainst: /nonexistent/x.jsonl", codeSchema)
	err := p.(op.Opener).Open(context.Background(), optest.NewRunContext(t, mem))
	if err == nil || !strings.Contains(err.Error(), "opening against file") {
		t.Fatalf("err = %v", err)
	}
}
