package load_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/load"
)

func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// read plans a load step and reads it all.
func read(t *testing.T, cfg string, workers int) (*arrow.Schema, optest.Output, []uint64) {
	t.Helper()
	mem := checked(t)
	p, sc := optest.Plan(t, "load", cfg, nil)
	rc := optest.NewRunContext(t, mem)
	rc.NWorker = workers
	out, seqs := optest.ReadSource(t, p, mem, rc, nil)
	return sc, out, seqs
}

func schemaString(sc *arrow.Schema) string {
	var parts []string
	for _, f := range sc.Fields() {
		parts = append(parts, f.Name+":"+op.TypeName(f))
	}
	return strings.Join(parts, " ")
}

type rej struct{ Reason, Detail string }

func rejects(out optest.Output) []rej {
	var r []rej
	for _, x := range out.Rejects {
		if x.Row != -1 || x.Data == "" && x.Reason != load.ReasonBadRow {
			panic(fmt.Sprintf("reject without row -1 or data: %+v", x))
		}
		r = append(r, rej{x.Reason, x.Detail})
	}
	return r
}

var seedRows = []string{
	`{"id":1,"question":"What is 2+2?","answer":4,"score":0.5,"ok":true,"tags":["math","easy"],"meta":{"src":"gsm8k","n":1}}`,
	`{"id":2,"question":"Sort [3,1,2]","answer":null,"score":1.0,"ok":false,"tags":[],"meta":{"src":"code"}}`,
	`{"id":5,"question":"Unicode ✓ \"quoted\"\nnewline","answer":5,"score":2.5,"ok":false,"tags":["x"],"meta":{"src":"mix","deep":{"a":[1,2.5,null]}}}`,
}

const seedSchema = "id:int question:string answer:int score:float ok:bool tags:json meta:json"

func TestFormats(t *testing.T) {
	jsonl := fixture(t, "seeds.jsonl")
	declared := `
columns:
  - {name: id, type: int}
  - {name: question, type: string}
  - {name: answer, type: int}
  - {name: score, type: float}
  - {name: ok, type: bool}
  - {name: tags, type: json}
  - {name: meta, type: json}`
	tests := []struct {
		name    string
		cfg     string
		schema  string
		rows    []string
		rejects []rej
	}{
		{
			name:   "jsonl declared",
			cfg:    "path: " + jsonl + declared,
			schema: seedSchema,
			rows:   seedRows,
			rejects: []rej{
				{"bad_json", jsonl + ":3: malformed JSON: "},
				{"bad_type", jsonl + `:4: column "id": want an int, got string "four"`},
			},
		},
		{
			// The sample is the first two lines: id stays int, so line 4 is a reject.
			name:   "jsonl inferred from 2 rows",
			cfg:    "path: " + jsonl + "\ninfer_rows: 2",
			schema: seedSchema,
			rows:   seedRows,
			rejects: []rej{
				{"bad_json", jsonl + ":3: malformed JSON: "},
				{"bad_type", jsonl + `:4: column "id": want an int, got string "four"`},
			},
		},
		{
			// The whole file is the sample: id holds ints and a string, so it is json.
			name:   "jsonl inferred, mixed kinds become json",
			cfg:    "path: " + jsonl,
			schema: strings.Replace(seedSchema, "id:int", "id:json", 1),
			rows: []string{seedRows[0], seedRows[1],
				`{"id":"four","question":"wrong type","answer":4,"score":0.25,"ok":true,"tags":null,"meta":null}`, seedRows[2]},
			rejects: []rej{{"bad_json", jsonl + ":3: malformed JSON: "}},
		},
		{
			name:   "jsonl declared subset, reordered",
			cfg:    "path: " + jsonl + "\ncolumns:\n  - {name: question, type: string}\n  - {name: missing, type: string}\n  - {name: meta, type: json}",
			schema: "question:string missing:string meta:json",
			rows: []string{
				`{"question":"What is 2+2?","missing":null,"meta":{"src":"gsm8k","n":1}}`,
				`{"question":"Sort [3,1,2]","missing":null,"meta":{"src":"code"}}`,
				`{"question":"wrong type","missing":null,"meta":null}`,
				`{"question":"Unicode ✓ \"quoted\"\nnewline","missing":null,"meta":{"src":"mix","deep":{"a":[1,2.5,null]}}}`,
			},
			rejects: []rej{{"bad_json", jsonl + ":3: malformed JSON: "}},
		},
		{
			name:   "csv inferred from 2 rows",
			cfg:    "path: " + fixture(t, "seeds.csv") + "\ninfer_rows: 2",
			schema: "id:int question:string answer:int score:float ok:bool",
			rows: []string{
				`{"id":1,"question":"What is 2+2?","answer":4,"score":0.5,"ok":true}`,
				`{"id":2,"question":"Sort [3,1,2]","answer":null,"score":1.0,"ok":false}`,
				`{"id":6,"question":"multi\nline","answer":6,"score":2.5,"ok":false}`,
			},
			rejects: []rej{
				{"bad_type", fixture(t, "seeds.csv") + `:4: column "id": want an int, got "four"`},
				{"bad_row", fixture(t, "seeds.csv") + `:5: record has 6 fields, the header 5`},
			},
		},
		{
			name:   "parquet",
			cfg:    "path: " + fixture(t, "seeds.parquet"),
			schema: seedSchema,
			rows:   seedRows,
		},
		{
			name:   "arrow",
			cfg:    "path: " + fixture(t, "seeds.arrow") + "\nbatch_size: 2",
			schema: seedSchema,
			rows:   seedRows,
		},
		{
			name:   "parquet declared subset",
			cfg:    "path: " + fixture(t, "seeds.parquet") + "\ncolumns:\n  - {name: score, type: float}\n  - {name: answer, type: float}\n  - {name: tags, type: json}",
			schema: "score:float answer:float tags:json",
			rows:   []string{`{"score":0.5,"answer":4.0,"tags":["math","easy"]}`, `{"score":1.0,"answer":null,"tags":[]}`, `{"score":2.5,"answer":5.0,"tags":["x"]}`},
		},
		{
			name:   "hf save_to_disk folder",
			cfg:    "path: " + fixture(t, "hf"),
			schema: "idx:int text:string messages:json",
			rows: []string{
				`{"idx":0,"text":"row a","messages":[{"role":"user","content":"q0"}]}`,
				`{"idx":1,"text":"row b","messages":[{"role":"user","content":"q1"}]}`,
				`{"idx":2,"text":"row c","messages":[{"role":"user","content":"q2"}]}`,
				`{"idx":3,"text":"row d","messages":[{"role":"user","content":"q3"}]}`,
				`{"idx":4,"text":"row e","messages":[{"role":"user","content":"q4"}]}`,
				`{"idx":5,"text":"row f","messages":[{"role":"user","content":"q5"}]}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, workers := range []int{1, 3} {
				sc, out, _ := read(t, tt.cfg, workers)
				if got := schemaString(sc); got != tt.schema {
					t.Errorf("schema:\n got %s\nwant %s", got, tt.schema)
				}
				if !reflect.DeepEqual(out.Rows, tt.rows) {
					t.Errorf("workers %d rows:\n got %s\nwant %s", workers, strings.Join(out.Rows, "\n"), strings.Join(tt.rows, "\n"))
				}
				got := rejects(out)
				if len(got) != len(tt.rejects) {
					t.Fatalf("rejects: got %v, want %v", got, tt.rejects)
				}
				for i := range got {
					if got[i].Reason != tt.rejects[i].Reason || !strings.HasPrefix(got[i].Detail, tt.rejects[i].Detail) {
						t.Errorf("reject %d: got %+v, want %+v", i, got[i], tt.rejects[i])
					}
				}
			}
		})
	}
}

func TestRejectData(t *testing.T) {
	_, out, _ := read(t, "path: "+fixture(t, "seeds.jsonl")+"\ninfer_rows: 2", 1)
	if len(out.Rejects) != 2 {
		t.Fatalf("rejects: %+v", out.Rejects)
	}
	if want := `{"id": 3, "question": "malformed" "answer": 1}`; out.Rejects[0].Data != want {
		t.Errorf("data: got %q, want the raw line %q", out.Rejects[0].Data, want)
	}

	// A huge bad line is truncated.
	dir := t.TempDir()
	huge := `{"a": 1}` + "\n" + `{"a": "` + strings.Repeat("x", 100<<10) + "\n"
	writeFile(t, filepath.Join(dir, "h.jsonl"), huge)
	_, out, _ = read(t, "path: "+filepath.Join(dir, "h.jsonl"), 1)
	if len(out.Rejects) != 1 {
		t.Fatalf("rejects: %d", len(out.Rejects))
	}
	if len(out.Rejects[0].Data) > 20<<10 || !strings.Contains(out.Rejects[0].Data, "more bytes]") {
		t.Errorf("huge reject not truncated: %d rejects, data length %d", len(out.Rejects), len(out.Rejects[0].Data))
	}
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func jsonlLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "{\"n\": %d, \"s\": \"row %d\"}\n", i, i)
	}
	return b.String()
}

func TestGlobOrderAndBatches(t *testing.T) {
	dir := t.TempDir()
	// Written out of order; read in sorted name order. Batches do not span files.
	writeFile(t, filepath.Join(dir, "c.jsonl"), jsonlLines(5, 6))
	writeFile(t, filepath.Join(dir, "a.jsonl"), jsonlLines(0, 3))
	writeFile(t, filepath.Join(dir, "b.jsonl"), "\n"+jsonlLines(3, 5)+"\n\n")
	writeFile(t, filepath.Join(dir, "skip.txt"), "not matched")
	_, out, seqs := read(t, "path: "+filepath.Join(dir, "*.jsonl")+"\nbatch_size: 2", 2)
	var ns []string
	for _, r := range out.Rows {
		ns = append(ns, strings.SplitN(strings.TrimPrefix(r, `{"n":`), ",", 2)[0])
	}
	if got := strings.Join(ns, " "); got != "0 1 2 3 4 5" {
		t.Errorf("row order: %s", got)
	}
	if !reflect.DeepEqual(seqs, []uint64{0, 1, 2, 3}) {
		t.Errorf("seqs: %v (a: 2+1 rows, b: 2, c: 1)", seqs)
	}
}

// TestWantSkipping: skipping batches yields nil for them and the very same
// batches for the others, in every format.
func TestWantSkipping(t *testing.T) {
	dir := t.TempDir()
	var lines strings.Builder
	for i := 0; i < 40; i++ {
		switch i % 7 {
		case 3:
			lines.WriteString("{broken\n")
		case 5:
			lines.WriteString("\n")
		default:
			fmt.Fprintf(&lines, "{\"n\": %d, \"s\": \"row %d\"}\n", i, i)
		}
	}
	writeFile(t, filepath.Join(dir, "a.jsonl"), lines.String())
	writeFile(t, filepath.Join(dir, "b.jsonl"), jsonlLines(100, 111))
	var csv strings.Builder
	csv.WriteString("n,s\n")
	for i := 0; i < 30; i++ {
		if i%9 == 4 {
			csv.WriteString("x,bad\n")
			continue
		}
		fmt.Fprintf(&csv, "%d,row %d\n", i, i)
	}
	writeFile(t, filepath.Join(dir, "c.csv"), csv.String())
	cases := map[string]string{
		"jsonl":   "path: " + filepath.Join(dir, "*.jsonl") + "\nbatch_size: 4\ncolumns: [{name: n, type: int}, {name: s, type: string}]",
		"csv":     "path: " + filepath.Join(dir, "c.csv") + "\nbatch_size: 4\ncolumns: [{name: n, type: int}, {name: s, type: string}]",
		"parquet": "path: " + fixture(t, "seeds.parquet") + "\nbatch_size: 1",
		"arrow":   "path: " + fixture(t, "seeds.arrow") + "\nbatch_size: 1",
		"hf":      "path: " + fixture(t, "hf") + "\nbatch_size: 2",
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			all := perSeq(t, cfg, func(uint64) bool { return true })
			if len(all) < 3 {
				t.Fatalf("want several batches, got %d", len(all))
			}
			odd := perSeq(t, cfg, func(s uint64) bool { return s%2 == 1 })
			if len(odd) != len(all) {
				t.Fatalf("skipping changed the number of batches: %d vs %d", len(odd), len(all))
			}
			for s := range all {
				if s%2 == 0 {
					if odd[s] != "<nil>" {
						t.Errorf("seq %d not wanted but built: %s", s, odd[s])
					}
				} else if odd[s] != all[s] {
					t.Errorf("seq %d differs when others are skipped:\n%s\nvs\n%s", s, odd[s], all[s])
				}
			}
		})
	}
}

// perSeq reads and renders each batch (rows and rejects) by seq.
func perSeq(t *testing.T, cfg string, want func(uint64) bool) []string {
	mem := checked(t)
	p, _ := optest.Plan(t, "load", cfg, nil)
	rc := optest.NewRunContext(t, mem)
	rc.NWorker = 3
	if err := p.(op.Opener).Open(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	var out []string
	err := p.(op.Source).Read(context.Background(), want, func(seq uint64, rec arrow.Record, rj []op.Reject) error {
		if seq != uint64(len(out)) {
			t.Fatalf("seq %d after %d batches", seq, len(out))
		}
		if rec == nil {
			out = append(out, "<nil>")
			return nil
		}
		defer rec.Release()
		out = append(out, fmt.Sprintf("%v %+v", optest.Rows(rec), rj))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.txt"), "hello")
	writeFile(t, filepath.Join(dir, "h.csv"), "a,b\n1,2\n")
	writeFile(t, filepath.Join(dir, "mixed", "a.jsonl"), "{}\n")
	writeFile(t, filepath.Join(dir, "mixed", "b.csv"), "a\n")
	writeFile(t, filepath.Join(dir, "p1", "a.parquet"), "")
	tests := []struct{ name, cfg, want string }{
		{"missing file", "path: " + filepath.Join(dir, "nope.jsonl"), filepath.Join(dir, "nope.jsonl") + ": no such file"},
		{"empty glob", "path: " + filepath.Join(dir, "*.parquet"), "no file matches " + filepath.Join(dir, "*.parquet")},
		{"unreadable parquet", "path: " + fixture(t, "bad.parquet"), "reading Parquet file " + fixture(t, "bad.parquet")},
		{"empty parquet", "path: " + filepath.Join(dir, "p1", "a.parquet"), "reading Parquet file " + filepath.Join(dir, "p1", "a.parquet")},
		{"unknown extension", "path: " + filepath.Join(dir, "x.txt"), "cannot tell the format"},
		{"plain folder", "path: " + dir, "is a folder without state.json"},
		{"dataset dict", "path: " + fixture(t, "hfdict"), "is a DatasetDict folder"},
		{"mixed formats", "path: " + filepath.Join(dir, "mixed", "*"), "same format"},
		{"csv column missing", "path: " + filepath.Join(dir, "h.csv") + "\ncolumns: [{name: c, type: int}]", `has no column "c"`},
		{"parquet column missing", "path: " + fixture(t, "seeds.parquet") + "\ncolumns: [{name: c, type: int}]", `has no column "c"`},
		{"parquet column type", "path: " + fixture(t, "seeds.parquet") + "\ncolumns: [{name: question, type: int}]", `column "question" is utf8, not int`},
		{"declared twice", "path: " + fixture(t, "seeds.jsonl") + "\ncolumns: [{name: c, type: int}, {name: c, type: string}]", `declared twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, diags := optest.PlanDiags(t, "load", tt.cfg, nil)
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
				t.Errorf("diagnostics %q do not contain %q", diags.Error(), tt.want)
			}
		})
	}
}

func TestRunErrorNamesFile(t *testing.T) {
	for _, name := range []string{"a.jsonl", "a.csv", "a.parquet"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			src := map[string]string{"a.jsonl": "seeds.jsonl", "a.csv": "seeds.csv", "a.parquet": "seeds.parquet"}[name]
			b, err := os.ReadFile(fixture(t, src))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, string(b))
			mem := checked(t)
			p, _ := optest.Plan(t, "load", "path: "+path, nil)
			os.Remove(path)
			err = p.(op.Source).Read(context.Background(), nil, func(uint64, arrow.Record, []op.Reject) error { return nil })
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v does not name %s", err, path)
			}
			_ = mem
		})
	}
}

func TestCompressedJSONL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gzipWrite(t, f, jsonlLines(0, 3))
	_, out, _ := read(t, "path: "+path, 1)
	if len(out.Rows) != 3 || out.Rows[2] != `{"n":2,"s":"row 2"}` {
		t.Errorf("rows: %v", out.Rows)
	}
}

func TestEmitErrorStops(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.jsonl"), jsonlLines(0, 200))
	mem := checked(t)
	p, _ := optest.Plan(t, "load", "path: "+filepath.Join(dir, "a.jsonl")+"\nbatch_size: 3", nil)
	rc := optest.NewRunContext(t, mem)
	rc.NWorker = 4
	p.(op.Opener).Open(context.Background(), rc)
	n := 0
	err := p.(op.Source).Read(context.Background(), nil, func(_ uint64, rec arrow.Record, _ []op.Reject) error {
		rec.Release()
		n++
		if n == 5 {
			return fmt.Errorf("stop")
		}
		return nil
	})
	if err == nil || err.Error() != "stop" || n != 5 {
		t.Errorf("err %v after %d batches", err, n)
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	writeFile(t, path, jsonlLines(0, 3))
	p, _ := optest.Plan(t, "load", "path: "+path, nil)
	fp1, err := p.(op.Fingerprinter).Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	fp2, _ := p.(op.Fingerprinter).Fingerprint()
	if fp1 != fp2 || fp1 == "" {
		t.Fatalf("unstable fingerprint %q %q", fp1, fp2)
	}
	writeFile(t, path, jsonlLines(0, 4))
	os.Chtimes(path, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	if fp3, _ := p.(op.Fingerprinter).Fingerprint(); fp3 == fp1 {
		t.Error("fingerprint did not change with the file")
	}
}

func TestReadFilesAndSchema(t *testing.T) {
	mem := checked(t)
	sc, err := load.Schema(fixture(t, "seeds.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if got := schemaString(sc); got != seedSchema {
		t.Errorf("schema %s", got)
	}
	var rows []string
	err = load.ReadFiles(context.Background(), mem, fixture(t, "hf"), func(rec arrow.Record) error {
		rows = append(rows, optest.Rows(rec)...)
		return nil
	})
	if err != nil || len(rows) != 6 {
		t.Errorf("ReadFiles: %v, %d rows", err, len(rows))
	}
	if err := load.ReadFiles(context.Background(), mem, "/nonexistent/*.jsonl", nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/*.jsonl") {
		t.Errorf("ReadFiles error: %v", err)
	}
}

func gzipWrite(t *testing.T, f *os.File, text string) {
	t.Helper()
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestParallelDeterministic: any number of workers gives the same batches.
func TestParallelDeterministic(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		if i%97 == 0 {
			b.WriteString("{\"n\": oops}\n")
			continue
		}
		fmt.Fprintf(&b, "{\"n\": %d, \"s\": \"row %d\", \"x\": [%d]}\n", i, i, i)
	}
	writeFile(t, filepath.Join(dir, "a.jsonl"), b.String())
	cfg := "path: " + filepath.Join(dir, "a.jsonl") + "\nbatch_size: 7"
	var first []string
	for _, w := range []int{1, 2, 5} {
		mem := checked(t)
		p, _ := optest.Plan(t, "load", cfg, nil)
		rc := optest.NewRunContext(t, mem)
		rc.NWorker = w
		p.(op.Opener).Open(context.Background(), rc)
		var got []string
		err := p.(op.Source).Read(context.Background(), nil, func(seq uint64, rec arrow.Record, rj []op.Reject) error {
			defer rec.Release()
			got = append(got, fmt.Sprintf("%d %v %+v", seq, optest.Rows(rec), rj))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = got
		} else if !reflect.DeepEqual(got, first) {
			t.Errorf("workers %d: batches differ", w)
		}
	}
	if len(first) != 429 {
		t.Errorf("%d batches, want 429", len(first))
	}
}

func TestTSVAndEmpty(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.tsv"), "name\tn\nsay \"hi\"\t1\n")
	_, out, _ := read(t, "path: "+filepath.Join(dir, "a.tsv"), 1)
	if !reflect.DeepEqual(out.Rows, []string{`{"name":"say \"hi\"","n":1}`}) {
		t.Errorf("tsv rows: %v", out.Rows)
	}
	writeFile(t, filepath.Join(dir, "empty.jsonl"), "\n")
	sc, out, seqs := read(t, "path: "+filepath.Join(dir, "empty.jsonl"), 1)
	if sc.NumFields() != 0 || len(out.Rows) != 0 || len(seqs) != 0 {
		t.Errorf("empty file: %v %v %v", sc, out.Rows, seqs)
	}
}

// TestParquetRowGroupSkipping: row groups holding only unwanted batches are
// skipped, and the wanted batches are the same as when all are read.
func TestParquetRowGroupSkipping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rg.parquet")
	mem := checked(t)
	sc := optest.Schema("n", "int", "s", "string")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	for g := 0; g < 10; g++ {
		var lines strings.Builder
		for i := g * 5; i < g*5+5; i++ {
			fmt.Fprintf(&lines, "{\"n\": %d, \"s\": \"r%d\"}\n", i, i)
		}
		rec := optest.Record(t, mem, sc, lines.String())
		if err := pw.Write(rec); err != nil { // one row group per Write
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := "path: " + path + "\nbatch_size: 3"
	all := perSeq(t, cfg, func(uint64) bool { return true })
	some := perSeq(t, cfg, func(s uint64) bool { return s%5 == 0 })
	if len(all) != 17 || len(some) != 17 {
		t.Fatalf("batches: %d and %d, want 17", len(all), len(some))
	}
	for s := range all {
		if s%5 == 0 && some[s] != all[s] || s%5 != 0 && some[s] != "<nil>" {
			t.Errorf("seq %d: %s vs %s", s, some[s], all[s])
		}
	}
}
