package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/caco-dev/caco/engine/recipe"
)

// The checked-in schema must be what the operators' specs generate.
func TestSchemaIsCurrent(t *testing.T) {
	want, err := recipe.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot, "schemas", "recipe.schema.json")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("schemas/recipe.schema.json is stale: run `go run ./cmd/caco schema > schemas/recipe.schema.json` (or go test ./cmd/caco -run TestSchemaIsCurrent -update)")
	}
	stdout, _, code := caco(t, "schema")
	if code != 0 || stdout != string(want) {
		t.Fatalf("caco schema differs from recipe.JSONSchema (exit %d)", code)
	}
}
