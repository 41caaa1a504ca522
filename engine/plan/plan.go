// Package plan turns a validated recipe into an executable DAG: it links
// steps to their inputs (github.com/dominikbraun/graph, cycles prevented),
// orders them stably, and propagates Arrow schemas from sources to sinks,
// letting each operator check its column contract and compile its
// expressions once. The result is what `caco validate` checks and what the
// runner executes.
package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/recipe"
	"github.com/dominikbraun/graph"
)

// Plan is a recipe as a checked DAG.
type Plan struct {
	Recipe *recipe.Recipe
	// Nodes in stable topological order (file order breaks ties).
	Nodes  []*Node
	ByName map[string]*Node
}

// Node is one step in the plan.
type Node struct {
	Step    *recipe.Step
	Topo    int // position in Plan.Nodes
	Inputs  []*Node
	Outputs []*Node
	// In is the merged input schema (nil for sources); Out the output.
	In, Out *arrow.Schema
	// SourceIndex numbers the plan's sources (0, 1, ...); -1 for others.
	SourceIndex int
}

// Name returns the step name.
func (n *Node) Name() string { return n.Step.Name }

// IsSource reports whether the node's operator is a source.
func (n *Node) IsSource() bool { _, ok := n.Step.Config.(op.Source); return ok }

// IsSequential reports whether Process calls must be serial.
func (n *Node) IsSequential() bool { _, ok := n.Step.Config.(op.Sequential); return ok }

// Build links and checks a recipe. It returns the plan (possibly partial)
// and every problem found.
func Build(r *recipe.Recipe) (*Plan, diag.List) {
	var diags diag.List
	p := &Plan{Recipe: r, ByName: map[string]*Node{}}
	g := graph.New(func(n *Node) string { return n.Step.Name }, graph.Directed(), graph.PreventCycles())
	for _, s := range r.Steps {
		n := &Node{Step: s, SourceIndex: -1}
		p.ByName[s.Name] = n
		_ = g.AddVertex(n)
	}
	var names []string
	for _, s := range r.Steps {
		names = append(names, s.Name)
	}
	for _, s := range r.Steps {
		n := p.ByName[s.Name]
		if s.Config == nil {
			continue
		}
		isSource := n.IsSource()
		if isSource && len(s.Inputs) > 0 {
			diags.Errorf(s.InputPos[0], "step %q: op %s is a source and takes no input", s.Name, s.Op)
		}
		if !isSource && len(s.Inputs) == 0 {
			diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: s.Pos,
				Summary: fmt.Sprintf("step %q: missing input", s.Name),
				Detail:  "add `input: STEP` naming the step it reads"})
		}
		if n.IsSequential() && s.Workers > 1 {
			diags.Errorf(s.FieldPos(op.KeyWorkers), "step %q: op %s processes batches in order and cannot use workers > 1", s.Name, s.Op)
		}
		seen := map[string]bool{}
		for i, in := range s.Inputs {
			pos := s.InputPos[i]
			if seen[in] {
				diags.Errorf(pos, "step %q: input %q listed twice", s.Name, in)
				continue
			}
			seen[in] = true
			up, ok := p.ByName[in]
			if !ok {
				diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: pos,
					Summary: fmt.Sprintf("step %q: unknown input %q", s.Name, in),
					Detail:  hintOr(diag.DidYouMean(in, names), "steps: "+strings.Join(names, ", "))})
				continue
			}
			if in == s.Name {
				diags.Errorf(pos, "step %q reads itself: cycle %s → %s", s.Name, in, in)
				continue
			}
			if err := g.AddEdge(in, s.Name); err != nil {
				if errors.Is(err, graph.ErrEdgeCreatesCycle) {
					path, _ := graph.ShortestPath(g, s.Name, in)
					cycle := append([]string{in}, path...)
					diags.Errorf(pos, "step %q: input %q creates a cycle: %s", s.Name, in, strings.Join(cycle, " → "))
					continue
				}
				diags.Errorf(pos, "step %q: linking input %q: %v", s.Name, in, err)
				continue
			}
			n.Inputs = append(n.Inputs, up)
			up.Outputs = append(up.Outputs, n)
		}
	}
	order, err := graph.StableTopologicalSort(g, func(a, b string) bool {
		return p.ByName[a].Step.Index < p.ByName[b].Step.Index
	})
	if err != nil {
		diags.Errorf(diag.Pos{File: r.File}, "ordering steps: %v", err)
		return p, diags
	}
	sources := 0
	for i, name := range order {
		n := p.ByName[name]
		n.Topo = i
		if n.Step.Config != nil && n.IsSource() {
			n.SourceIndex = sources
			sources++
		}
		p.Nodes = append(p.Nodes, n)
	}
	if diags.HasErrors() {
		// schemas are only meaningful on a well-formed graph
		diags.Sort()
		return p, diags
	}
	for _, n := range p.Nodes {
		p.planNode(n, &diags)
	}
	diags.Sort()
	return p, diags
}

func hintOr(h, alt string) string {
	if h != "" {
		return h
	}
	return alt
}

func (p *Plan) planNode(n *Node, diags *diag.List) {
	s := n.Step
	if s.Config == nil {
		return
	}
	for _, in := range n.Inputs {
		if in.Out == nil {
			return // upstream failed; its error is reported already
		}
	}
	if len(n.Inputs) > 0 {
		n.In = n.Inputs[0].Out
		for i, in := range n.Inputs[1:] {
			if msg := schemaDiff(n.In, in.Out); msg != "" {
				diags.Add(diag.Diagnostic{Severity: diag.Error, Pos: s.InputPos[i+1],
					Summary: fmt.Sprintf("step %q: inputs %q and %q have different columns: %s", s.Name, n.Inputs[0].Name(), in.Name(), msg),
					Detail:  "fan-in needs the same columns with the same types; add a map step to align them"})
				return
			}
		}
	}
	pc := &planContext{p: p, step: s, diags: diags}
	before := len(diags.Errors())
	out := s.Config.Plan(pc, n.In)
	if out == nil && len(diags.Errors()) == before {
		diags.Errorf(s.Pos, "step %q: op %s produced no output schema", s.Name, s.Op)
	}
	if len(diags.Errors()) > before {
		return
	}
	n.Out = out
}

// schemaDiff describes how two schemas differ, or "" when they agree.
func schemaDiff(a, b *arrow.Schema) string {
	var diffs []string
	for _, f := range a.Fields() {
		idx := b.FieldIndices(f.Name)
		if len(idx) == 0 {
			diffs = append(diffs, fmt.Sprintf("%q only in the first", f.Name))
			continue
		}
		g := b.Field(idx[0])
		if op.TypeName(f) != op.TypeName(g) {
			diffs = append(diffs, fmt.Sprintf("%q is %s vs %s", f.Name, op.TypeName(f), op.TypeName(g)))
		}
	}
	for _, f := range b.Fields() {
		if len(a.FieldIndices(f.Name)) == 0 {
			diffs = append(diffs, fmt.Sprintf("%q only in the second", f.Name))
		}
	}
	if len(diffs) == 0 && a.NumFields() == b.NumFields() {
		for i := range a.Fields() {
			if a.Field(i).Name != b.Field(i).Name {
				return "same columns in a different order"
			}
		}
	}
	return strings.Join(diffs, "; ")
}

type planContext struct {
	p     *Plan
	step  *recipe.Step
	diags *diag.List
}

var _ op.PlanContext = (*planContext)(nil)

func (c *planContext) Step() string { return c.step.Name }

func (c *planContext) label() string { return fmt.Sprintf("step %q: ", c.step.Name) }

func (c *planContext) Errorf(field, format string, args ...any) {
	c.diags.Errorf(c.step.FieldPos(field), c.label()+c.fieldLabel(field)+format, args...)
}

func (c *planContext) fieldLabel(field string) string {
	if field == "" {
		return ""
	}
	return field + ": "
}

func (c *planContext) ErrorAt(field string, line, col int, format string, args ...any) {
	c.diags.Errorf(c.step.PosIn(field, line, col), c.label()+c.fieldLabel(field)+format, args...)
}

func (c *planContext) Warnf(field, format string, args ...any) {
	c.diags.Warnf(c.step.FieldPos(field), c.label()+c.fieldLabel(field)+format, args...)
}

func (c *planContext) Has(field string) bool { return c.step.Has(field) }

func (c *planContext) RecipeDir() string { return c.p.Recipe.Dir }

func (c *planContext) Model(name string) (*op.ModelConfig, bool) {
	m, ok := c.p.Recipe.Models[name]
	return m, ok && m != nil
}

func (c *planContext) ModelNames() []string { return c.p.Recipe.ModelNames }

// PlanStep plans one step of r against a given input schema, outside any
// DAG. Operator tests use it (through engine/optest).
func PlanStep(r *recipe.Recipe, s *recipe.Step, in *arrow.Schema) (*arrow.Schema, diag.List) {
	var diags diag.List
	p := &Plan{Recipe: r, ByName: map[string]*Node{}}
	pc := &planContext{p: p, step: s, diags: &diags}
	out := s.Config.Plan(pc, in)
	diags.Sort()
	return out, diags
}
