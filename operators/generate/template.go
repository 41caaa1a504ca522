package generate

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
)

// templateFuncs are available in prompt and message templates.
var templateFuncs = template.FuncMap{
	// json renders a value as exact, compact JSON; a null is an error
	// (the row is rejected as null_in_prompt unless the template gives a
	// default, as in {{json (or .j "none")}}).
	"json":    templateJSON,
	"trim":    strings.TrimSpace,
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
	"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"join":    join,
}

// join joins a list's items with sep: strings as they are, other values as
// JSON.
func join(sep string, v any) (string, error) {
	switch t := v.(type) {
	case []string:
		return strings.Join(t, sep), nil
	case jsonList:
		return join(sep, []any(t))
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			if s, ok := e.(string); ok {
				parts[i] = s
			} else {
				b, err := op.EncodeJSONValue(nil, e, nil)
				if err != nil {
					return "", err
				}
				parts[i] = string(b)
			}
		}
		return strings.Join(parts, sep), nil
	case nil:
		return "", errNull
	}
	return "", fmt.Errorf("join: want a list, got %T", v)
}

var tmplErrPos = regexp.MustCompile(`^template: [^:]*:(\d+):(?:(\d+):)? ?(.*)$`)

// compileTemplate parses src, the value of field, and checks that every
// column it reads from the row exists in in (or is one of extra). Problems
// are reported through p; it returns nil after an error.
func compileTemplate(p op.PlanContext, field, src string, in *arrow.Schema, extra ...string) *template.Template {
	t, err := template.New(field).Funcs(templateFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		msg := err.Error()
		line, col := 1, 1
		if m := tmplErrPos.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				col, _ = strconv.Atoi(m[2])
			}
			msg = m[3]
		}
		p.ErrorAt(field, line, col, "template: %s", msg)
		return nil
	}
	names := map[string]bool{}
	var all []string
	if in != nil {
		for _, f := range in.Fields() {
			names[f.Name] = true
			all = append(all, f.Name)
		}
	}
	for _, e := range extra {
		names[e] = true
		all = append(all, e)
	}
	sort.Strings(all)
	ok := true
	check := func(name string, pos parse.Pos) {
		if names[name] {
			return
		}
		ok = false
		line, col := position(src, int(pos))
		msg := fmt.Sprintf("template: no column %q in the input of this step", name)
		if h := diag.DidYouMean(name, all); h != "" {
			msg += " (" + h + ")"
		} else if len(all) > 0 {
			msg += " (columns: " + strings.Join(all, ", ") + ")"
		}
		p.ErrorAt(field, line, col, "%s", msg)
	}
	walkTemplate(t.Tree.Root, true, check)
	for _, tt := range t.Templates() {
		if tt != t && tt.Tree != nil {
			walkTemplate(tt.Tree.Root, false, check)
		}
	}
	if !ok {
		return nil
	}
	return t
}

// templateColumns returns the row columns t reads, in order of first use.
func templateColumns(t *template.Template) []string {
	var cols []string
	seen := map[string]bool{}
	add := func(name string, _ parse.Pos) {
		if !seen[name] {
			seen[name] = true
			cols = append(cols, name)
		}
	}
	walkTemplate(t.Tree.Root, true, add)
	for _, tt := range t.Templates() {
		if tt != t && tt.Tree != nil {
			walkTemplate(tt.Tree.Root, false, add)
		}
	}
	return cols
}

// position turns a byte offset of src into a 1-based line and column.
func position(src string, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	before := src[:off]
	line = strings.Count(before, "\n") + 1
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCountInString(before) + 1
}

// walkTemplate calls check for every row field the template reads: `.col`
// where dot is the row (dotIsRow), and `$.col` anywhere.
func walkTemplate(n parse.Node, dotIsRow bool, check func(string, parse.Pos)) {
	if n == nil {
		return
	}
	switch t := n.(type) {
	case *parse.ListNode:
		if t == nil {
			return
		}
		for _, c := range t.Nodes {
			walkTemplate(c, dotIsRow, check)
		}
	case *parse.ActionNode:
		walkTemplate(t.Pipe, dotIsRow, check)
	case *parse.PipeNode:
		if t == nil {
			return
		}
		for _, c := range t.Cmds {
			walkTemplate(c, dotIsRow, check)
		}
	case *parse.CommandNode:
		for _, a := range t.Args {
			walkTemplate(a, dotIsRow, check)
		}
	case *parse.FieldNode:
		if dotIsRow && len(t.Ident) > 0 {
			check(t.Ident[0], t.Pos)
		}
	case *parse.VariableNode:
		if len(t.Ident) > 1 && t.Ident[0] == "$" {
			check(t.Ident[1], t.Pos)
		}
	case *parse.ChainNode:
		walkTemplate(t.Node, dotIsRow, check)
	case *parse.IfNode:
		walkTemplate(t.Pipe, dotIsRow, check)
		walkTemplate(t.List, dotIsRow, check)
		walkTemplate(t.ElseList, dotIsRow, check)
	case *parse.RangeNode:
		walkTemplate(t.Pipe, dotIsRow, check)
		walkTemplate(t.List, false, check)
		walkTemplate(t.ElseList, dotIsRow, check)
	case *parse.WithNode:
		walkTemplate(t.Pipe, dotIsRow, check)
		walkTemplate(t.List, false, check)
		walkTemplate(t.ElseList, dotIsRow, check)
	case *parse.TemplateNode:
		walkTemplate(t.Pipe, dotIsRow, check)
	}
}
