package write_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/load"
)

// The JSONL and the Parquet output of one step hold the same values, and
// both load back as the same values and types: floats stay floats (1.0,
// -0.0, 1e+20), integers stay exact (int64 in int columns, big integers in
// json), objects keep their key order.
func TestJSONLAndParquetHoldTheSameValues(t *testing.T) {
	sc := optest.Schema("i", "int", "f", "float", "s", "string", "j", "json")
	rows := `{"i": 9223372036854775807, "f": 1.0, "s": "\u2028 ✓ \"q\"", "j": {"b": 10000000000000000000000001, "a": [-0.0, 1e20, 5e-324]}}
{"i": -9223372036854775808, "f": -0.0, "s": "", "j": 9007199254740993}
{"i": 0, "f": 1e20, "s": null, "j": null}
{"i": null, "f": 5e-324, "s": "x", "j": "text"}`
	want := []string{
		`{"i":9223372036854775807,"f":1.0,"s":"\u2028 ✓ \"q\"","j":{"b":10000000000000000000000001,"a":[-0.0,1e+20,5e-324]}}`,
		`{"i":-9223372036854775808,"f":-0.0,"s":"","j":9007199254740993}`,
		`{"i":0,"f":1e+20,"s":null,"j":null}`,
		`{"i":null,"f":5e-324,"s":"x","j":"text"}`,
	}
	mem := checked(t)
	dir := t.TempDir()
	for _, name := range []string{"out.jsonl", "out.parquet"} {
		path := filepath.Join(dir, name)
		rec := optest.Record(t, mem, sc, rows)
		p, _ := optest.Plan(t, "write", "path: "+path, sc)
		optest.Run(t, p, mem, nil, rec)
		rec.Release()
		if name == "out.jsonl" {
			got, _ := os.ReadFile(path)
			if strings.TrimSpace(string(got)) != strings.Join(want, "\n") {
				t.Errorf("%s:\n%s\nwant\n%s", name, got, strings.Join(want, "\n"))
			}
		}
		lsc, err := load.Schema(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := schemaOf(lsc); got != "i:int f:float s:string j:json" {
			t.Errorf("%s loads back as %s", name, got)
		}
		var lines []string
		if err := load.ReadFiles(context.Background(), mem, path, func(rec arrow.Record) error {
			lines = append(lines, optest.Rows(rec)...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s loaded back:\n%s\nwant\n%s", name, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}
}

func schemaOf(sc *arrow.Schema) string {
	var parts []string
	for _, f := range sc.Fields() {
		parts = append(parts, f.Name+":"+op.TypeName(f))
	}
	return strings.Join(parts, " ")
}
