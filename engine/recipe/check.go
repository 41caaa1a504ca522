package recipe

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"go.yaml.in/yaml/v3"
)

// checker validates a YAML mapping against spec fields, recording the value
// node of every field path for later diagnostics.
type checker struct {
	p      *parser
	values map[string]*yaml.Node
	given  map[string]bool
	// where names the thing being checked in messages ("step \"x\"").
	where string
	// at is where a missing top-level key is reported (the step's name).
	at *yaml.Node
}

func (c *checker) fieldNames(fields []op.Field, extra []op.Field) []string {
	var names []string
	for _, f := range extra {
		names = append(names, f.Name)
	}
	for _, f := range fields {
		names = append(names, f.Name)
	}
	return names
}

// mapping checks the keys of mapping n against fields (plus extra keys that
// another layer handles) and returns the value nodes by key.
func (c *checker) mapping(n *yaml.Node, fields, extra []op.Field, path string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		c.p.errorf(n, "%s: want a mapping of keys, got %s", c.label(path), kindName(n))
		return nil
	}
	got := map[string]*yaml.Node{}
	names := c.fieldNames(fields, extra)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := got[k.Value]; dup {
			c.p.errorf(k, "%s: key %q appears twice", c.label(path), k.Value)
			continue
		}
		if !contains(names, k.Value) {
			hint := diag.DidYouMean(k.Value, names)
			if hint == "" {
				hint = "known keys: " + strings.Join(names, ", ")
			}
			c.p.errorHint(k, hint, "%s: unknown key %q", c.label(path), k.Value)
			continue
		}
		got[k.Value] = v
	}
	for _, f := range fields {
		fp := join(path, f.Name)
		v, ok := got[f.Name]
		if !ok || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			if f.Required {
				at := n
				if path == "" && c.at != nil {
					at = c.at
				}
				c.p.errorf(at, "%s: missing required key %q", c.label(path), f.Name)
			}
			continue
		}
		c.given[fp] = true
		c.value(v, f, fp)
	}
	return got
}

func (c *checker) label(path string) string {
	if path == "" {
		return c.where
	}
	return c.where + " " + path
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "null"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (c *checker) value(v *yaml.Node, f op.Field, path string) {
	c.values[path] = v
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	from := c.p.origin(v) // " from ${env:NAME}" for interpolated values
	scalar := func() bool {
		if v.Kind != yaml.ScalarNode {
			c.p.errorf(v, "%s: want a %s, got %s%s", c.label(path), f.Kind, kindName(v), from)
			return false
		}
		return true
	}
	switch f.Kind {
	case op.String, op.Path, op.Expr, op.Template:
		scalar()
	case op.Int:
		if !scalar() {
			return
		}
		n, err := strconv.ParseInt(v.Value, 0, 64)
		if err != nil {
			c.p.errorf(v, "%s: want an integer, got %q%s", c.label(path), v.Value, from)
			return
		}
		c.bounds(v, f, path, float64(n), v.Value)
	case op.Float:
		if !scalar() {
			return
		}
		x, err := strconv.ParseFloat(v.Value, 64)
		if err != nil {
			c.p.errorf(v, "%s: want a number, got %q%s", c.label(path), v.Value, from)
			return
		}
		c.bounds(v, f, path, x, v.Value)
	case op.Bool:
		if !scalar() {
			return
		}
		var b bool
		if err := v.Decode(&b); err != nil {
			c.p.errorf(v, "%s: want true or false, got %q%s", c.label(path), v.Value, from)
		}
	case op.Duration:
		if !scalar() {
			return
		}
		d, err := op.ParseDuration(v.Value)
		if err != nil {
			c.p.errorf(v, "%s: %v%s", c.label(path), err, from)
			return
		}
		c.bounds(v, f, path, d.Seconds(), v.Value)
	case op.Size:
		if !scalar() {
			return
		}
		if _, err := op.ParseSize(v.Value); err != nil {
			c.p.errorf(v, "%s: %v%s", c.label(path), err, from)
		}
	case op.Enum:
		if !scalar() {
			return
		}
		if !contains(f.Enum, v.Value) {
			c.p.errorHint(v, hintOr(diag.DidYouMean(v.Value, f.Enum), "one of: "+strings.Join(f.Enum, ", ")),
				"%s: %q is not one of %s%s", c.label(path), v.Value, strings.Join(f.Enum, ", "), from)
		}
	case op.Strings, op.Paths:
		if v.Kind == yaml.ScalarNode {
			return
		}
		if v.Kind != yaml.SequenceNode {
			c.p.errorf(v, "%s: want a string or a list of strings, got %s", c.label(path), kindName(v))
			return
		}
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				c.p.errorf(e, "%s: want a string, got %s", c.label(path), kindName(e))
			}
		}
	case op.Object:
		c.mapping(v, f.Fields, nil, path)
	case op.Objects:
		if v.Kind != yaml.SequenceNode {
			c.p.errorf(v, "%s: want a list, got %s", c.label(path), kindName(v))
			return
		}
		for i, e := range v.Content {
			ep := fmt.Sprintf("%s[%d]", path, i)
			c.values[ep] = e
			c.mapping(e, f.Fields, nil, ep)
		}
	case op.Map:
		if v.Kind != yaml.MappingNode {
			c.p.errorf(v, "%s: want a mapping, got %s", c.label(path), kindName(v))
			return
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, e := v.Content[i], v.Content[i+1]
			ep := join(path, k.Value)
			if f.Elem == op.Object {
				c.values[ep] = e
				c.mapping(e, f.Fields, nil, ep)
				continue
			}
			if f.Elem != "" && f.Elem != op.Any {
				c.value(e, op.Field{Name: k.Value, Kind: f.Elem, Enum: f.Enum}, ep)
			} else {
				c.values[ep] = e
			}
		}
	case op.Any:
	}
}

func (c *checker) bounds(v *yaml.Node, f op.Field, path string, x float64, text string) {
	if f.Min != nil && x < *f.Min {
		c.p.errorf(v, "%s: %s is below the minimum %v%s", c.label(path), text, *f.Min, c.p.origin(v))
	}
	if f.Max != nil && x > *f.Max {
		c.p.errorf(v, "%s: %s is above the maximum %v%s", c.label(path), text, *f.Max, c.p.origin(v))
	}
}

// withDefaults returns a copy of mapping n (nil for none) with defaults
// filled in for missing fields, nested objects included, and path fields
// resolved against dir.
func withDefaults(n *yaml.Node, fields []op.Field, dir string) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	have := map[string]*yaml.Node{}
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			have[n.Content[i].Value] = n.Content[i+1]
		}
	}
	for _, f := range fields {
		v, ok := have[f.Name]
		if ok && v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			ok = false
		}
		if !ok {
			if f.Default == nil {
				if f.Kind == op.Object && hasDefaults(f.Fields) && f.Required {
					v = withDefaults(nil, f.Fields, dir)
				} else {
					continue
				}
			} else {
				v = &yaml.Node{}
				if err := v.Encode(f.Default); err != nil {
					continue
				}
			}
		} else {
			v = fill(v, f, dir)
		}
		out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Name}, v)
	}
	return out
}

func hasDefaults(fields []op.Field) bool {
	for _, f := range fields {
		if f.Default != nil {
			return true
		}
	}
	return false
}

func fill(v *yaml.Node, f op.Field, dir string) *yaml.Node {
	switch f.Kind {
	case op.Path:
		if v.Kind == yaml.ScalarNode && v.Value != "" && !filepath.IsAbs(v.Value) && !strings.Contains(v.Value, "://") {
			c := *v
			c.Value = filepath.Join(dir, v.Value)
			return &c
		}
	case op.Object:
		if v.Kind == yaml.MappingNode {
			return withDefaults(v, f.Fields, dir)
		}
	case op.Objects:
		if v.Kind == yaml.SequenceNode {
			c := *v
			c.Content = nil
			for _, e := range v.Content {
				c.Content = append(c.Content, withDefaults(e, f.Fields, dir))
			}
			return &c
		}
	case op.Map:
		if v.Kind == yaml.MappingNode && (f.Elem == op.Object || f.Elem == op.Path) {
			c := *v
			c.Content = nil
			for i := 0; i+1 < len(v.Content); i += 2 {
				e := v.Content[i+1]
				if f.Elem == op.Object {
					e = withDefaults(e, f.Fields, dir)
				} else {
					e = fill(e, op.Field{Kind: op.Path}, dir)
				}
				c.Content = append(c.Content, v.Content[i], e)
			}
			return &c
		}
	case op.Paths:
		if v.Kind == yaml.ScalarNode {
			return fill(v, op.Field{Kind: op.Path}, dir)
		}
		if v.Kind == yaml.SequenceNode {
			c := *v
			c.Content = nil
			for _, e := range v.Content {
				c.Content = append(c.Content, fill(e, op.Field{Kind: op.Path}, dir))
			}
			return &c
		}
	}
	return v
}
