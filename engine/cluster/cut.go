// Package cluster cuts a plan into phases for sharded runs (Slurm job
// arrays, `caco run --shard` on several machines) and puts the shards back
// together.
//
// Every operator's spec says whether it is row-local (its output for a
// batch depends only on that batch) or global (dedup, limit, vote, write:
// it needs every batch). Row-local steps can be split between shards by
// source batch; a global step is a barrier where the shards meet. The cut
// numbers the barriers: a step's level is the number of global steps a
// batch crosses to reach it, and the run alternates
//
//	array 0 (row-local, level 0) → merge 0 (global, level 0) → array 1 → merge 1 → ...
//
// An array phase runs as N shards, shard i taking the batches whose source
// batch number ≡ i (mod N), each in RUN_DIR/shard-000i-of-000N. A merge
// phase runs in RUN_DIR itself after gathering (hard-linking) every shard's
// committed batches: batch ids are stable and the runner orders streams by
// them, so the global steps see exactly the batches, in exactly the order,
// of a one-machine run, and the final files are byte-identical to it.
package cluster

import (
	"fmt"
	"strings"

	"github.com/caco-dev/caco/engine/plan"
)

// Phase is a group of steps that run together: one Slurm array (row-local)
// or one job (global).
type Phase struct {
	// Index is the phase's position in Cut.Phases.
	Index int
	// Global is true for a merge phase (one job over every shard's rows),
	// false for an array phase (one task per shard).
	Global bool
	// Level is the number of barriers before the phase.
	Level int
	// Steps in the plan's topological order.
	Steps []*plan.Node
}

// Name is "array K" or "merge K".
func (ph *Phase) Name() string {
	if ph.Global {
		return fmt.Sprintf("merge %d", ph.Level)
	}
	return fmt.Sprintf("array %d", ph.Level)
}

// StepNames lists the phase's steps.
func (ph *Phase) StepNames() []string {
	var out []string
	for _, n := range ph.Steps {
		out = append(out, n.Name())
	}
	return out
}

// Cut is a plan cut into phases.
type Cut struct {
	Plan   *plan.Plan
	Phases []*Phase
	of     map[string]*Phase
}

// IsRowLocal reports whether a step's operator declares itself row-local.
func IsRowLocal(n *plan.Node) bool {
	return n.Step.Spec != nil && n.Step.Spec.RowLocal
}

// New cuts p into phases. Levels: a row-local step is at the highest level
// of its inputs, plus one for an input that is global (its rows come out
// of a merge); a global step is at the highest level of its inputs (global
// steps in a row share one merge job). Empty phases are left out.
func New(p *plan.Plan) *Cut {
	level := map[string]int{}
	maxLevel := 0
	for _, n := range p.Nodes {
		l := 0
		for _, in := range n.Inputs {
			li := level[in.Name()]
			if IsRowLocal(n) && !IsRowLocal(in) {
				li++
			}
			l = max(l, li)
		}
		level[n.Name()] = l
		maxLevel = max(maxLevel, l)
	}
	c := &Cut{Plan: p, of: map[string]*Phase{}}
	for l := 0; l <= maxLevel; l++ {
		for _, global := range []bool{false, true} {
			ph := &Phase{Global: global, Level: l}
			for _, n := range p.Nodes {
				if level[n.Name()] == l && IsRowLocal(n) != global {
					ph.Steps = append(ph.Steps, n)
				}
			}
			if len(ph.Steps) == 0 {
				continue
			}
			ph.Index = len(c.Phases)
			c.Phases = append(c.Phases, ph)
			for _, n := range ph.Steps {
				c.of[n.Name()] = ph
			}
		}
	}
	return c
}

// PhaseOf returns the phase of a step.
func (c *Cut) PhaseOf(step string) *Phase { return c.of[step] }

// Sharded reports whether the plan has a barrier at all: false when every
// step is row-local, so shards never need to meet.
func (c *Cut) Sharded() bool {
	for _, ph := range c.Phases {
		if ph.Global {
			return true
		}
	}
	return false
}

// String describes the cut, one phase a line.
func (c *Cut) String() string {
	var b strings.Builder
	for _, ph := range c.Phases {
		fmt.Fprintf(&b, "%s: %s\n", ph.Name(), strings.Join(ph.StepNames(), ", "))
	}
	return b.String()
}

// Sub returns the plan that runs phase k: its steps and every step they
// read from, directly or not (those are complete by then and are only
// reused from their checkpoints). Steps of later phases, and earlier steps
// nothing in phase k needs (such as writers), are left out. Nodes keep
// their topological positions and source numbers, so batch ids and step
// fingerprints are those of the whole plan.
func (c *Cut) Sub(k int) *plan.Plan {
	keep := map[string]bool{}
	var visit func(n *plan.Node)
	visit = func(n *plan.Node) {
		if keep[n.Name()] {
			return
		}
		keep[n.Name()] = true
		for _, in := range n.Inputs {
			visit(in)
		}
	}
	for _, n := range c.Phases[k].Steps {
		visit(n)
	}
	return c.restrict(keep)
}

// UpTo returns the plan of phases 0..k and what they read.
func (c *Cut) UpTo(k int) *plan.Plan {
	keep := map[string]bool{}
	for _, ph := range c.Phases[:k+1] {
		for _, n := range ph.Steps {
			keep[n.Name()] = true
		}
	}
	return c.restrict(keep)
}

func (c *Cut) restrict(keep map[string]bool) *plan.Plan {
	p := c.Plan
	r := *p.Recipe
	r.Steps = nil
	for _, s := range p.Recipe.Steps {
		if keep[s.Name] {
			r.Steps = append(r.Steps, s)
		}
	}
	sub := &plan.Plan{Recipe: &r, ByName: map[string]*plan.Node{}}
	for _, n := range p.Nodes {
		if !keep[n.Name()] {
			continue
		}
		cp := *n
		cp.Inputs, cp.Outputs = nil, nil
		sub.Nodes = append(sub.Nodes, &cp)
		sub.ByName[n.Name()] = &cp
	}
	for _, n := range p.Nodes {
		cp := sub.ByName[n.Name()]
		if cp == nil {
			continue
		}
		for _, in := range n.Inputs {
			if x := sub.ByName[in.Name()]; x != nil {
				cp.Inputs = append(cp.Inputs, x)
			}
		}
		for _, out := range n.Outputs {
			if x := sub.ByName[out.Name()]; x != nil {
				cp.Outputs = append(cp.Outputs, x)
			}
		}
	}
	return sub
}
