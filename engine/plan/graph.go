package plan

import (
	"fmt"
	"io"
	"strings"
)

// WriteDOT renders the plan as a Graphviz digraph.
func (p *Plan) WriteDOT(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", p.Recipe.Name)
	for _, n := range p.Nodes {
		label := n.Name() + "\\n(" + n.Step.Op + ")"
		if n.Step.Description != "" {
			label += "\\n" + escapeDOT(p.Recipe.Redact(n.Step.Description))
		}
		fmt.Fprintf(&b, "  %q [label=\"%s\"];\n", n.Name(), label)
	}
	for _, n := range p.Nodes {
		for _, in := range n.Inputs {
			fmt.Fprintf(&b, "  %q -> %q;\n", in.Name(), n.Name())
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func escapeDOT(s string) string {
	return strings.NewReplacer(`"`, `\"`, "\n", `\n`).Replace(s)
}

// WriteMermaid renders the plan as a Mermaid flowchart.
func (p *Plan) WriteMermaid(w io.Writer) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := func(name string) string { return "s_" + strings.NewReplacer("-", "_", ".", "_").Replace(name) }
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "  %s[\"%s<br/><i>%s</i>\"]\n", id(n.Name()), n.Name(), n.Step.Op)
	}
	for _, n := range p.Nodes {
		for _, in := range n.Inputs {
			fmt.Fprintf(&b, "  %s --> %s\n", id(in.Name()), id(n.Name()))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
