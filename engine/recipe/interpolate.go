package recipe

import (
	"os"
	"strings"

	"github.com/caco-dev/caco/engine/diag"
	"go.yaml.in/yaml/v3"
)

// Passed through untouched for operators to fill in at run time.
var lateRefs = map[string]bool{"port": true}

// interpolate replaces ${vars.NAME}, ${env:NAME}, ${env:NAME:-default} and
// ${run_dir} in every scalar value below n. `$${` stands for a literal `${`.
func (p *parser) interpolate(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.interpolate(n.Content[i+1], path+"."+n.Content[i].Value)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			p.interpolate(c, path)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		out, safe, changed := p.expand(n)
		if p.hasEnv(n) {
			p.raw[n] = safe
		}
		if changed {
			n.Value = out
			if n.Style == 0 || n.Style == yaml.TaggedStyle {
				n.Tag = "" // let YAML resolve the new text (a var may hold a number)
			}
		}
	}
}

// expand returns n's text interpolated, and the same text with values from
// the environment left as their references (what may be written).
func (p *parser) expand(n *yaml.Node) (string, string, bool) {
	s := n.Value
	var b, safe strings.Builder
	changed := false
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			safe.WriteString("$${")
			i += 3
			changed = true
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			safe.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: p.offsetPos(n, i), Summary: "unclosed ${ in value", Detail: "write $${ for a literal ${"})
			return s, s, false
		}
		ref := s[i+2 : i+end]
		val, ok := p.resolve(n, i, ref)
		if ok {
			u := use{ref: "${" + ref + "}", env: p.envName(ref), value: val}
			p.uses[n] = append(p.uses[n], u)
			if u.env != "" {
				safe.WriteString(u.ref)
			} else {
				safe.WriteString(val)
			}
		}
		if !ok {
			b.WriteString(s[i : i+end+1])
			safe.WriteString(s[i : i+end+1])
		} else {
			b.WriteString(val)
			changed = true
		}
		i += end + 1
	}
	return b.String(), safe.String(), changed
}

func (p *parser) resolve(n *yaml.Node, off int, ref string) (string, bool) {
	r := p.r
	switch {
	case strings.HasPrefix(ref, "vars."):
		name := strings.TrimPrefix(ref, "vars.")
		if v, ok := r.Vars[name]; ok {
			return v, true
		}
		p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: p.offsetPos(n, off),
			Summary: "unresolved ${vars." + name + "}: no var " + quote(name),
			Detail:  hintOr(diag.DidYouMean(name, r.VarNames), "declare it under `vars:` or pass --set "+name+"=VALUE")})
		return "", false
	case strings.HasPrefix(ref, "env:"):
		name, def, hasDef := strings.Cut(strings.TrimPrefix(ref, "env:"), ":-")
		get := p.opts.Getenv
		if get == nil {
			get = os.LookupEnv
		}
		v, ok := get(name)
		if !ok || v == "" {
			if hasDef {
				return def, true
			}
			state := "is not set"
			if ok {
				state = "is set to an empty value"
			}
			p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: p.offsetPos(n, off),
				Summary: "${env:" + name + "}: the environment variable " + name + " " + state,
				Detail:  "export " + name + "=VALUE, or give a default: ${env:" + name + ":-VALUE} (${env:" + name + ":-} accepts an empty value)"})
			return "", false
		}
		// every value from the environment is a secret, whatever its length
		r.Secrets = append(r.Secrets, v)
		return v, true
	case ref == "run_dir":
		return p.opts.RunDir, true
	case lateRefs[ref]:
		return "", false
	}
	p.diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: p.offsetPos(n, off),
		Summary: "unknown reference ${" + ref + "}",
		Detail:  "use ${vars.NAME}, ${env:NAME}, ${env:NAME:-default} or ${run_dir}"})
	return "", false
}

// offsetPos is the position of byte off inside a scalar's text.
func (p *parser) offsetPos(n *yaml.Node, off int) diag.Pos {
	pos := p.pos(n)
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		pos.Col += 1 + off
	case yaml.LiteralStyle, yaml.FoldedStyle:
		line := strings.Count(n.Value[:off], "\n")
		lastNL := strings.LastIndexByte(n.Value[:off], '\n')
		return p.blockPos(n, line+1, off-lastNL)
	default:
		pos.Col += off
	}
	return pos
}

// blockPos locates 1-based line and col inside a block scalar's content.
func (p *parser) blockPos(n *yaml.Node, line, col int) diag.Pos {
	srcLine := n.Line + line // content starts on the line after the indicator
	// the block's indentation is that of its first non-blank line
	indent := 0
	for i := n.Line; i < len(p.r.lines); i++ {
		if l := p.r.lines[i]; strings.TrimSpace(l) != "" {
			indent = len(l) - len(strings.TrimLeft(l, " "))
			break
		}
	}
	return diag.Pos{File: p.file, Line: srcLine, Col: indent + col}
}

func quote(s string) string { return "\"" + s + "\"" }

// use is one ${...} reference resolved in a scalar.
type use struct {
	ref   string // as written: ${env:NAME}, ${vars.x}
	env   string // the variable's name for ${env:...}, else ""
	value string
}

func (p *parser) envName(ref string) string {
	if !strings.HasPrefix(ref, "env:") {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(ref, "env:"), ":-")
	return name
}

// origin names the references a value came from, for type errors:
// ` from ${env:CACO_TEMP}`; "" for a value written in the recipe.
func (p *parser) origin(n *yaml.Node) string {
	uses := p.uses[n]
	if len(uses) == 0 {
		return ""
	}
	refs := make([]string, len(uses))
	for i, u := range uses {
		refs[i] = u.ref
	}
	return " from " + strings.Join(refs, " and ")
}
