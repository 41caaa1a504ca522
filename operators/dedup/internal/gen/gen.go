// Package gen generates Python programs in the style of Code CoTs, and
// controlled variants of them, for dedup tests and benchmarks.
package gen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Program is a generated program before rendering.
type Program struct {
	Names    []string // variable names, by slot
	Consts   []string // constant values, one per input variable
	Stmts    []Stmt
	Comments []string // one before the inputs, one before the computation, one at the end
	Order    []int    // order of the input definitions
	Import   bool
	Loose    bool // extra blank lines and spacing (a whitespace variant)
}

// Stmt is one computation step: template t over variable slots.
type Stmt struct {
	T    int
	Args []int // slots read
	Out  int   // slot written
	C    string
}

var words = strings.Fields(`apple price total count speed time distance rate cost tax discount
	width height area volume radius side length weight mass force energy power amount share
	profit loss income budget salary bonus hours days weeks months years students books pages
	cars trees boxes eggs cookies coins marbles tickets seats liters meters grams score points
	average ratio percent interest balance deposit fee item unit batch step level stage result`)

var sentences = strings.Fields(`compute find determine calculate work out get evaluate figure`)
var topics = strings.Split("the total cost|the remaining amount|the average speed|the final balance|the area of the garden|how many items are left|the number of pages read|the weekly profit|the share of each person|the time needed", "|")

// templates render a statement: %[1]s is the output, %[2..4]s the inputs, %[5]s a constant.
var templates = []string{
	"%[1]s = %[2]s * %[3]s",
	"%[1]s = %[2]s + %[3]s",
	"%[1]s = %[2]s - %[3]s",
	"%[1]s = %[2]s / %[3]s",
	"%[1]s = (%[2]s + %[3]s) * %[4]s",
	"%[1]s = %[2]s ** 2 + %[3]s",
	"%[1]s = math.sqrt(%[2]s)",
	"%[1]s = max(%[2]s, %[3]s)",
	"%[1]s = min(%[2]s, %[3]s) * %[5]s",
	"%[1]s = round(%[2]s / %[3]s, 2)",
	"%[1]s = sum([%[2]s, %[3]s, %[4]s])",
	"%[1]s = %[2]s %% %[5]s",
	"%[1]s = abs(%[2]s - %[3]s)",
	"%[1]s = %[2]s // %[5]s",
	"%[1]s = math.ceil(%[2]s / %[3]s)",
	"%[1]s = %[2]s * (1 - %[3]s / 100)",
	"%[1]s = %[2]s\n    for _ in range(%[5]s):\n        %[1]s = %[1]s + %[3]s",
	"if %[2]s > %[3]s:\n        %[1]s = %[2]s - %[3]s\n    else:\n        %[1]s = %[3]s - %[2]s",
	"%[1]s = [%[2]s * k for k in range(1, %[5]s)]\n    %[1]s = sum(%[1]s)",
	"%[1]s = math.floor(%[2]s * %[3]s / %[4]s)",
}

// Gen draws programs from a seeded generator.
type Gen struct {
	r *rand.Rand
}

// New returns a generator; the same seed gives the same programs.
func New(seed uint64) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

func (g *Gen) name() string {
	a, b := words[g.r.IntN(len(words))], words[g.r.IntN(len(words))]
	if g.r.IntN(3) == 0 {
		return a
	}
	return a + "_" + b
}

func (g *Gen) names(n int) []string {
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		s := g.name()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (g *Gen) constant() string {
	switch g.r.IntN(4) {
	case 0:
		return strconv.FormatFloat(float64(g.r.IntN(10000))/100, 'f', 2, 64)
	default:
		return strconv.Itoa(2 + g.r.IntN(997))
	}
}

func (g *Gen) comment() string {
	v := sentences[g.r.IntN(len(sentences))]
	return fmt.Sprintf("# %s%s %s from %s and %s", strings.ToUpper(v[:1]), v[1:], topics[g.r.IntN(len(topics))], g.name(), g.name())
}

// Program draws a new program with about 600 bytes of text.
func (g *Gen) Program() *Program {
	nIn := 3 + g.r.IntN(2)
	nSt := 4 + g.r.IntN(4)
	p := &Program{Names: g.names(nIn + nSt), Import: g.r.IntN(2) == 0}
	for i := 0; i < nIn; i++ {
		p.Consts = append(p.Consts, g.constant())
		p.Order = append(p.Order, i)
	}
	for s := 0; s < nSt; s++ {
		avail := nIn + s
		st := Stmt{T: g.r.IntN(len(templates)), Out: nIn + s, C: strconv.Itoa(2 + g.r.IntN(20))}
		perm := g.r.Perm(avail)
		for k := 0; k < 3; k++ {
			st.Args = append(st.Args, perm[k%len(perm)])
		}
		p.Stmts = append(p.Stmts, st)
	}
	p.Comments = []string{g.comment(), g.comment(), g.comment()}
	return p
}

// Clone returns a deep copy.
func (p *Program) Clone() *Program {
	q := *p
	q.Names = append([]string(nil), p.Names...)
	q.Consts = append([]string(nil), p.Consts...)
	q.Comments = append([]string(nil), p.Comments...)
	q.Order = append([]int(nil), p.Order...)
	q.Stmts = make([]Stmt, len(p.Stmts))
	for i, s := range p.Stmts {
		s.Args = append([]int(nil), s.Args...)
		q.Stmts[i] = s
	}
	return &q
}

// Render writes the program as Python.
func (p *Program) Render() string {
	var b strings.Builder
	sep := "\n"
	if p.Loose {
		sep = "\n\n"
	}
	if p.Import {
		b.WriteString("import math" + sep + "\n")
	} else {
		b.WriteString("from math import sqrt, ceil, floor\nimport math" + sep + "\n")
	}
	b.WriteString("def solve():" + sep)
	b.WriteString("    " + p.Comments[0] + sep)
	for _, i := range p.Order {
		eq := " = "
		if p.Loose {
			eq = "  =  "
		}
		b.WriteString("    " + p.Names[i] + eq + p.Consts[i] + sep)
	}
	b.WriteString("    " + p.Comments[1] + sep)
	for _, s := range p.Stmts {
		n := func(k int) string { return p.Names[s.Args[k]] }
		b.WriteString("    " + fmt.Sprintf(templates[s.T], p.Names[s.Out], n(0), n(1), n(2), s.C) + sep)
	}
	b.WriteString("    " + p.Comments[2] + sep)
	b.WriteString("    return " + p.Names[len(p.Names)-1] + sep + "\n")
	b.WriteString("print(solve())\n")
	return b.String()
}

// Rename gives every variable a new name.
func (g *Gen) Rename(p *Program) *Program {
	q := p.Clone()
	for {
		q.Names = g.names(len(p.Names))
		clash := false
		for i := range q.Names {
			if q.Names[i] == p.Names[i] {
				clash = true
			}
		}
		if !clash {
			return q
		}
	}
}

// Recomment replaces the comments.
func (g *Gen) Recomment(p *Program) *Program {
	q := p.Clone()
	q.Comments = []string{g.comment(), g.comment(), g.comment()}
	return q
}

// Reorder swaps two input definitions (independent lines).
func (g *Gen) Reorder(p *Program) *Program {
	q := p.Clone()
	i := g.r.IntN(len(q.Order) - 1)
	q.Order[i], q.Order[i+1] = q.Order[i+1], q.Order[i]
	return q
}

// Loosen changes blank lines and spacing.
func (g *Gen) Loosen(p *Program) *Program {
	q := p.Clone()
	q.Loose = !q.Loose
	return q
}

// Reconst changes one constant: a different problem.
func (g *Gen) Reconst(p *Program) *Program {
	q := p.Clone()
	i := g.r.IntN(len(q.Consts))
	for c := q.Consts[i]; c == q.Consts[i]; {
		q.Consts[i] = g.constant()
	}
	return q
}

// Rand exposes the generator's source for callers composing variants.
func (g *Gen) Rand() *rand.Rand { return g.r }

// Edit rewrites one computation step with another template: a near
// duplicate or not, depending on how much of the program that line is.
func (g *Gen) Edit(p *Program) *Program {
	q := p.Clone()
	i := g.r.IntN(len(q.Stmts))
	for t := q.Stmts[i].T; t == q.Stmts[i].T; {
		q.Stmts[i].T = g.r.IntN(len(templates))
	}
	return q
}

// Drop removes one computation step other than the last.
func (g *Gen) Drop(p *Program) *Program {
	q := p.Clone()
	if len(q.Stmts) < 2 {
		return q
	}
	i := g.r.IntN(len(q.Stmts) - 1)
	q.Stmts = append(q.Stmts[:i], q.Stmts[i+1:]...)
	return q
}
