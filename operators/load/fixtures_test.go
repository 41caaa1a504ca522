package load_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/caco-dev/caco/engine/op"
)

var update = flag.Bool("update", false, "regenerate testdata/formats fixtures (Parquet, Arrow, HF folder)")

const fixtures = "../../testdata/formats"

func fixture(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtureRecord is the content of seeds.parquet and seeds.arrow: the valid
// rows of seeds.jsonl, with Arrow types a recipe does not use (int32, a
// list, a JSON-tagged string) so that conversion is exercised.
func fixtureRecord(alloc memory.Allocator) arrow.Record {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "question", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "answer", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		op.JSONField("meta"),
	}, nil)
	b := array.NewRecordBuilder(alloc, sc)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 5}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"What is 2+2?", "Sort [3,1,2]", "Unicode ✓ \"quoted\"\nnewline"}, nil)
	b.Field(2).(*array.Int32Builder).AppendValues([]int32{4, 0, 5}, []bool{true, false, true})
	b.Field(3).(*array.Float32Builder).AppendValues([]float32{0.5, 1, 2.5}, nil)
	b.Field(4).(*array.BooleanBuilder).AppendValues([]bool{true, false, false}, nil)
	lb := b.Field(5).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.StringBuilder)
	lb.Append(true)
	vb.AppendValues([]string{"math", "easy"}, nil)
	lb.Append(true)
	lb.Append(true)
	vb.Append("x")
	b.Field(6).(*array.StringBuilder).AppendValues([]string{`{"src":"gsm8k","n":1}`, `{"src":"code"}`, `{"src":"mix","deep":{"a":[1,2.5,null]}}`}, nil)
	return b.NewRecord()
}

// hfRecords are the two shards of the hf/ save_to_disk fixture.
func hfRecords(alloc memory.Allocator) (*arrow.Schema, []arrow.Record) {
	msg := arrow.StructOf(
		arrow.Field{Name: "role", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "content", Type: arrow.BinaryTypes.String, Nullable: true})
	md := arrow.NewMetadata([]string{"huggingface"}, []string{`{"info": {"features": {}}}`})
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "idx", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "messages", Type: arrow.ListOf(msg), Nullable: true},
	}, &md)
	var recs []arrow.Record
	for shard := 0; shard < 2; shard++ {
		b := array.NewRecordBuilder(alloc, sc)
		for i := 0; i < 3; i++ {
			n := shard*3 + i
			b.Field(0).(*array.Int64Builder).Append(int64(n))
			b.Field(1).(*array.StringBuilder).Append("row " + string(rune('a'+n)))
			lb := b.Field(2).(*array.ListBuilder)
			sb := lb.ValueBuilder().(*array.StructBuilder)
			lb.Append(true)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.StringBuilder).Append("user")
			sb.FieldBuilder(1).(*array.StringBuilder).Append("q" + string(rune('0'+n)))
		}
		recs = append(recs, b.NewRecord())
		b.Release()
	}
	return sc, recs
}

// TestFixtures regenerates the binary fixtures: with -update into
// testdata/formats, otherwise into a temporary folder, where each must equal
// the checked-in file byte for byte (a fixture edited by hand, or a change
// in how they are made, fails here).
func TestFixtures(t *testing.T) {
	files := []string{"seeds.parquet", "seeds.arrow", "hf/state.json", "hf/dataset_info.json",
		"hf/data-00000-of-00002.arrow", "hf/data-00001-of-00002.arrow", "hfdict/dataset_dict.json"}
	dir := fixture(t, ".")
	if !*update {
		dir = t.TempDir()
	}
	makeFixtures(t, dir)
	if *update {
		return
	}
	for _, f := range files {
		want, err := os.ReadFile(fixture(t, f))
		if err != nil {
			t.Errorf("missing fixture (run go test ./operators/load -run TestFixtures -update): %v", err)
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("fixture %s differs from what fixtureRecord/hfRecords make (%d bytes, made %d): run go test ./operators/load -run TestFixtures -update and review the change", f, len(want), len(got))
		}
	}
}

// makeFixtures writes the binary fixtures into dir.
func makeFixtures(t *testing.T, dir string) {
	fixture := func(t *testing.T, name string) string { return filepath.Join(dir, name) }
	alloc := memory.NewGoAllocator()
	rec := fixtureRecord(alloc)
	defer rec.Release()

	pf, err := os.Create(fixture(t, "seeds.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pqarrow.NewFileWriter(rec.Schema(), pf, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := pw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}

	af, err := os.Create(fixture(t, "seeds.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	fw, err := ipc.NewFileWriter(af, ipc.WithSchema(rec.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	// Two record batches, to exercise re-batching.
	for _, r := range []arrow.Record{rec.NewSlice(0, 2), rec.NewSlice(2, 3)} {
		if err := fw.Write(r); err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	af.Close()

	if err := os.MkdirAll(fixture(t, "hf"), 0o755); err != nil {
		t.Fatal(err)
	}
	sc, recs := hfRecords(alloc)
	for i, r := range recs {
		name := []string{"data-00000-of-00002.arrow", "data-00001-of-00002.arrow"}[i]
		f, err := os.Create(fixture(t, "hf/"+name))
		if err != nil {
			t.Fatal(err)
		}
		w := ipc.NewWriter(f, ipc.WithSchema(sc))
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		w.Close()
		f.Close()
		r.Release()
	}
	write := func(name, text string) {
		if err := os.WriteFile(fixture(t, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hf/state.json", `{
  "_data_files": [
    {"filename": "data-00000-of-00002.arrow"},
    {"filename": "data-00001-of-00002.arrow"}
  ],
  "_fingerprint": "0123456789abcdef",
  "_format_columns": null,
  "_format_kwargs": {},
  "_format_type": null,
  "_output_all_columns": false,
  "_split": null
}
`)
	write("hf/dataset_info.json", `{"citation": "", "description": "caco test fixture", "features": {"idx": {"dtype": "int64", "_type": "Value"}, "text": {"dtype": "string", "_type": "Value"}}}
`)
	if err := os.MkdirAll(fixture(t, "hfdict"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("hfdict/dataset_dict.json", `{"splits": ["train"]}
`)
}
