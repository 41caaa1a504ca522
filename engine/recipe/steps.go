package recipe

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"go.yaml.in/yaml/v3"
)

func (p *parser) models(n *yaml.Node) {
	r := p.r
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "`models:` is a mapping from model names to endpoints")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := r.Models[k.Value]; dup {
			p.errorf(k, "model %q defined twice", k.Value)
			continue
		}
		c := &checker{p: p, values: map[string]*yaml.Node{}, given: map[string]bool{}, where: fmt.Sprintf("model %q", k.Value), at: k}
		before := len(p.diags.Errors())
		c.mapping(v, op.ModelFields, nil, "")
		if len(p.diags.Errors()) > before {
			r.Models[k.Value] = nil
			continue
		}
		m := &op.ModelConfig{}
		if err := withDefaults(v, op.ModelFields, r.Dir).Decode(m); err != nil {
			p.errorf(v, "model %q: %v", k.Value, err)
			continue
		}
		m.Name = k.Value
		if m.APIKey != "" {
			r.Secrets = append(r.Secrets, m.APIKey)
		}
		if m.BaseURL == "" && len(m.Endpoints) == 0 && m.Replay == "" && m.Serve == nil {
			p.errorHint(k, "set base_url, endpoints, serve or replay", "model %q has no endpoint", k.Value)
		}
		r.Models[k.Value] = m
		r.ModelNames = append(r.ModelNames, k.Value)
	}
}

func (p *parser) steps(n *yaml.Node) {
	r := p.r
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "`steps:` is a mapping from step names to steps")
		return
	}
	if len(n.Content) == 0 {
		p.errorf(n, "a recipe needs at least one step")
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			p.errorHint(k, fmt.Sprintf("the first is at line %d; rename one", prev.Line), "duplicate step name %q", k.Value)
			continue
		}
		seen[k.Value] = k
		if !validName.MatchString(k.Value) {
			p.errorf(k, "step name %q: use letters, digits, '-', '_' and '.'", k.Value)
			continue
		}
		if s := p.step(k, v, len(r.Steps)); s != nil {
			r.Steps = append(r.Steps, s)
		}
	}
}

func (p *parser) step(k, v *yaml.Node, index int) *Step {
	r := p.r
	s := &Step{Name: k.Value, Index: index, Pos: p.pos(k), recipe: r, values: map[string]*yaml.Node{}, given: map[string]bool{}, Workers: 1}
	where := fmt.Sprintf("step %q", s.Name)
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "%s: want a mapping with at least `op:`", where)
		return nil
	}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		keys[v.Content[i].Value] = v.Content[i+1]
	}
	opNode, ok := keys[op.KeyOp]
	if !ok {
		p.errorHint(k, "add `op:` with one of: "+strings.Join(op.Names(), ", "), "%s: missing `op:`", where)
		return nil
	}
	spec, ok := op.Lookup(opNode.Value)
	if !ok {
		p.errorHint(opNode, hintOr(diag.DidYouMean(opNode.Value, op.Names()), "operators: "+strings.Join(op.Names(), ", ")),
			"%s: unknown op %q", where, opNode.Value)
		return nil
	}
	s.Op, s.Spec = spec.Name, spec
	c := &checker{p: p, values: s.values, given: s.given, where: where, at: k}
	before := len(p.diags.Errors())
	got := c.mapping(v, spec.Fields, op.CommonFields, "")
	// engine keys
	if in, ok := got[op.KeyInput]; ok {
		if _, both := got[op.KeyInputs]; both {
			p.errorf(in, "%s: use either `input:` or `inputs:`, not both", where)
		}
		if in.Kind != yaml.ScalarNode {
			p.errorHint(in, "use `inputs: [a, b]` for several", "%s: `input:` names one step", where)
		} else {
			s.Inputs = append(s.Inputs, in.Value)
			s.InputPos = append(s.InputPos, p.pos(in))
		}
	}
	if ins, ok := got[op.KeyInputs]; ok {
		switch ins.Kind {
		case yaml.SequenceNode:
			for _, e := range ins.Content {
				s.Inputs = append(s.Inputs, e.Value)
				s.InputPos = append(s.InputPos, p.pos(e))
			}
		case yaml.ScalarNode:
			s.Inputs = append(s.Inputs, ins.Value)
			s.InputPos = append(s.InputPos, p.pos(ins))
		default:
			p.errorf(ins, "%s: `inputs:` is a list of step names", where)
		}
	}
	if w, ok := got[op.KeyWorkers]; ok {
		s.given[op.KeyWorkers] = true
		c.value(w, op.CommonFields[3], op.KeyWorkers)
		_ = w.Decode(&s.Workers)
	}
	if d, ok := got[op.KeyDescription]; ok {
		s.Description = d.Value
	}
	if len(p.diags.Errors()) > before {
		return s
	}
	// decode the operator's config with defaults
	opCfg := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if !op.IsCommonKey(v.Content[i].Value) {
			opCfg.Content = append(opCfg.Content, v.Content[i], v.Content[i+1])
		}
	}
	resolved := withDefaults(opCfg, spec.Fields, r.Dir)
	cfg := spec.New()
	if err := resolved.Decode(cfg); err != nil {
		p.errorf(v, "%s: %v", where, cleanYAMLErr(err))
		return s
	}
	s.Config = cfg
	// the fingerprint's config shows values from the environment as the
	// reference that brought them (${env:NAME}), never their text; the
	// values themselves enter the fingerprint by an HMAC (see Step.Env)
	s.Canonical = canonical(withDefaults(p.placeholders(opCfg), spec.Fields, r.Dir), spec.Fields)
	s.Env = p.envUses(opCfg)
	return s
}

// EnvValue is a value a step's config took from the environment.
type EnvValue struct {
	Name  string // NAME of ${env:NAME}
	Value string // a secret: never written anywhere
}

// placeholders returns a copy of n in which every scalar that took a value
// from the environment holds its text as written (${env:NAME}) instead.
func (p *parser) placeholders(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if raw, ok := p.raw[n]; ok && p.hasEnv(n) {
			c := *n
			c.Value, c.Tag, c.Style = raw, "!!str", 0
			return &c
		}
		return n
	case yaml.MappingNode, yaml.SequenceNode, yaml.DocumentNode:
		c := *n
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, e := range n.Content {
			c.Content[i] = p.placeholders(e)
		}
		return &c
	}
	return n
}

func (p *parser) hasEnv(n *yaml.Node) bool {
	for _, u := range p.uses[n] {
		if u.env != "" {
			return true
		}
	}
	return false
}

// envUses lists the environment values used below n, sorted by name.
func (p *parser) envUses(n *yaml.Node) []EnvValue {
	seen := map[EnvValue]bool{}
	var out []EnvValue
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		for _, u := range p.uses[n] {
			if ev := (EnvValue{Name: u.env, Value: u.value}); u.env != "" && !seen[ev] {
				seen[ev] = true
				out = append(out, ev)
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Value < out[j].Value
	})
	return out
}

func cleanYAMLErr(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	return strings.TrimSpace(strings.ReplaceAll(msg, "\n ", ";"))
}

// canonical renders the resolved config as JSON with sorted keys, leaving out
// secret fields.
func canonical(n *yaml.Node, fields []op.Field) []byte {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil
	}
	stripSecrets(v, fields)
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return []byte(fmt.Sprint(v))
	}
	return b
}

func stripSecrets(v any, fields []op.Field) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, f := range fields {
		if f.Secret {
			delete(m, f.Name)
			continue
		}
		if f.Kind == op.Object {
			stripSecrets(m[f.Name], f.Fields)
		}
	}
}

// normalize turns YAML-decoded maps into JSON-encodable ones.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t[k] = normalize(t[k])
		}
		return t
	case map[any]any:
		out := map[string]any{}
		for k, e := range t {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		for i := range t {
			t[i] = normalize(t[i])
		}
	}
	return v
}

// Recipe returns the recipe a step belongs to.
func (s *Step) Recipe() *Recipe { return s.recipe }

// Has reports whether the recipe set a config field (a dotted path).
func (s *Step) Has(field string) bool { return s.given[field] }

// FieldPos returns the position of a field's value, or of the step.
func (s *Step) FieldPos(field string) diag.Pos {
	if n, ok := s.values[field]; ok {
		return diag.Pos{File: s.Pos.File, Line: n.Line, Col: n.Column}
	}
	return s.Pos
}

// PosIn returns the position of a 1-based line and column inside the text
// of a field's value (an expression or template).
func (s *Step) PosIn(field string, line, col int) diag.Pos {
	n, ok := s.values[field]
	if !ok {
		return s.Pos
	}
	p := &parser{file: s.Pos.File, r: s.recipe}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		return p.blockPos(n, line, col)
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return diag.Pos{File: s.Pos.File, Line: n.Line, Col: n.Column + col}
		}
	default:
		if line == 1 {
			return diag.Pos{File: s.Pos.File, Line: n.Line, Col: n.Column + col - 1}
		}
	}
	return diag.Pos{File: s.Pos.File, Line: n.Line + line - 1, Col: col}
}

// Redact replaces every secret of the recipe (api keys, values from the
// environment) in s with [redacted]. s must be plain text — a log line, an
// error, a ledger detail — redacted before it is encoded (JSON escaping
// would hide a secret from it). A short secret (under 6 bytes) is replaced
// only where it stands as a whole token, so that a 1-character value does
// not wipe out every such letter of a message.
func (r *Recipe) Redact(s string) string {
	if r == nil || len(r.Secrets) == 0 {
		return s
	}
	secrets := append([]string(nil), r.Secrets...)
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = redactOne(s, sec)
		}
	}
	return s
}

const redacted = "[redacted]"

func redactOne(s, sec string) string {
	if len(sec) >= 6 {
		return strings.ReplaceAll(s, sec, redacted)
	}
	first, _ := utf8.DecodeRuneInString(sec)
	last, _ := utf8.DecodeLastRuneInString(sec)
	var b strings.Builder
	for {
		i := strings.Index(s, sec)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(sec):])
		whole := !(i > 0 && isWord(first) && isWord(before)) && !(i+len(sec) < len(s) && isWord(last) && isWord(after))
		b.WriteString(s[:i])
		if whole {
			b.WriteString(redacted)
		} else {
			b.WriteString(sec)
		}
		s = s[i+len(sec):]
	}
}

func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
