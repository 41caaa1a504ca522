package recipetest

import (
	"fmt"
	"os"
	"path/filepath"
)

// Target is one test to run, from a command-line argument.
type Target struct {
	Arg  string // the argument it came from
	Test string // the test file
	// NoTest is set when Arg is a recipe without a test file beside it.
	NoTest bool
}

// Targets maps command-line arguments — recipes, test files, or both (a
// glob like recipes/*.yaml matches both) — to test files, each once, in
// argument order: x.test.yaml is itself, x.yaml means x.test.yaml. An
// argument that does not exist, or is a folder, is an error (a usage
// problem); a recipe without a test file is a Target with NoTest.
func Targets(args []string) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, unwrapPath(err))
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a folder: name recipes or test files, e.g. %s", a, filepath.Join(a, "*.yaml"))
		}
		t := Target{Arg: a, Test: a}
		if !IsTestFile(a) {
			t.Test = TestFileFor(a)
			if _, err := os.Stat(t.Test); err != nil {
				t.NoTest = true
			}
		}
		key := filepath.Clean(t.Test)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, t)
	}
	return out, nil
}
