package recipetest

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	_ "github.com/caco-dev/caco/operators/core"
	_ "github.com/caco-dev/caco/operators/load"
	_ "github.com/caco-dev/caco/operators/write"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	repoRoot = "../.."
	fixtures = repoRoot + "/testdata/recipetest"
)

var secondsRe = regexp.MustCompile(`\d+\.\d\ds\b`)

// clean makes output stable: paths relative to the repository root,
// durations masked.
func clean(s string) string {
	s = strings.ReplaceAll(s, repoRoot+"/", "")
	return secondsRe.ReplaceAllString(s, "N.NNs")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(fixtures, "golden", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden (go test ./engine/recipetest -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

func runAll(t *testing.T, opts SuiteOptions, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	opts.Alloc = alloc
	code := RunAll(context.Background(), args, opts, &out, &errb)
	return clean(out.String()), clean(errb.String()), code
}

// TestRunAllGolden runs `caco test` on the fixtures and compares its whole
// report with a golden file.
func TestRunAllGolden(t *testing.T) {
	f := func(name string) string { return filepath.Join(fixtures, name) }
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"pass", []string{f("example.yaml")}, ExitOK},
		{"pass_test_file", []string{f("example.test.yaml")}, ExitOK},
		{"pass_both_once", []string{f("example.yaml"), f("example.test.yaml")}, ExitOK},
		{"fail", []string{f("fail.test.yaml")}, ExitFail},
		{"bad_test_file", []string{f("bad.test.yaml")}, ExitFail},
		{"bad_references", []string{f("badref.test.yaml")}, ExitFail},
		{"no_recipe", []string{f("norecipe.test.yaml")}, ExitFail},
		{"invalid_recipe", []string{f("broken.yaml")}, ExitFail},
		{"run_fails", []string{f("runfail.yaml")}, ExitFail},
		{"no_test_file", []string{f("untested.yaml"), f("example.yaml")}, ExitFail},
		{"missing_argument", []string{f("nosuch.yaml")}, ExitUsage},
		{"folder_argument", []string{fixtures}, ExitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errText, code := runAll(t, SuiteOptions{}, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			golden(t, c.name, out+"--- stderr\n"+errText+"--- exit "+strconv.Itoa(code)+"\n")
		})
	}
}

// TestGlobRunsEachTestOnce: a glob matching recipes and test files runs
// each test once, and flags recipes without tests.
func TestGlobRunsEachTestOnce(t *testing.T) {
	all, err := filepath.Glob(filepath.Join(fixtures, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	targets, err := Targets(all)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var noTest []string
	for _, tg := range targets {
		seen[tg.Test]++
		if tg.NoTest {
			noTest = append(noTest, filepath.Base(tg.Arg))
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d times", k, n)
		}
	}
	if seen[filepath.Join(fixtures, "example.test.yaml")] != 1 {
		t.Errorf("example.test.yaml not targeted: %v", targets)
	}
	if strings.Join(noTest, ",") != "untested.yaml" {
		t.Errorf("recipes without tests: %v, want [untested.yaml]", noTest)
	}
}

func TestValidateGolden(t *testing.T) {
	for _, name := range []string{"example", "bad", "badref", "norecipe"} {
		t.Run(name, func(t *testing.T) {
			diags := Validate(filepath.Join(fixtures, name+".test.yaml"))
			golden(t, "validate_"+name, clean(diags.Error()+"\n"))
			if (name == "example") == diags.HasErrors() {
				t.Errorf("errors: %v", diags)
			}
		})
	}
}

// TestUpdateRoundTrip: --update fixes the counts (in place when only
// numbers change), the file then passes, and a second update changes
// nothing.
func TestUpdateRoundTrip(t *testing.T) {
	for _, name := range []string{"numbers", "missing"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			sub := filepath.Join(dir, "update")
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"example.yaml", "seeds.jsonl"} {
				copyFile(t, filepath.Join(fixtures, f), filepath.Join(dir, f))
			}
			file := filepath.Join(sub, name+".test.yaml")
			copyFile(t, filepath.Join(fixtures, "update", name+".test.yaml"), file)

			out, _, code := runAll(t, SuiteOptions{}, file)
			if code != ExitFail {
				t.Fatalf("before update: exit %d, want 1:\n%s", code, out)
			}
			out, _, code = runAll(t, SuiteOptions{Update: true}, file)
			if code != ExitOK || !strings.Contains(out, "updated ") {
				t.Fatalf("update: exit %d:\n%s", code, out)
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "update_"+name, string(got))
			if out, _, code = runAll(t, SuiteOptions{}, file); code != ExitOK {
				t.Fatalf("after update: exit %d:\n%s", code, out)
			}
			if out, _, _ = runAll(t, SuiteOptions{Update: true}, file); strings.Contains(out, "updated ") {
				t.Errorf("second update changed the file:\n%s", out)
			}
		})
	}
}

func TestUpdateKeepsLayoutWhenOnlyNumbersChange(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(fixtures, "update", "numbers.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(fixtures, "golden", "update_numbers.golden"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := strings.Split(string(orig), "\n"), strings.Split(string(got), "\n")
	if len(a) != len(b) {
		t.Fatalf("line count changed: %d → %d", len(a), len(b))
	}
	for i := range a {
		if strings.Contains(a[i], "#") && a[i][strings.Index(a[i], "#"):] != b[i][strings.Index(b[i], "#"):] {
			t.Errorf("line %d: comment moved:\n%s\n%s", i+1, a[i], b[i])
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKeepLeavesRunFolder(t *testing.T) {
	tmp := t.TempDir()
	out, _, code := runAll(t, SuiteOptions{Options: Options{Keep: true, TempDir: tmp}}, filepath.Join(fixtures, "example.yaml"))
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	matches, _ := filepath.Glob(filepath.Join(tmp, "caco-test-example-*", "stats.json"))
	if len(matches) != 1 || !strings.Contains(out, "run folder ") {
		t.Errorf("kept run folder: %v\n%s", matches, out)
	}
	tmp2 := t.TempDir()
	runAll(t, SuiteOptions{Options: Options{TempDir: tmp2}}, filepath.Join(fixtures, "example.yaml"))
	if left, _ := os.ReadDir(tmp2); len(left) != 0 {
		t.Errorf("run folder left behind without Keep: %v", left)
	}
}

func TestCount(t *testing.T) {
	cases := []struct {
		yaml string
		in   []int64
		out  []int64
		str  string
	}{
		{"5", []int64{5}, []int64{4, 6}, "5"},
		{"{min: 3, max: 5}", []int64{3, 4, 5}, []int64{2, 6}, "3..5"},
		{"{min: 3}", []int64{3, 1000}, []int64{2}, ">= 3"},
		{"{max: 3}", []int64{0, 3}, []int64{4}, "<= 3"},
	}
	for _, c := range cases {
		tst, diags := Parse("t.test.yaml", []byte("caco-test: 1\nexpect:\n  steps:\n    s: {rows_out: "+c.yaml+"}\n"))
		if diags.HasErrors() {
			t.Fatalf("%s: %v", c.yaml, diags)
		}
		cnt := tst.Steps[0].RowsOut
		for _, n := range c.in {
			if !cnt.Match(n) {
				t.Errorf("%s should accept %d", c.yaml, n)
			}
		}
		for _, n := range c.out {
			if cnt.Match(n) {
				t.Errorf("%s should reject %d", c.yaml, n)
			}
		}
		if cnt.String() != c.str {
			t.Errorf("%s renders %q, want %q", c.yaml, cnt.String(), c.str)
		}
	}
}

func TestEqualAndMatch(t *testing.T) {
	cases := []struct {
		want, got any
		eq        bool
	}{
		{12, 12.0, true},
		{12, "12", false},
		{"12", "12", true},
		{1.5, 1.5, true},
		{nil, nil, true},
		{nil, "", false},
		{true, true, true},
		{[]any{1, "a"}, []any{1.0, "a"}, true},
		{map[string]any{"x": 1}, map[string]any{"x": 1, "y": 2}, false},
		{map[string]any{"x": 1}, map[string]any{"x": 1.0}, true},
	}
	for _, c := range cases {
		if equal(c.want, c.got) != c.eq {
			t.Errorf("equal(%#v, %#v) = %v", c.want, c.got, !c.eq)
		}
	}
	// overlapping expectations: a greedy pass would give row 0 to the
	// broad pattern and fail the narrow one.
	rows := []map[string]any{{"a": 1, "b": 1}, {"a": 1, "b": 2}}
	want := []*RowExpect{
		{Keys: []string{"a"}, Values: map[string]any{"a": 1}},
		{Keys: []string{"b"}, Values: map[string]any{"b": 1}},
	}
	got := match(want, rows)
	if got[0] != 1 || got[1] != 0 {
		t.Errorf("match = %v, want [1 0]", got)
	}
	want = append(want, &RowExpect{Keys: []string{"a"}, Values: map[string]any{"a": 1}})
	if got := match(want, rows); (got[0] < 0) == (got[2] < 0) || got[1] != 0 {
		t.Errorf("three patterns, two rows: %v, want one a-pattern unmatched", got)
	}
}

func TestDefaultRecipeAndTargets(t *testing.T) {
	cases := map[string]string{
		"recipes/quickstart.test.yaml": "recipes/quickstart.yaml",
		"x.test.yml":                   "x.yml",
		"recipes/quickstart.yaml":      "",
	}
	for in, want := range cases {
		if got := DefaultRecipe(in); got != want {
			t.Errorf("DefaultRecipe(%q) = %q, want %q", in, got, want)
		}
	}
	if got := TestFileFor("recipes/quickstart.yaml"); got != "recipes/quickstart.test.yaml" {
		t.Errorf("TestFileFor = %q", got)
	}
}
