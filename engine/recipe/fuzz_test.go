package recipe_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	_ "github.com/caco-dev/caco/operators/all"
)

// FuzzParse checks that no recipe text makes validation panic or hang, and
// that every problem has a position inside the file. The seeds are the
// validation corpus, the shipped recipes and testdata/fuzz/FuzzParse (run by
// `go test` in CI); `go test ./engine/recipe -fuzz FuzzParse` explores
// further.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../../testdata/validate/*.yaml", "../../recipes/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(`{"id": 1, "text": "a"}`+"\n"), 0o644)
	env := map[string]string{"SET": "v", "EMPTY": "", "NUM": "3"}
	opts := recipe.Options{RunDir: filepath.Join(dir, "run"), Set: map[string]string{},
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		file := filepath.Join(dir, "r.yaml")
		r, diags := recipe.Parse(file, data, opts)
		lines := strings.Count(string(data), "\n") + 1
		for _, d := range diags {
			if d.Pos.File != file {
				continue // --set problems are about the command line
			}
			if d.Pos.Line < 1 || d.Pos.Line > lines || d.Pos.Col < 1 {
				t.Fatalf("diagnostic outside the file (%d lines): %s", lines, d.String())
			}
		}
		if diags.HasErrors() || r == nil {
			return
		}
		plan.Build(r) // must not panic either
	})
}
