// Package recipe parses and validates caco recipes: YAML → interpolated,
// spec-checked, decoded steps. It is the first stage of the engine's flow
// (parse → validate → plan → run → checkpoint): every problem is collected as
// a diagnostic with its FILE:LINE:COL, nothing is executed.
package recipe

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"go.yaml.in/yaml/v3"
)

// FormatVersion is the recipe format this engine reads (the `caco:` key).
const FormatVersion = 1

// Top-level keys.
const (
	KeyCaco        = "caco"
	KeyName        = "name"
	KeyDescription = "description"
	KeyVars        = "vars"
	KeyModels      = "models"
	KeySteps       = "steps"
)

var topKeys = []string{KeyCaco, KeyName, KeyDescription, KeyVars, KeyModels, KeySteps, KeySlurm}

// Recipe is a parsed and validated recipe.
type Recipe struct {
	File        string // as given
	Dir         string // absolute folder, for relative paths
	Name        string
	Description string
	Vars        map[string]string
	VarNames    []string
	Models      map[string]*op.ModelConfig
	ModelNames  []string // file order
	Steps       []*Step  // file order
	Slurm       *Slurm   // `slurm:` defaults for caco slurm (nil when absent)
	// Secrets are values that must never be shown (api keys, and anything
	// taken from the environment into a secret field).
	Secrets []string
	lines   []string
}

// Step is one validated step.
type Step struct {
	Name        string
	Index       int // file order
	Op          string
	Spec        *op.Spec
	Inputs      []string
	InputPos    []diag.Pos
	Workers     int
	Description string
	// Config is the decoded operator config (Spec.New()), defaults applied.
	Config op.Planner
	// Canonical is the resolved config as canonical JSON without secret
	// fields, values from the environment shown as ${env:NAME}: the
	// config's part of the step fingerprint, safe to write.
	Canonical []byte
	// Env are the values the step's config took from the environment
	// (secrets: the fingerprint covers them by an HMAC).
	Env    []EnvValue
	Pos    diag.Pos // the step's key
	recipe *Recipe
	values map[string]*yaml.Node
	given  map[string]bool
}

// Options control interpolation.
type Options struct {
	// Set overrides vars (--set name=value).
	Set map[string]string
	// RunDir is the value of ${run_dir}.
	RunDir string
	// Getenv looks up ${env:NAME}; os.LookupEnv when nil.
	Getenv func(string) (string, bool)
}

// Load reads and validates a recipe file.
func Load(path string, opts Options) (*Recipe, diag.List) {
	data, err := os.ReadFile(path)
	if err != nil {
		var l diag.List
		l.Errorf(diag.Pos{File: path}, "reading recipe: %v", err)
		return nil, l
	}
	return Parse(path, data, opts)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse validates recipe text; file names it in diagnostics and locates
// relative paths.
func Parse(file string, data []byte, opts Options) (*Recipe, diag.List) {
	p := &parser{file: file, opts: opts, uses: map[*yaml.Node][]use{}, raw: map[*yaml.Node]string{}}
	r := p.parse(data)
	p.diags.Sort()
	if p.diags.HasErrors() {
		return r, p.diags
	}
	return r, p.diags
}

type parser struct {
	file  string
	opts  Options
	diags diag.List
	r     *Recipe
	// uses are the references resolved in each interpolated scalar, raw
	// its text as written (for scalars with references).
	uses map[*yaml.Node][]use
	raw  map[*yaml.Node]string
}

func (p *parser) pos(n *yaml.Node) diag.Pos {
	if n == nil {
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

func (p *parser) parse(data []byte) *Recipe {
	abs, _ := filepath.Abs(p.file)
	r := &Recipe{File: p.file, Dir: filepath.Dir(abs), Vars: map[string]string{}, Models: map[string]*op.ModelConfig{}}
	r.lines = strings.Split(string(data), "\n")
	p.r = r
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			p.diags.Errorf(diag.Pos{File: p.file, Line: 1, Col: 1}, "YAML syntax error: empty recipe")
			return r
		}
		p.syntaxError(err)
		return r
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		p.errorf(&doc, "a recipe is a YAML mapping with the keys %s", strings.Join(topKeys, ", "))
		return r
	}
	root := doc.Content[0]
	top := map[string]*yaml.Node{}
	topKey := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !contains(topKeys, k.Value) {
			p.errorHint(k, diag.DidYouMean(k.Value, topKeys), "unknown top-level key %q", k.Value)
			continue
		}
		if _, dup := top[k.Value]; dup {
			p.errorf(k, "key %q appears twice", k.Value)
			continue
		}
		top[k.Value] = v
		topKey[k.Value] = k
	}
	if v, ok := top[KeyCaco]; !ok {
		p.errorHint(root, "add `caco: 1` at the top", "missing format version `caco:`")
	} else if n, err := strconv.Atoi(v.Value); err != nil || n != FormatVersion {
		p.errorf(v, "unsupported recipe format %q: this caco reads format %d", v.Value, FormatVersion)
	}
	if v, ok := top[KeyName]; ok {
		r.Name = v.Value
		if !validName.MatchString(r.Name) {
			p.errorf(v, "name %q: use letters, digits, '-', '_' and '.' (it names the run folder)", r.Name)
		}
	} else {
		r.Name = strings.TrimSuffix(filepath.Base(p.file), filepath.Ext(p.file))
	}
	if v, ok := top[KeyDescription]; ok {
		r.Description = v.Value
	}
	p.vars(top[KeyVars])
	if v, ok := top[KeyModels]; ok {
		p.interpolate(v, KeyModels)
		p.models(v)
	}
	p.slurm(top[KeySlurm])
	if v, ok := top[KeySteps]; ok {
		p.interpolate(v, KeySteps)
		p.steps(v)
		p.checkFiles()
	} else {
		p.errorf(root, "missing `steps:`")
	}
	return r
}

// syntaxError reports a YAML syntax error at the line where the problem
// is (see SyntaxError).
func (p *parser) syntaxError(err error) {
	p.diags.Add(SyntaxError(p.file, p.r.lines, err))
}

// SyntaxError is the diagnostic for a YAML syntax error in the text of
// file (split into lines), at the line where the problem is. yaml v3's messages give the line of the enclosing construct, counted
// from 0 for parser errors and from 1 for scanner errors, so the line is
// found instead as the first line at which the text stops parsing: the
// shortest failing prefix of whole lines (errors that only say the text
// ended early, such as an unclosed quote, keep yaml's line, where the
// construct starts).
func SyntaxError(file string, lines []string, err error) diag.Diagnostic {
	msg, line := splitYAMLErr(err)
	fails := func(l int) (string, bool) {
		var n yaml.Node
		perr := yaml.Unmarshal([]byte(strings.Join(lines[:l], "\n")+"\n"), &n)
		if perr == nil {
			return "", false
		}
		m, _ := splitYAMLErr(perr)
		return m, !strings.Contains(m, "end of stream")
	}
	if len(lines) <= linearLines {
		for l := 1; l <= len(lines); l++ {
			if m, ok := fails(l); ok {
				msg, line = m, l
				break
			}
		}
	} else if m, ok := fails(len(lines)); ok {
		// long texts: bisect (a prefix that fails mostly stays failing)
		lo, hi, hiMsg := 0, len(lines), m
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if m, ok := fails(mid); ok {
				hi, hiMsg = mid, m
			} else {
				lo = mid
			}
		}
		msg, line = hiMsg, hi
	}
	if line < 1 {
		line = 1
	}
	col, hint := 1, ""
	if line-1 < len(lines) {
		l := lines[line-1]
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		col = len(indent) + 1
		if i := strings.IndexByte(indent, '\t'); i >= 0 {
			col = i + 1
			msg = "a tab character in the indentation"
			hint = "YAML indents with spaces only: replace the tab with spaces"
		} else if strings.Contains(msg, "end of stream") {
			hint = "a quote, [ or { opened here is not closed"
		} else if strings.Contains(msg, "did not find expected key") {
			hint = "check this line's indentation against the lines above it"
		}
	}
	return diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: file, Line: line, Col: col},
		Summary: "YAML syntax error: " + msg, Detail: hint}
}

// linearLines bounds the recipes whose syntax errors are located by
// reparsing every prefix (quadratic in the number of lines); longer texts
// are bisected.
const linearLines = 400

func splitYAMLErr(err error) (string, int) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return m[2], line
	}
	return strings.TrimPrefix(msg, "yaml: "), 0
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) vars(n *yaml.Node) {
	r := p.r
	if n != nil {
		if n.Kind != yaml.MappingNode {
			if n.Tag != "!!null" {
				p.errorf(n, "`vars:` is a mapping from names to values")
			}
		} else {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if _, dup := r.Vars[k.Value]; dup {
					p.errorf(k, "var %q defined twice", k.Value)
					continue
				}
				if v.Kind != yaml.ScalarNode {
					p.errorf(v, "var %q: a var is a single value (string, number or bool)", k.Value)
					continue
				}
				r.Vars[k.Value] = v.Value
				r.VarNames = append(r.VarNames, k.Value)
			}
		}
	}
	keys := make([]string, 0, len(p.opts.Set))
	for k := range p.opts.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := r.Vars[k]; !ok {
			p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: p.file},
				Summary: fmt.Sprintf("--set %s: the recipe declares no var %q", k, k),
				Detail:  hintOr(diag.DidYouMean(k, r.VarNames), "declare it under `vars:`")})
			continue
		}
		r.Vars[k] = p.opts.Set[k]
	}
}

func hintOr(h, alt string) string {
	if h != "" {
		return h
	}
	return alt
}

// PeekName returns the recipe's `name:` (or the file's base name) without
// validating anything, so that the run folder can be chosen before
// ${run_dir} is interpolated.
func PeekName(file string, data []byte) string {
	var top struct {
		Name string `yaml:"name"`
	}
	if yaml.Unmarshal(data, &top) == nil && validName.MatchString(top.Name) {
		return top.Name
	}
	return strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
}
