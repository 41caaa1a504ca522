package recipe

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"go.yaml.in/yaml/v3"
)

// fileUse is one path a step reads or writes, as the recipe gives it and
// resolved (absolute, symlinks followed where they exist).
type fileUse struct {
	step    *Step
	field   string
	node    *yaml.Node
	written string // after interpolation, as in the recipe
	abs     string // absolute, lexically clean
	real    string // symlinks followed as far as the path exists
	matches []string
}

// checkFiles refuses recipes that would destroy their own input: a written
// file that a step reads (the file itself, a match of a glob, a file inside
// a folder it loads), and one file written by two steps. Paths come from
// the fields whose spec has a Role, after interpolation.
func (p *parser) checkFiles() {
	var reads, writes []*fileUse
	for _, s := range p.r.Steps {
		if s.Spec == nil || s.Config == nil {
			continue
		}
		for _, u := range p.fileUses(s, s.Spec.Fields, "") {
			if u.role == op.RoleInput {
				reads = append(reads, u.fileUse)
			} else {
				writes = append(writes, u.fileUse)
			}
		}
	}
	byPath := map[string]*fileUse{}
	for _, w := range writes {
		if prev, dup := byPath[w.real]; dup {
			for _, pair := range [][2]*fileUse{{w, prev}, {prev, w}} {
				a, b := pair[0], pair[1]
				p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: p.pos(a.node),
					Summary: fmt.Sprintf("step %q %s: %s is also written by step %q (line %d): one would replace the other", a.step.Name, a.field, a.written, b.step.Name, b.node.Line),
					Detail:  "give each write its own path"})
			}
			continue
		}
		byPath[w.real] = w
		for _, r := range reads {
			if why := overlaps(w, r); why != "" {
				p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: p.pos(w.node),
					Summary: fmt.Sprintf("step %q %s: %s %s step %q reads (line %d): the run would replace its own input", w.step.Name, w.field, w.written, why, r.step.Name, r.node.Line),
					Detail:  "write somewhere else, e.g. ${run_dir}/" + filepath.Base(w.abs)})
			}
		}
	}
}

type roleUse struct {
	*fileUse
	role op.Role
}

// fileUses lists the paths of fields with a Role in a step's config.
func (p *parser) fileUses(s *Step, fields []op.Field, prefix string) []roleUse {
	var out []roleUse
	for _, f := range fields {
		path := join(prefix, f.Name)
		if f.Kind == op.Object {
			out = append(out, p.fileUses(s, f.Fields, path)...)
			continue
		}
		if f.Role == "" || (f.Kind != op.Path && f.Kind != op.Paths) {
			continue
		}
		n, ok := s.values[path]
		if !ok {
			continue
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		nodes := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			nodes = n.Content
		}
		for _, e := range nodes {
			if e.Kind != yaml.ScalarNode || e.Value == "" || strings.Contains(e.Value, "://") {
				continue
			}
			u := &fileUse{step: s, field: path, node: e, written: e.Value}
			u.abs = e.Value
			if !filepath.IsAbs(u.abs) {
				u.abs = filepath.Join(p.r.Dir, u.abs)
			}
			u.abs = filepath.Clean(u.abs)
			u.real = realPath(u.abs)
			if f.Role == op.RoleInput {
				if m, err := filepath.Glob(u.abs); err == nil {
					for _, x := range m {
						u.matches = append(u.matches, realPath(x))
					}
				}
			}
			out = append(out, roleUse{u, f.Role})
		}
	}
	return out
}

// realPath follows symlinks in the longest part of path that exists.
func realPath(path string) string {
	rest := ""
	for cur := path; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return path
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// overlaps says how writing w would touch what r reads, or "".
func overlaps(w, r *fileUse) string {
	targets := append([]string{w.abs}, w.real)
	for _, t := range targets {
		if t == r.abs || t == r.real {
			return "is the file"
		}
		for _, m := range r.matches {
			if t == m {
				return "is a file that"
			}
			if strings.HasPrefix(t, m+string(os.PathSeparator)) {
				return "is inside the folder that"
			}
		}
		for _, pat := range []string{r.abs, r.real} {
			if ok, _ := filepath.Match(pat, t); ok {
				return "matches the pattern that"
			}
		}
		if strings.HasPrefix(t, r.real+string(os.PathSeparator)) {
			return "is inside the folder that"
		}
	}
	return ""
}
