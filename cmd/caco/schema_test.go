package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
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

// The schema must accept real recipes and reject broken ones, as an editor
// using it would.
func TestSchemaChecksRecipes(t *testing.T) {
	c := jsonschema.NewCompiler()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "schemas", "recipe.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(recipe.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(recipe.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	check := func(file string) error {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return err
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		return sch.Validate(inst)
	}
	good, _ := filepath.Glob(filepath.Join(repoRoot, "recipes", "*.yaml"))
	good = append(good, filepath.Join(repoRoot, "testdata", "validate", "valid.yaml"))
	for _, f := range good {
		if strings.HasSuffix(f, ".test.yaml") {
			continue
		}
		if err := check(f); err != nil {
			t.Errorf("%s does not satisfy the schema: %v", f, err)
		}
	}
	for _, name := range []string{"unknown_key", "unknown_op"} {
		f := filepath.Join(repoRoot, "testdata", "validate", name+".yaml")
		if err := check(f); err == nil {
			t.Errorf("%s satisfies the schema, but it is broken", f)
		}
	}
}
