package write_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/load"
	_ "github.com/caco-dev/caco/operators/write"
)

func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

var inSchema = optest.Schema("id", "int", "text", "string", "score", "float", "ok", "bool", "meta", "json")

const batch1 = `{"id": 1, "text": "a \"quoted\"\nline ✓", "score": 0.5, "ok": true, "meta": {"k": [1, 2]}}
{"id": 2, "text": null, "score": 1e-7, "ok": false, "meta": null}`
const batch2 = `{"id": 3, "text": "", "score": 3, "ok": null, "meta": "plain"}`

var wantJSONL = `{"id":1,"text":"a \"quoted\"\nline ✓","score":0.5,"ok":true,"meta":{"k":[1,2]}}
{"id":2,"text":null,"score":1e-07,"ok":false,"meta":null}
{"id":3,"text":"","score":3.0,"ok":null,"meta":"plain"}
`

// run writes batch1 and batch2 through a write step and returns its output rows.
func run(t *testing.T, mem memory.Allocator, cfg string) []string {
	t.Helper()
	p, out := optest.Plan(t, "write", cfg, inSchema)
	if out != inSchema {
		t.Errorf("write must pass its input schema through")
	}
	r1 := optest.Record(t, mem, inSchema, batch1)
	defer r1.Release()
	r2 := optest.Record(t, mem, inSchema, batch2)
	defer r2.Release()
	return optest.Run(t, p, mem, nil, r1, r2).Rows
}

func TestJSONLDeterministic(t *testing.T) {
	mem := checked(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "dir", "out.jsonl") // parent folders are created
	rows := run(t, mem, "path: "+path)
	if len(rows) != 3 {
		t.Errorf("rows passed through: %d", len(rows))
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != wantJSONL {
		t.Errorf("got\n%s\nwant\n%s", got, wantJSONL)
	}
	run(t, mem, "path: "+path+"\noverwrite: true") // another run folder: not its own file
	again, _ := os.ReadFile(path)
	if string(again) != string(got) {
		t.Error("second write differs")
	}
	assertNoTemp(t, filepath.Dir(path))
}

func TestColumns(t *testing.T) {
	mem := checked(t)
	path := filepath.Join(t.TempDir(), "out.ndjson")
	run(t, mem, "path: "+path+"\ncolumns: [meta, id]")
	got, _ := os.ReadFile(path)
	want := "{\"meta\":{\"k\":[1,2]},\"id\":1}\n{\"meta\":null,\"id\":2}\n{\"meta\":\"plain\",\"id\":3}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestParquetRoundTrip writes Parquet with each compression and loads it back.
func TestParquetRoundTrip(t *testing.T) {
	for _, comp := range []string{"zstd", "snappy", "none"} {
		t.Run(comp, func(t *testing.T) {
			mem := checked(t)
			path := filepath.Join(t.TempDir(), "out.parquet")
			run(t, mem, "path: "+path+"\ncompression: "+comp)
			sc, err := load.Schema(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(sc.Fields()) != 5 || op.TypeName(sc.Field(4)) != op.TypeJSON {
				t.Errorf("schema after round trip: %s", sc)
			}
			var lines []string
			err = load.ReadFiles(context.Background(), mem, path, func(rec arrow.Record) error {
				lines = append(lines, optest.Rows(rec)...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Split(strings.TrimSpace(wantJSONL), "\n")
			if !reflect.DeepEqual(lines, want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
			assertNoTemp(t, filepath.Dir(path))
		})
	}
}

func TestEmptyParquet(t *testing.T) {
	mem := checked(t)
	path := filepath.Join(t.TempDir(), "out.parquet")
	p, _ := optest.Plan(t, "write", "path: "+path, inSchema)
	optest.Run(t, p, mem, nil)
	sc, err := load.Schema(path)
	if err != nil || sc.NumFields() != 5 {
		t.Errorf("empty file: %v %v", sc, err)
	}
}

// TestAtomic: during the run only a temporary file exists; Finish renames
// it; a failed run (Close without Finish) removes it and leaves the earlier
// file untouched.
func TestAtomic(t *testing.T) {
	for _, ext := range []string{".jsonl", ".parquet"} {
		t.Run(ext, func(t *testing.T) {
			mem := checked(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "out"+ext)
			if err := os.WriteFile(path, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			// A leftover of a killed run, older than this one.
			stale := filepath.Join(dir, ".out"+ext+".tmp-123")
			os.WriteFile(stale, []byte("stale"), 0o644)
			old := mustStat(t, stale).ModTime().Add(-3600e9)
			os.Chtimes(stale, old, old)

			rec := optest.Record(t, mem, inSchema, batch1)
			defer rec.Release()
			for _, finish := range []bool{false, true} {
				p, _ := optest.Plan(t, "write", "path: "+path+"\noverwrite: true", inSchema)
				ctx := context.Background()
				rc := optest.NewRunContext(t, mem)
				if err := p.(op.Opener).Open(ctx, rc); err != nil {
					t.Fatal(err)
				}
				res, err := p.(op.Processor).Process(ctx, op.Batch{Record: rec, Alloc: mem})
				if err != nil {
					t.Fatal(err)
				}
				if res.Record != rec {
					t.Error("write must pass its batch on unchanged")
				}
				res.Record.Release()
				temps := tempFiles(t, dir)
				if len(temps) != 2 {
					t.Errorf("during the run: temporary files %v", temps)
				}
				if b, _ := os.ReadFile(path); string(b) != "previous" {
					t.Errorf("target changed before Finish")
				}
				if finish {
					if _, err := p.(op.Finisher).Finish(ctx, mem); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.(op.Closer).Close(); err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(path)
				if !finish {
					if string(b) != "previous" {
						t.Errorf("failed run changed the target")
					}
					if temps := tempFiles(t, dir); len(temps) != 1 || temps[0] != filepath.Base(stale) {
						t.Errorf("failed run left %v", temps)
					}
				} else {
					if string(b) == "previous" || len(b) == 0 {
						t.Errorf("finished run did not replace the target")
					}
					assertNoTemp(t, dir)
				}
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"path: out.txt", "cannot tell the format"},
		{"path: out.jsonl\ncolumns: [id, nope]", `no column "nope"`},
		{"path: out.jsonl\ncolumns: [id, id]", `listed twice`},
		{"path: out.jsonl\nformat: csv", `csv`},
	}
	for _, tt := range tests {
		_, _, diags := optest.PlanDiags(t, "write", tt.cfg, inSchema)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
			t.Errorf("%q: diagnostics %q do not contain %q", tt.cfg, diags.Error(), tt.want)
		}
	}
	// An explicit format overrides the extension.
	if _, _, diags := optest.PlanDiags(t, "write", "path: out.txt\nformat: jsonl", inSchema); diags.HasErrors() {
		t.Errorf("format: jsonl: %s", diags.Error())
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func tempFiles(t *testing.T, dir string) []string {
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	if tf := tempFiles(t, dir); len(tf) > 0 {
		t.Errorf("temporary files left: %v", tf)
	}
}
