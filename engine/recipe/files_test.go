package recipe_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/recipe"
	_ "github.com/caco-dev/caco/operators/load"
	_ "github.com/caco-dev/caco/operators/write"
)

func TestWritesThatDestroyInputs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data", "hf"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "x.jsonl"), []byte("{\"a\":1}\n"), 0o644)
	os.Symlink(filepath.Join(dir, "data", "x.jsonl"), filepath.Join(dir, "link.jsonl"))
	os.Symlink(filepath.Join(dir, "data"), filepath.Join(dir, "d"))
	cases := []struct{ name, load, write, want string }{
		{"different files", "data/x.jsonl", "out/x.jsonl", ""},
		{"same file", "data/x.jsonl", "data/../data/x.jsonl", `r.yaml:9:11: step "save" path: data/../data/x.jsonl is the file step "src" reads (line 5)`},
		{"through a symlinked file", "data/x.jsonl", "link.jsonl", `is the file step "src" reads`},
		{"through a symlinked folder", "d/x.jsonl", "data/x.jsonl", `is the file step "src" reads`},
		{"glob match", "data/*.jsonl", "d/x.jsonl", `is a file that step "src" reads`},
		{"future glob match", "data/*.jsonl", "data/new.jsonl", `matches the pattern that step "src" reads`},
		{"inside a loaded folder", "data", "data/hf/out.jsonl", `is inside the folder that step "src" reads`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := "caco: 1\nsteps:\n  src:\n    op: load\n    path: " + c.load + "\n  save:\n    op: write\n    input: src\n    path: " + c.write + "\n"
			_, diags := recipe.Parse(filepath.Join(dir, "r.yaml"), []byte(text), recipe.Options{RunDir: filepath.Join(dir, "run")})
			errs := strings.ReplaceAll(diags.Error(), dir+"/", "")
			if c.want == "" {
				if strings.Contains(errs, "replace") {
					t.Fatal(errs)
				}
				return
			}
			if !strings.Contains(errs, c.want) {
				t.Fatalf("got:\n%s\nwant: %s", errs, c.want)
			}
		})
	}
}
