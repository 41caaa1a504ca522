package recipetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/recipe"
	"go.yaml.in/yaml/v3"
)

// DefaultTimeout bounds a test's run when the file sets no timeout.
const DefaultTimeout = 2 * time.Minute

// Test is a loaded test file.
type Test struct {
	File string // as given
	// Recipe is the recipe's path: the file's `recipe:` joined to the test
	// file's folder, or the default name beside it.
	Recipe      string
	RecipePos   diag.Pos // of the `recipe:` value, or the file
	Description string
	Set         map[string]string
	SetNames    []string // file order
	SetPos      map[string]diag.Pos
	Timeout     time.Duration
	Steps       []*StepExpect   // file order
	Outputs     []*OutputExpect // file order
	// diags are the file's own problems (Run refuses a test with errors).
	diags diag.List
}

// StepExpect is what one step's stats must show.
type StepExpect struct {
	Name     string
	Pos      diag.Pos
	RowsIn   *Count
	RowsOut  *Count
	Rejected *Count
	// Rejects is nil when the key is absent (not checked); otherwise the
	// complete map of reasons.
	Rejects      map[string]*Count
	RejectNames  []string // file order
	RejectsPos   diag.Pos
	Counters     map[string]*Count
	CounterNames []string
}

// OutputExpect is what one written file must hold.
type OutputExpect struct {
	Path     string
	Pos      diag.Pos // of the path value
	Rows     *Count
	Columns  []string
	ColPos   []diag.Pos
	Contains []*RowExpect
}

// RowExpect is one expected row: some columns and their values.
type RowExpect struct {
	Pos    diag.Pos
	Keys   []string // file order
	Values map[string]any
}

// Count is an expected count: exact, or an inclusive range with optional
// bounds.
type Count struct {
	Pos      diag.Pos
	Min, Max int64
	HasMin   bool
	HasMax   bool
}

// Exact reports whether the count is one number.
func (c *Count) Exact() bool { return c.HasMin && c.HasMax && c.Min == c.Max }

// Match reports whether n is accepted.
func (c *Count) Match(n int64) bool {
	return (!c.HasMin || n >= c.Min) && (!c.HasMax || n <= c.Max)
}

// String renders the count as the diff shows it: 87, 80..90, >= 80, <= 90.
func (c *Count) String() string {
	switch {
	case c.Exact():
		return strconv.FormatInt(c.Min, 10)
	case c.HasMin && c.HasMax:
		return fmt.Sprintf("%d..%d", c.Min, c.Max)
	case c.HasMin:
		return fmt.Sprintf(">= %d", c.Min)
	case c.HasMax:
		return fmt.Sprintf("<= %d", c.Max)
	}
	return "any"
}

// DefaultRecipe is the recipe a test file names when it has no `recipe:`:
// its own name without .test (x.test.yaml → x.yaml).
func DefaultRecipe(testFile string) string {
	dir, base := filepath.Split(testFile)
	for _, ext := range []string{".yaml", ".yml"} {
		if strings.HasSuffix(base, ".test"+ext) {
			return filepath.Join(dir, strings.TrimSuffix(base, ".test"+ext)+ext)
		}
	}
	return ""
}

// IsTestFile reports whether path is named like a test file (*.test.yaml
// or *.test.yml).
func IsTestFile(path string) bool { return DefaultRecipe(path) != "" }

// TestFileFor is the test file beside a recipe: x.yaml → x.test.yaml.
func TestFileFor(recipeFile string) string {
	ext := filepath.Ext(recipeFile)
	return strings.TrimSuffix(recipeFile, ext) + ".test" + ext
}

// Load reads and validates a test file's own keys (not the recipe: see
// Validate). The Test is nil when the file cannot be read, partial when
// there are errors (see Parse).
func Load(file string) (*Test, diag.List) {
	data, err := os.ReadFile(file)
	if err != nil {
		var l diag.List
		l.Errorf(diag.Pos{File: file}, "reading test file: %v", unwrapPath(err))
		return nil, l
	}
	return Parse(file, data)
}

// Parse validates test file text; file names it in diagnostics and locates
// the recipe. With errors the Test is partial (what could be read): use it
// only to report more problems, never to run.
func Parse(file string, data []byte) (*Test, diag.List) {
	p := &parser{file: file}
	t := p.parse(data)
	p.diags.Sort()
	t.diags = p.diags
	return t, p.diags
}

type parser struct {
	file  string
	diags diag.List
}

func (p *parser) pos(n *yaml.Node) diag.Pos {
	if n == nil || n.Line == 0 {
		return diag.Pos{File: p.file}
	}
	return diag.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.diags.Errorf(p.pos(n), format, args...)
}

func (p *parser) errorHint(n *yaml.Node, hint, format string, args ...any) {
	p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: p.pos(n), Summary: fmt.Sprintf(format, args...), Detail: hint})
}

func (p *parser) parse(data []byte) *Test {
	t := &Test{File: p.file, Timeout: DefaultTimeout, Set: map[string]string{}, SetPos: map[string]diag.Pos{}}
	doc, err := parseYAML(data)
	if err != nil {
		p.diags.Add(yamlError(p.file, data, err))
		return t
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		p.errorf(doc, "a test file is a YAML mapping with the keys %s", strings.Join(names(Spec), ", "))
		return t
	}
	root := doc.Content[0]
	top := p.mapping(root, Spec, "")
	if v, ok := top[KeyCacoTest]; ok {
		if n, err := strconv.Atoi(v.Value); err != nil || n != FormatVersion {
			p.errorf(v, "unsupported test format %q: this caco reads format %d", v.Value, FormatVersion)
		}
	}
	t.Recipe = DefaultRecipe(p.file)
	t.RecipePos = diag.Pos{File: p.file}
	if v, ok := top[KeyRecipe]; ok && v.Kind == yaml.ScalarNode {
		r := v.Value
		if !filepath.IsAbs(r) {
			r = filepath.Join(filepath.Dir(p.file), r)
		}
		t.Recipe = r
		t.RecipePos = p.pos(v)
	} else if t.Recipe == "" {
		p.errorHint(root, "name the file NAME.test.yaml beside NAME.yaml, or add `recipe: FILE`",
			"missing `recipe:` and the file name does not end in .test.yaml")
	}
	if v, ok := top[KeyDescription]; ok {
		t.Description = v.Value
	}
	if v, ok := top[KeySet]; ok && v.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			if _, dup := t.Set[k.Value]; dup {
				p.errorf(k, "set: var %q appears twice", k.Value)
				continue
			}
			if val.Kind != yaml.ScalarNode {
				p.errorf(val, "set.%s: a var is a single value (string, number or bool), got %s", k.Value, kindName(val))
				continue
			}
			s := val.Value
			if val.Tag == "!!null" {
				s = ""
			}
			t.Set[k.Value] = s
			t.SetNames = append(t.SetNames, k.Value)
			t.SetPos[k.Value] = p.pos(k)
		}
	}
	if v, ok := top[KeyTimeout]; ok && v.Kind == yaml.ScalarNode {
		if d, err := op.ParseDuration(v.Value); err == nil && d > 0 {
			t.Timeout = d
		}
	}
	if v, ok := top[KeyExpect]; ok {
		ex := children(v)
		if s, ok := ex[KeySteps]; ok && s.Kind == yaml.MappingNode {
			t.Steps = p.steps(s)
		}
		if o, ok := ex[KeyOutputs]; ok && o.Kind == yaml.SequenceNode {
			t.Outputs = p.outputs(o)
		}
	}
	return t
}

// parseYAML decodes one document.
func parseYAML(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

func yamlError(file string, data []byte, err error) diag.Diagnostic {
	if err.Error() == "EOF" {
		return diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: file, Line: 1, Col: 1}, Summary: "YAML syntax error: empty test file"}
	}
	// the recipe parser's locator: the line where the problem is
	return recipe.SyntaxError(file, strings.Split(string(data), "\n"), err)
}

func label(path string) string {
	if path == "" {
		return "test file"
	}
	return path
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// mapping checks n's keys against fields, each value against its type, and
// returns the value nodes by key.
func (p *parser) mapping(n *yaml.Node, fields []Field, path string) map[string]*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping, got %s", label(path), kindName(n))
		return nil
	}
	got := map[string]*yaml.Node{}
	known := names(fields)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := got[k.Value]; dup {
			p.errorf(k, "%s: key %q appears twice", label(path), k.Value)
			continue
		}
		f, ok := fieldOf(fields, k.Value)
		if !ok {
			hint := diag.DidYouMean(k.Value, known)
			if hint == "" {
				hint = "known keys: " + strings.Join(known, ", ")
			}
			what := "key"
			if path == "" {
				what = "top-level key"
			}
			p.errorHint(k, hint, "%s: unknown %s %q", label(path), what, k.Value)
			continue
		}
		got[k.Value] = deref(v)
		p.value(deref(v), f, join(path, k.Value))
	}
	for _, f := range fields {
		if v, ok := got[f.Name]; f.Required && (!ok || isNull(v)) {
			p.errorf(n, "%s: missing required key %q", label(path), f.Name)
		}
	}
	return got
}

func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// value checks one value against its field's type.
func (p *parser) value(v *yaml.Node, f Field, path string) {
	switch f.Type {
	case TypeInt:
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
			p.errorf(v, "%s: want an integer, got %s", path, kindName(v))
		}
	case TypeString:
		if v.Kind != yaml.ScalarNode || isNull(v) {
			p.errorf(v, "%s: want a string, got %s", path, kindName(v))
		}
	case TypeDuration:
		if v.Kind != yaml.ScalarNode {
			p.errorf(v, "%s: want a duration such as 30s or 2m, got %s", path, kindName(v))
			return
		}
		d, err := op.ParseDuration(v.Value)
		if err != nil {
			p.errorf(v, "%s: %v", path, err)
		} else if d <= 0 {
			p.errorf(v, "%s: want a positive duration, got %q", path, v.Value)
		}
	case TypeCount:
		p.count(v, path)
	case TypeCounts:
		if v.Kind != yaml.MappingNode {
			p.errorf(v, "%s: want a mapping of names to counts, got %s", path, kindName(v))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := v.Content[i]
			if seen[k.Value] {
				p.errorf(k, "%s: key %q appears twice", path, k.Value)
			}
			seen[k.Value] = true
			p.count(deref(v.Content[i+1]), join(path, k.Value))
		}
	case TypeVars:
		if v.Kind != yaml.MappingNode && !isNull(v) {
			p.errorf(v, "%s: want a mapping of var names to values, got %s", path, kindName(v))
		}
	case TypeStrings:
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "%s: want a list of strings, got %s", path, kindName(v))
			return
		}
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || isNull(e) {
				p.errorf(e, "%s: want a string, got %s", path, kindName(e))
			}
		}
	case TypeRows:
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "%s: want a list of rows (mappings of column to value), got %s", path, kindName(v))
			return
		}
		for i, e := range v.Content {
			e = deref(e)
			if e.Kind != yaml.MappingNode || len(e.Content) == 0 {
				p.errorf(e, "%s[%d]: want a row: a mapping of column to value, got %s", path, i, kindName(e))
			}
		}
	case TypeObject:
		p.mapping(v, f.Fields, path)
	case TypeObjects:
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "%s: want a list, got %s", path, kindName(v))
			return
		}
		for i, e := range v.Content {
			p.mapping(e, f.Fields, fmt.Sprintf("%s[%d]", path, i))
		}
	case TypeSteps:
		if v.Kind != yaml.MappingNode {
			if !isNull(v) {
				p.errorf(v, "%s: want a mapping of step names to counts, got %s", path, kindName(v))
			}
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, e := v.Content[i], deref(v.Content[i+1])
			if seen[k.Value] {
				p.errorf(k, "%s: step %q appears twice", path, k.Value)
				continue
			}
			seen[k.Value] = true
			if isNull(e) {
				continue
			}
			p.mapping(e, f.Fields, join(path, k.Value))
		}
	}
}

// count checks a count: an integer, or a mapping with min and/or max.
func (p *parser) count(v *yaml.Node, path string) {
	switch v.Kind {
	case yaml.ScalarNode:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if v.Tag != "!!int" || err != nil {
			p.errorHint(v, "write a number, or {min: N, max: M}", "%s: want a count, got %s", path, kindName(v))
		} else if n < 0 {
			p.errorf(v, "%s: a count is not negative, got %d", path, n)
		}
	case yaml.MappingNode:
		got := p.mapping(v, countFields, path)
		if got == nil {
			return
		}
		lo, hasLo := got[KeyMin]
		hi, hasHi := got[KeyMax]
		if !hasLo && !hasHi {
			p.errorf(v, "%s: a range needs min, max or both", path)
			return
		}
		if hasLo && hasHi {
			a, e1 := strconv.ParseInt(lo.Value, 10, 64)
			b, e2 := strconv.ParseInt(hi.Value, 10, 64)
			if e1 == nil && e2 == nil && a > b {
				p.errorf(v, "%s: min %d is above max %d", path, a, b)
			}
		}
	default:
		p.errorHint(v, "write a number, or {min: N, max: M}", "%s: want a count, got %s", path, kindName(v))
	}
}

// countOf converts a checked count node.
func (p *parser) countOf(v *yaml.Node) *Count {
	c := &Count{Pos: p.pos(v)}
	if v.Kind == yaml.ScalarNode {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		c.Min, c.Max, c.HasMin, c.HasMax = n, n, true, true
		return c
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		n, _ := strconv.ParseInt(v.Content[i+1].Value, 10, 64)
		switch v.Content[i].Value {
		case KeyMin:
			c.Min, c.HasMin = n, true
		case KeyMax:
			c.Max, c.HasMax = n, true
		}
	}
	return c
}

func (p *parser) counts(v *yaml.Node) (map[string]*Count, []string) {
	m := map[string]*Count{}
	var order []string
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i].Value
		if _, dup := m[k]; dup {
			continue
		}
		m[k] = p.countOf(deref(v.Content[i+1]))
		order = append(order, k)
	}
	return m, order
}

func (p *parser) steps(n *yaml.Node) []*StepExpect {
	var out []*StepExpect
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		s := &StepExpect{Name: k.Value, Pos: p.pos(k)}
		out = append(out, s)
		if v.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			key, val := v.Content[j].Value, deref(v.Content[j+1])
			switch key {
			case KeyRowsIn:
				s.RowsIn = p.countOf(val)
			case KeyRowsOut:
				s.RowsOut = p.countOf(val)
			case KeyRejected:
				s.Rejected = p.countOf(val)
			case KeyRejects:
				if val.Kind == yaml.MappingNode {
					s.Rejects, s.RejectNames = p.counts(val)
					s.RejectsPos = p.pos(val)
				}
			case KeyCounters:
				if val.Kind == yaml.MappingNode {
					s.Counters, s.CounterNames = p.counts(val)
				}
			}
		}
	}
	return out
}

func (p *parser) outputs(n *yaml.Node) []*OutputExpect {
	var out []*OutputExpect
	for _, e := range n.Content {
		e = deref(e)
		if e.Kind != yaml.MappingNode {
			continue
		}
		o := &OutputExpect{Pos: p.pos(e)}
		for j := 0; j+1 < len(e.Content); j += 2 {
			key, val := e.Content[j].Value, deref(e.Content[j+1])
			switch key {
			case KeyPath:
				o.Path = val.Value
				o.Pos = p.pos(val)
				p.checkOutputPath(val, fmt.Sprintf("%s.%s[%d].%s", KeyExpect, KeyOutputs, len(out), KeyPath))
			case KeyRows:
				o.Rows = p.countOf(val)
			case KeyColumns:
				if val.Kind == yaml.SequenceNode {
					for _, c := range val.Content {
						o.Columns = append(o.Columns, c.Value)
						o.ColPos = append(o.ColPos, p.pos(c))
					}
				}
			case KeyContains:
				if val.Kind == yaml.SequenceNode {
					for _, r := range val.Content {
						if r = deref(r); r.Kind == yaml.MappingNode {
							o.Contains = append(o.Contains, p.row(r))
						}
					}
				}
			}
		}
		out = append(out, o)
	}
	return out
}

func (p *parser) checkOutputPath(v *yaml.Node, path string) {
	s := v.Value
	if v.Kind != yaml.ScalarNode || s == "" {
		return
	}
	if strings.Contains(s, "${") {
		p.errorHint(v, "write the path relative to the run folder: out.jsonl for ${run_dir}/out.jsonl",
			"%s: no interpolation in test files, got %q", path, s)
		return
	}
	clean := filepath.Clean(s)
	if filepath.IsAbs(s) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		p.errorHint(v, "write it relative to the run folder, e.g. out.jsonl for ${run_dir}/out.jsonl",
			"%s: %q is outside the run folder", path, s)
		return
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".jsonl", ".ndjson", ".json", ".parquet", ".pq":
	default:
		p.errorf(v, "%s: %q: can only read JSON lines (.jsonl .ndjson .json) and Parquet (.parquet .pq)", path, s)
	}
}

func (p *parser) row(n *yaml.Node) *RowExpect {
	r := &RowExpect{Pos: p.pos(n), Values: map[string]any{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, dup := r.Values[k.Value]; dup {
			p.errorf(k, "row: column %q appears twice", k.Value)
			continue
		}
		r.Keys = append(r.Keys, k.Value)
		r.Values[k.Value] = p.plain(n.Content[i+1])
	}
	return r
}

// plain converts a YAML value to the Go values op.Value produces: string,
// int, float64, bool, nil, []any, map[string]any. Timestamps and other
// tags stay strings.
func (p *parser) plain(n *yaml.Node) any {
	n = deref(n)
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			out[i] = p.plain(e)
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = p.plain(n.Content[i+1])
		}
		return out
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return int(i)
		}
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil && !math.IsNaN(f) {
			return f
		}
	}
	return n.Value
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// children returns a mapping's values by key (first wins), unchecked.
func children(n *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n == nil || n.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if _, dup := out[n.Content[i].Value]; !dup {
			out[n.Content[i].Value] = deref(n.Content[i+1])
		}
	}
	return out
}
