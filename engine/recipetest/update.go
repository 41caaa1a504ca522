package recipetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caco-dev/caco/engine/run"
	"go.yaml.in/yaml/v3"
)

// Update rewrites the counts in res.Test's file from the run in res (which
// must have completed): every step of the recipe gets an entry under
// expect.steps — existing entries keep their keys, with rows_in, rows_out,
// rejected, each listed reject reason and each listed counter set to the
// actual count (a range that holds the actual count is kept), plus any new
// reject reason when the entry lists rejects; a step with no entry, or an
// empty one, gets rows_in, rows_out and its rejects. `rows:` of listed
// outputs is updated too; `contains:` never is. When only numbers change
// the file is edited in place (comments and layout untouched); otherwise it
// is re-encoded from its YAML nodes (comments kept, indentation normalised
// to two spaces). It reports whether the file changed.
func Update(res *Result) (bool, error) {
	if res.Stats == nil {
		return false, errors.New("updating expectations: the run did not complete")
	}
	file := res.Test.File
	data, err := os.ReadFile(file)
	if err != nil {
		return false, fmt.Errorf("updating expectations: %w", err)
	}
	out, changed, err := updateText(data, res.Stats, res.Outputs)
	if err != nil {
		return false, fmt.Errorf("updating %s: %w", file, err)
	}
	if !changed {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".caco-test-update-*")
	if err != nil {
		return false, fmt.Errorf("updating %s: %w", file, err)
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return false, fmt.Errorf("updating %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("updating %s: %w", file, err)
	}
	if fi, err := os.Stat(file); err == nil {
		_ = os.Chmod(tmp.Name(), fi.Mode().Perm())
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("updating %s: %w", file, err)
	}
	return true, nil
}

// edit replaces one plain scalar in place.
type edit struct {
	node *yaml.Node
	old  string
}

type updater struct {
	edits      []edit
	structural bool
}

func updateText(data []byte, stats *run.Stats, outputs map[string]*Output) ([]byte, bool, error) {
	doc, err := parseYAML(data)
	if err != nil {
		return nil, false, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, false, errors.New("not a test file (a YAML mapping)")
	}
	u := &updater{}
	root := doc.Content[0]
	expect := u.child(root, KeyExpect, yaml.MappingNode)
	steps := u.child(expect, KeySteps, yaml.MappingNode)
	for _, s := range stats.Steps {
		u.step(steps, s)
	}
	if outs := lookup(expect, KeyOutputs); outs != nil && outs.Kind == yaml.SequenceNode {
		for _, e := range outs.Content {
			e = deref(e)
			p := lookup(e, KeyPath)
			rows := lookupKey(e, KeyRows)
			if p == nil || rows < 0 {
				continue
			}
			if o := outputs[p.Value]; o != nil && o.Err == nil {
				u.setCount(e, rows+1, int64(len(o.Rows)))
			}
		}
	}
	if !u.structural && len(u.edits) == 0 {
		return data, false, nil
	}
	if !u.structural {
		if out, ok := splice(data, u.edits); ok {
			return out, true, nil
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, false, err
	}
	if err := enc.Close(); err != nil {
		return nil, false, err
	}
	return b.Bytes(), true, nil
}

// lookupKey returns the index of key's key node in mapping m, or -1.
func lookupKey(m *yaml.Node, key string) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if i := lookupKey(m, key); i >= 0 {
		return deref(m.Content[i+1])
	}
	return nil
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

func intNode(n int64) *yaml.Node { return scalar("!!int", strconv.FormatInt(n, 10)) }

// child returns m's mapping under key, adding (or replacing a null with) an
// empty one.
func (u *updater) child(m *yaml.Node, key string, kind yaml.Kind) *yaml.Node {
	if i := lookupKey(m, key); i >= 0 {
		v := deref(m.Content[i+1])
		if v.Kind == kind {
			return v
		}
		n := &yaml.Node{Kind: kind}
		m.Content[i+1] = n
		u.structural = true
		return n
	}
	n := &yaml.Node{Kind: kind}
	m.Content = append(m.Content, scalar("!!str", key), n)
	u.structural = true
	return n
}

var countKeys = []string{KeyRowsIn, KeyRowsOut, KeyRejected, KeyRejects}

func (u *updater) step(steps *yaml.Node, s *run.StepStats) {
	i := lookupKey(steps, s.Step)
	var e *yaml.Node
	if i >= 0 {
		e = deref(steps.Content[i+1])
	}
	empty := e == nil || e.Kind != yaml.MappingNode
	if !empty {
		empty = true
		for _, k := range countKeys {
			if lookupKey(e, k) >= 0 {
				empty = false
			}
		}
	}
	if empty {
		n := e
		if n == nil || n.Kind != yaml.MappingNode {
			n = &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		}
		n.Content = append(n.Content, scalar("!!str", KeyRowsIn), intNode(s.RowsIn), scalar("!!str", KeyRowsOut), intNode(s.RowsOut))
		if len(s.Rejects) > 0 {
			rj := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			for _, r := range sortedKeys(s.Rejects) {
				rj.Content = append(rj.Content, scalar("!!str", r), intNode(s.Rejects[r]))
			}
			n.Content = append(n.Content, scalar("!!str", KeyRejects), rj)
		}
		if i >= 0 {
			steps.Content[i+1] = n
		} else {
			steps.Content = append(steps.Content, scalar("!!str", s.Step), n)
		}
		u.structural = true
		return
	}
	for _, f := range []struct {
		key string
		n   int64
	}{{KeyRowsIn, s.RowsIn}, {KeyRowsOut, s.RowsOut}, {KeyRejected, s.Rejected}} {
		if j := lookupKey(e, f.key); j >= 0 {
			u.setCount(e, j+1, f.n)
		}
	}
	if rj := lookup(e, KeyRejects); rj != nil {
		if rj.Kind != yaml.MappingNode {
			rj.Kind, rj.Tag, rj.Value, rj.Style = yaml.MappingNode, "", "", yaml.FlowStyle
			u.structural = true
		}
		for j := 0; j+1 < len(rj.Content); j += 2 {
			u.setCount(rj, j+1, s.Rejects[rj.Content[j].Value])
		}
		var added []string
		for r, n := range s.Rejects {
			if n > 0 && lookupKey(rj, r) < 0 {
				added = append(added, r)
			}
		}
		sort.Strings(added)
		for _, r := range added {
			rj.Content = append(rj.Content, scalar("!!str", r), intNode(s.Rejects[r]))
			u.structural = true
		}
	}
	if cn := lookup(e, KeyCounters); cn != nil && cn.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(cn.Content); j += 2 {
			u.setCount(cn, j+1, s.Counters[cn.Content[j].Value])
		}
	}
}

// setCount sets the count at m.Content[j] to n, keeping a range that
// holds n.
func (u *updater) setCount(m *yaml.Node, j int, n int64) {
	v := deref(m.Content[j])
	want := strconv.FormatInt(n, 10)
	if v.Kind == yaml.MappingNode {
		p := &parser{}
		if c := p.countOf(v); (c.HasMin || c.HasMax) && c.Match(n) {
			return
		}
		m.Content[j] = intNode(n)
		u.structural = true
		return
	}
	if v.Kind == yaml.ScalarNode && v.Value == want && v.Tag == "!!int" {
		return
	}
	if v.Kind == yaml.ScalarNode && v.Style == 0 && v.Line > 0 {
		u.edits = append(u.edits, edit{node: v, old: v.Value})
		v.Value, v.Tag = want, "!!int"
		return
	}
	m.Content[j] = intNode(n)
	u.structural = true
}

// splice applies scalar edits to the original text; false when an edit's
// old text is not where the node says it is.
func splice(data []byte, edits []edit) ([]byte, bool) {
	lines := strings.SplitAfter(string(data), "\n")
	type at struct {
		line, off int
		e         edit
	}
	var all []at
	for _, e := range edits {
		li := e.node.Line - 1
		if li < 0 || li >= len(lines) {
			return nil, false
		}
		off, ok := runeOffset(lines[li], e.node.Column-1)
		if !ok || !strings.HasPrefix(lines[li][off:], e.old) {
			return nil, false
		}
		all = append(all, at{li, off, e})
	}
	// right to left within a line keeps earlier offsets valid
	sort.Slice(all, func(a, b int) bool {
		if all[a].line != all[b].line {
			return all[a].line < all[b].line
		}
		return all[a].off > all[b].off
	})
	for _, a := range all {
		l := lines[a.line]
		lines[a.line] = l[:a.off] + a.e.node.Value + l[a.off+len(a.e.old):]
	}
	return []byte(strings.Join(lines, "")), true
}

// runeOffset is the byte offset of the col-th rune (0-based) of s.
func runeOffset(s string, col int) (int, bool) {
	off := 0
	for i := 0; i < col; i++ {
		if off >= len(s) {
			return 0, false
		}
		_, size := utf8.DecodeRuneInString(s[off:])
		off += size
	}
	return off, true
}
