package load_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/load"
)

// Each bad or awkward input: the columns learned, the rows read, and the
// rejects with their reason and FILE:LINE detail.
func TestExactInput(t *testing.T) {
	type rj struct{ reason, detail string }
	cases := []struct {
		name, file, text, cfg string
		schema                string
		rows                  []string
		rejects               []rj
	}{
		{name: "big integer makes the column json", file: "a.jsonl",
			text:   "{\"v\": 1}\n{\"v\": 12345678901234567890123}\n",
			schema: "v:json", rows: []string{`{"v":1}`, `{"v":12345678901234567890123}`}},
		{name: "floats with an inexact int make json", file: "a.jsonl",
			text:   "{\"v\": 3.5}\n{\"v\": 9223372036854775807}\n",
			schema: "v:json", rows: []string{`{"v":3.5}`, `{"v":9223372036854775807}`}},
		{name: "floats with exact ints are float", file: "a.jsonl",
			text:   "{\"v\": 3.5}\n{\"v\": 2}\n{\"v\": -0.0}\n{\"v\": 1e20}\n",
			schema: "v:float", rows: []string{`{"v":3.5}`, `{"v":2.0}`, `{"v":-0.0}`, `{"v":1e+20}`}},
		{name: "3.0 after the sample of an int column", file: "a.jsonl", cfg: "infer_rows: 1",
			text:   "{\"v\": 1}\n{\"v\": 3.0}\n{\"v\": 9223372036854775808}\n{\"v\": 9223372036854775807}\n",
			schema: "v:int", rows: []string{`{"v":1}`, `{"v":9223372036854775807}`},
			rejects: []rj{{"bad_type", ":2: column \"v\": want an int, got the float 3.0"},
				{"bad_type", ":3: column \"v\": the integer 9223372036854775808 does not fit in int64"}}},
		{name: "inexact int after the sample of a float column", file: "a.jsonl", cfg: "infer_rows: 1",
			text:   "{\"v\": 0.5}\n{\"v\": 9007199254740993}\n{\"v\": 1e400}\n",
			schema: "v:float", rows: []string{`{"v":0.5}`},
			rejects: []rj{{"bad_type", ":2: column \"v\": the integer 9007199254740993 has no exact float64"}, {"bad_type", ":3: column \"v\": 1e400 is beyond the float64 range"}}},
		{name: "NaN is not JSON", file: "a.jsonl", cfg: "columns: [{name: v, type: float}, {name: j, type: json}]",
			text:   "{\"v\": NaN}\n{\"j\": [1, Infinity]}\n{\"j\": [1, inf]}\n{\"v\": 1}\n",
			schema: "v:float j:json", rows: []string{`{"v":1.0,"j":null}`},
			rejects: []rj{{"bad_json", ":1: column \"v\": NaN is not a JSON number"}, {"bad_json", ":2: malformed JSON"}, {"bad_json", ":3: column \"j\": inf is not a JSON number"}}},
		{name: "lone surrogate is rejected", file: "a.jsonl",
			text:   "{\"s\": \"ok \\ud83d\\ude00\"}\n{\"s\": \"\\ud800\"}\n",
			schema: "s:string", rows: []string{`{"s":"ok 😀"}`},
			rejects: []rj{{"bad_utf8", ":2: escaped lone surrogate \\ud800 has no UTF-8 form"}}},
		{name: "lone surrogate replaced on request", file: "a.jsonl", cfg: "invalid_utf8: replace",
			text:   "{\"s\": \"a\\ud800b\"}\n",
			schema: "s:string", rows: []string{`{"s":"a` + "\ufffd" + `b"}`}},
		{name: "invalid UTF-8 in JSONL", file: "a.jsonl",
			text:   "{\"s\": \"ok\"}\n{\"s\": \"bad \xff\"}\n",
			schema: "s:string", rows: []string{`{"s":"ok"}`},
			rejects: []rj{{"bad_utf8", ":2: invalid UTF-8 at byte 12"}}},
		{name: "invalid UTF-8 replaced on request", file: "a.jsonl", cfg: "invalid_utf8: replace",
			text:   "{\"s\": \"bad \xff\"}\n",
			schema: "s:string", rows: []string{`{"s":"bad ` + "\ufffd" + `"}`}},
		{name: "extra key after the sample is rejected", file: "a.jsonl", cfg: "infer_rows: 1",
			text:   "{\"a\": 1}\n{\"a\": 2, \"late\": true}\n",
			schema: "a:int", rows: []string{`{"a":1}`},
			rejects: []rj{{"extra_key", ":2: key \"late\" is not one of the step's columns (learned from the first 1 rows)"}}},
		{name: "extra keys kept in a json column", file: "a.jsonl", cfg: "infer_rows: 1\nextra_keys: keep",
			text:   "{\"a\": 1}\n{\"a\": 2, \"late\": true, \"z\": [1.0, 12345678901234567890]}\n",
			schema: "a:int _extra:json", rows: []string{`{"a":1,"_extra":null}`, `{"a":2,"_extra":{"late":true,"z":[1.0,12345678901234567890]}}`}},
		{name: "declared columns ignore other keys", file: "a.jsonl", cfg: "columns: [{name: a, type: int}]",
			text:   "{\"a\": 1, \"b\": 2}\n",
			schema: "a:int", rows: []string{`{"a":1}`}},
		{name: "declared columns may reject other keys", file: "a.jsonl", cfg: "columns: [{name: a, type: int}]\nextra_keys: reject",
			text:   "{\"a\": 1, \"b\": 2}\n",
			schema: "a:int", rejects: []rj{{"extra_key", ":1: key \"b\" is not one of the step's columns (declared under columns:)"}}},
		{name: "CSV leading zeros, signs and big integers stay strings", file: "a.csv",
			text:   "id,n,big,x,f\n007,+1,12345678901234567890123,1,1.5\n010,2,1,nan,2\n",
			schema: "id:string n:string big:string x:string f:float",
			rows:   []string{`{"id":"007","n":"+1","big":"12345678901234567890123","x":"1","f":1.5}`, `{"id":"010","n":"2","big":"1","x":"nan","f":2.0}`}},
		{name: "CSV unclosed quote resynchronises", file: "a.csv",
			text:   "a,b\n1,x\n2,\"broken\n3,y\n4,z\n",
			schema: "a:int b:string", rows: []string{`{"a":1,"b":"x"}`, `{"a":3,"b":"y"}`, `{"a":4,"b":"z"}`},
			rejects: []rj{{"bad_row", ":3 (to line 5): unclosed quote: the quoted field opened on line 3 is not closed by line 5, the end of the file; line 3 is rejected and reading resumes at line 4"}}},
		{name: "CSV quote closed by a later line with the wrong field count", file: "a.csv",
			text:   "a,b\n1,\"x\n2,y\n3,z\",9\n4,w\n5,\"multi\nline\"\n",
			schema: "a:int b:string", rows: []string{`{"a":2,"b":"y"}`, `{"a":4,"b":"w"}`, `{"a":5,"b":"multi\nline"}`},
			rejects: []rj{{"bad_row", ":2 (to line 4): a quoted field spans lines 2-4 and the record has 3 fields"}, {"bad_row", ":4 (to line 6): bare \" in unquoted field 2"}}},
		{name: "CSV invalid UTF-8", file: "a.csv",
			text:   "a,b\n1,\xfe\n2,ok\n",
			schema: "a:int b:string", rows: []string{`{"a":2,"b":"ok"}`},
			rejects: []rj{{"bad_utf8", ":2: invalid UTF-8 at byte 3"}}},
		{name: "CSV non-finite float", file: "a.csv", cfg: "columns: [{name: f, type: float}]",
			text:   "f\n1e400\nInf\n0.5\n",
			schema: "f:float", rows: []string{`{"f":0.5}`},
			rejects: []rj{{"bad_type", ":2: column \"f\": 1e400 is beyond the float64 range"}, {"bad_type", ":3: column \"f\": want a float, got \"Inf\""}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.file)
			writeFile(t, path, c.text)
			sc, out, _ := read(t, "path: "+path+"\n"+c.cfg, 2)
			if got := schemaString(sc); got != c.schema {
				t.Errorf("schema = %s, want %s", got, c.schema)
			}
			if !reflect.DeepEqual(out.Rows, c.rows) && !(len(out.Rows) == 0 && len(c.rows) == 0) {
				t.Errorf("rows:\n%s\nwant\n%s", strings.Join(out.Rows, "\n"), strings.Join(c.rows, "\n"))
			}
			if len(out.Rejects) != len(c.rejects) {
				t.Fatalf("rejects = %+v, want %+v", out.Rejects, c.rejects)
			}
			for i, r := range out.Rejects {
				if r.Reason != c.rejects[i].reason || !strings.HasPrefix(r.Detail, path+c.rejects[i].detail) {
					t.Errorf("reject %d = %s %q, want %s %q", i, r.Reason, r.Detail, c.rejects[i].reason, path+c.rejects[i].detail)
				}
				if r.Data == "" {
					t.Errorf("reject %d carries no data", i)
				}
			}
		})
	}
}

// Parquet: float32 is widened to the float64 holding the same value, lists
// stay lists, a non-finite float rejects its row, and types caco cannot hold
// exactly are refused at validation.
func TestParquetValues(t *testing.T) {
	mem := memory.NewGoAllocator()
	dir := t.TempDir()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	b.Field(0).(*array.Float32Builder).AppendValues([]float32{0.1, 1, float32(inf())}, nil)
	lb := b.Field(1).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Float64Builder)
	lb.Append(true)
	vb.AppendValues([]float64{1, -0.5}, nil)
	lb.Append(true)
	vb.Append(-inf())
	lb.Append(true)
	b.Field(2).(*array.Uint64Builder).AppendValues([]uint64{1, 2, 3}, nil)
	rec := b.NewRecord()
	b.Release()
	path := filepath.Join(dir, "v.parquet")
	writeParquet(t, path, rec)
	rec.Release()
	gotSc, out, _ := read(t, "path: "+path, 1)
	if got := schemaString(gotSc); got != "f32:float l:json u:int" {
		t.Errorf("schema = %s", got)
	}
	want := []string{`{"f32":0.10000000149011612,"l":[1.0,-0.5],"u":1}`}
	if !reflect.DeepEqual(out.Rows, want) {
		t.Errorf("rows = %v, want %v", out.Rows, want)
	}
	if len(out.Rejects) != 2 || out.Rejects[0].Reason != "bad_value" || !strings.Contains(out.Rejects[0].Detail, "row 2: column \"l\": non-finite float -Inf") ||
		!strings.Contains(out.Rejects[1].Detail, "row 3: column \"f32\": non-finite float +Inf") {
		t.Errorf("rejects = %+v", out.Rejects)
	}

	tsc := arrow.NewSchema([]arrow.Field{{Name: "t", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true}}, nil)
	tb := array.NewRecordBuilder(mem, tsc)
	tb.Field(0).(*array.TimestampBuilder).Append(1)
	trec := tb.NewRecord()
	tb.Release()
	tpath := filepath.Join(dir, "t.parquet")
	writeParquet(t, tpath, trec)
	trec.Release()
	_, _, diags := optest.PlanDiags(t, "load", "path: "+tpath, nil)
	if !strings.Contains(diags.Error(), `column "t" is timestamp[us, tz=UTC], which caco cannot hold exactly`) {
		t.Errorf("timestamp column: %v", diags)
	}
}

func inf() float64 { var z float64; return 1 / z }

func writeParquet(t *testing.T, path string, rec arrow.Record) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A Parquet file with bytes zeroed in the middle fails with an error naming
// the file, never a panic.
func TestCorruptParquet(t *testing.T) {
	good, err := os.ReadFile(fixture(t, "seeds.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	errs := 0
	for _, at := range []int{len(good) / 4, len(good) / 3, len(good) / 2, 2 * len(good) / 3} {
		bad := append([]byte(nil), good...)
		for i := at; i < at+64 && i < len(bad)-8; i++ {
			bad[i] = 0
		}
		path := filepath.Join(t.TempDir(), "bad.parquet")
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		err := readErr(t, path)
		if err != nil {
			errs++
			if !strings.Contains(err.Error(), path) {
				t.Errorf("zeroed at %d: error does not name the file: %v", at, err)
			}
		}
	}
	if errs == 0 {
		t.Error("no corruption was noticed")
	}
}

// Rows repaired by invalid_utf8: replace are counted per batch, for stats.
func TestReplacedRowsCounted(t *testing.T) {
	for _, name := range []string{"a.jsonl", "a.csv"} {
		path := filepath.Join(t.TempDir(), name)
		text := "{\"s\": \"bad \xff\"}\n{\"s\": \"\\udc00\"}\n{\"s\": \"ok\"}\n"
		if name == "a.csv" {
			text = "s\nbad \xff\nok\nbad \xfe\n"
		}
		writeFile(t, path, text)
		mem := checked(t)
		p, _ := optest.Plan(t, "load", "path: "+path+"\ninvalid_utf8: replace", nil)
		out, _ := optest.ReadSource(t, p, mem, optest.NewRunContext(t, mem), nil)
		if len(out.Rows) != 3 || len(out.Rejects) != 0 {
			t.Errorf("%s: rows %v rejects %v", name, out.Rows, out.Rejects)
		}
		got := p.(op.BatchCounter).BatchCounters(0)
		if got[load.CounterUTF8Replaced] != 2 {
			t.Errorf("%s: counters = %v, want %s=2", name, got, load.CounterUTF8Replaced)
		}
	}
}

// readErr plans and reads path, returning the first error.
func readErr(t *testing.T, path string) error {
	mem := checked(t)
	return load.ReadFiles(context.Background(), mem, path, func(arrow.Record) error { return nil })
}
