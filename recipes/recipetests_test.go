package recipes_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/recipetest"
)

// TestEveryRecipeHasPassingTests is `caco test recipes/*.yaml`: every recipe
// must have a NAME.test.yaml beside it, and all of them must pass offline.
func TestEveryRecipeHasPassingTests(t *testing.T) {
	recipes, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var plain []string
	for _, r := range recipes {
		if !recipetest.IsTestFile(r) {
			plain = append(plain, r)
		}
	}
	if len(plain) < 5 {
		t.Fatalf("want the five Caco recipes, found %v", plain)
	}
	var stdout, stderr bytes.Buffer
	code := recipetest.RunAll(context.Background(), plain, recipetest.SuiteOptions{Options: recipetest.Options{TempDir: t.TempDir()}}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("caco test %s: exit %d\n%s%s", strings.Join(plain, " "), code, stdout.String(), stderr.String())
	}
	if n := strings.Count("\n"+stdout.String(), "\nok "); n != len(plain) {
		t.Fatalf("%d of %d recipe tests reported ok:\n%s", n, len(plain), stdout.String())
	}
	t.Log(stdout.String())
}
