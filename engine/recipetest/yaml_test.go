package recipetest

import (
	"strings"
	"testing"
)

// Test files share the recipe parser's YAML error locator: the line where
// the problem is, not yaml v3's (0-based) line of the enclosing construct.
func TestTestFileYAMLErrorLine(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"indent", "recipe: r.yaml\nsteps:\n  a:\n    rows_out: 3\n   rows_in: 4\n", "t.test.yaml:5:4: YAML syntax error: did not find expected key"},
		{"tab", "recipe: r.yaml\nsteps:\n  a:\n\t rows_out: 3\n", "t.test.yaml:4:1: YAML syntax error: a tab character in the indentation"},
		{"empty", "", "t.test.yaml:1:1: YAML syntax error: empty test file"},
	}
	for _, c := range cases {
		_, diags := Parse("t.test.yaml", []byte(c.text))
		if got := diags.Error(); !strings.Contains(got, c.want) {
			t.Errorf("%s: got\n%s\nwant %s", c.name, got, c.want)
		}
	}
}
