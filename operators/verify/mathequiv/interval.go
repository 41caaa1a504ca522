package mathequiv

import (
	"math"
	"math/big"
	"sort"
)

// Intervals: intervals ([a, b), (-\infty, 3]), unions of them, \mathbb{R},
// and inequalities in one variable (-2 \le x \le 7, -x > -1, x < -1 or
// x > 2) all denote sets of reals and are compared as such: the same
// pieces, the same endpoints (exactly when both are rational) and the same
// open or closed ends.

// end is an interval endpoint: ±infinity, an exact rational or a float.
type end struct {
	inf int // -1: -infinity, +1: +infinity
	r   *big.Rat
	f   float64
}

type ival struct {
	lo, hi         end
	loOpen, hiOpen bool
}

var (
	negInf = end{inf: -1, f: math.Inf(-1)}
	posInf = end{inf: 1, f: math.Inf(1)}
)

// isIntervalish reports whether v can only be a set of reals.
func isIntervalish(v *val) bool {
	switch v.k {
	case vRel, vUnion:
		return true
	case vSeq:
		if v.open != brBare || len(v.items) == 0 {
			return false
		}
		for _, it := range v.items {
			if it.k != vRel {
				return false
			}
		}
		return true
	case vScalar:
		return v.norm == `\mathbb{R}`
	}
	return false
}

// relVar returns the variable of a relation answer ("" for none or many).
func relVar(v *val) string {
	switch v.k {
	case vRel:
		if len(v.lvars) == 1 {
			return v.lvars[0]
		}
	case vSeq:
		name := ""
		for _, it := range v.items {
			n := relVar(it)
			if n == "" || name != "" && n != name {
				return ""
			}
			name = n
		}
		return name
	}
	return ""
}

// sameVar reports whether two interval answers speak of the same variable
// (an interval literal has none and matches any).
func sameVar(x, y *val) bool {
	a, b := relVar(x), relVar(y)
	return a == "" || b == "" || a == b
}

func endOf(n *node) (end, bool) {
	if hasInf(n) {
		f := approx(n, nil)
		switch {
		case math.IsInf(f, 1):
			return posInf, true
		case math.IsInf(f, -1):
			return negInf, true
		}
		return end{}, false
	}
	if r, ok := exact(n); ok {
		f, _ := r.Float64()
		return end{r: r, f: f}, true
	}
	f := approx(n, nil)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return end{}, false
	}
	return end{f: f}, true
}

// toIntervals reads v as a union of intervals.
func toIntervals(v *val, o *Options) ([]ival, bool) {
	switch v.k {
	case vScalar:
		if v.norm == `\mathbb{R}` {
			return []ival{{lo: negInf, hi: posInf, loOpen: true, hiOpen: true}}, true
		}
	case vSeq:
		if v.open == brBare {
			if !isIntervalish(v) {
				return nil, false
			}
			var out []ival
			for _, it := range v.items {
				iv, ok := toIntervals(it, o)
				if !ok {
					return nil, false
				}
				out = append(out, iv...)
			}
			return out, true
		}
		if len(v.items) != 2 || (v.open != '(' && v.open != '[') || (v.close != ')' && v.close != ']') {
			return nil, false
		}
		a, b := v.items[0], v.items[1]
		if a.k != vScalar || b.k != vScalar || len(a.vars) > 0 || len(b.vars) > 0 {
			return nil, false
		}
		lo, ok1 := endOf(a.expr)
		hi, ok2 := endOf(b.expr)
		if !ok1 || !ok2 {
			return nil, false
		}
		return []ival{{lo: lo, hi: hi, loOpen: v.open == '(', hiOpen: v.close == ')'}}, true
	case vUnion:
		var out []ival
		for _, it := range v.items {
			iv, ok := toIntervals(it, o)
			if !ok {
				return nil, false
			}
			out = append(out, iv...)
		}
		return out, true
	case vRel:
		return relIntervals(v)
	}
	return nil, false
}

// relIntervals reads a relation (chain) in one variable whose sides are
// linear in it.
func relIntervals(v *val) ([]ival, bool) {
	if len(v.lvars) != 1 {
		return nil, false
	}
	t := v.lvars[0]
	sides, rels := v.chain, v.rels
	if sides == nil {
		sides, rels = []*node{v.lhs, v.rhs}, []string{v.rel}
	}
	cur := ival{lo: negInf, hi: posInf, loOpen: true, hiOpen: true}
	for i, rel := range rels {
		d := &node{k: nAdd, kids: []*node{sides[i], {k: nNeg, a: sides[i+1]}}}
		root, up, ok := linearRoot(d, t)
		if !ok {
			return nil, false
		}
		// d rel 0 with d = a(t - root): for a > 0, t rel root
		if !up {
			rel = map[string]string{"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}[rel]
		}
		switch rel {
		case "!=":
			if len(rels) != 1 {
				return nil, false
			}
			return []ival{{lo: negInf, hi: root, loOpen: true, hiOpen: true}, {lo: root, hi: posInf, loOpen: true, hiOpen: true}}, true
		case "<", "<=":
			open := rel == "<"
			if c := cmpEnd(root, cur.hi); c < 0 || c == 0 && open {
				cur.hi, cur.hiOpen = root, open
			}
		case ">", ">=":
			open := rel == ">"
			if c := cmpEnd(root, cur.lo); c > 0 || c == 0 && open {
				cur.lo, cur.loOpen = root, open
			}
		}
	}
	return []ival{cur}, true
}

// subst replaces the variable name with the number r.
func subst(n *node, name string, r *big.Rat) *node {
	if n == nil {
		return nil
	}
	if n.k == nVar {
		if n.name == name {
			return &node{k: nNum, r: r}
		}
		return n
	}
	c := *n
	c.a, c.b = subst(n.a, name, r), subst(n.b, name, r)
	if n.kids != nil {
		c.kids = make([]*node, len(n.kids))
		for i, k := range n.kids {
			c.kids[i] = subst(k, name, r)
		}
	}
	return &c
}

// linearRoot writes d(t) = a (t - root) and returns root and a > 0; false
// when d is not linear in t or a = 0.
func linearRoot(d *node, t string) (end, bool, bool) {
	at := func(x int64) (*big.Rat, bool) { return exact(subst(d, t, big.NewRat(x, 1))) }
	d0, ok0 := at(0)
	d1, ok1 := at(1)
	d2, ok2 := at(2)
	d7, ok7 := exact(subst(d, t, big.NewRat(7, 3)))
	if ok0 && ok1 && ok2 && ok7 {
		a := new(big.Rat).Sub(d1, d0)
		if a.Sign() == 0 {
			return end{}, false, false
		}
		// linear: d(2) = d0 + 2a, d(7/3) = d0 + 7a/3
		if new(big.Rat).Add(d0, new(big.Rat).Mul(a, big.NewRat(2, 1))).Cmp(d2) != 0 ||
			new(big.Rat).Add(d0, new(big.Rat).Mul(a, big.NewRat(7, 3))).Cmp(d7) != 0 {
			return end{}, false, false
		}
		root := new(big.Rat).Neg(new(big.Rat).Quo(d0, a))
		f, _ := root.Float64()
		return end{r: root, f: f}, a.Sign() > 0, true
	}
	env := func(x float64) float64 { return approx(d, map[string]float64{t: x}) }
	f0, f1 := env(0.25), env(1.25)
	a := f1 - f0
	if math.IsNaN(a) || math.IsInf(a, 0) || math.Abs(a) < 1e-12 {
		return end{}, false, false
	}
	for _, x := range []float64{-1.5, 2.75, 9.5} {
		if !closeTo(env(x), f0+a*(x-0.25), 1e-9) {
			return end{}, false, false
		}
	}
	root := 0.25 - f0/a
	return end{f: root}, a > 0, true
}

// cmpEnd orders endpoints (exactly when both are rational).
func cmpEnd(a, b end) int {
	if a.inf != 0 || b.inf != 0 {
		return a.inf - b.inf
	}
	if a.r != nil && b.r != nil {
		return a.r.Cmp(b.r)
	}
	switch {
	case a.f < b.f:
		return -1
	case a.f > b.f:
		return 1
	}
	return 0
}

func endEqual(a, b end, o *Options) bool {
	if a.inf != 0 || b.inf != 0 {
		return a.inf == b.inf
	}
	if a.r != nil && b.r != nil {
		return a.r.Cmp(b.r) == 0
	}
	return closeTo(a.f, b.f, o.RelTol)
}

// intervalsEqual compares two unions piece by piece after sorting.
func intervalsEqual(a, b []ival, o *Options) bool {
	if len(a) != len(b) {
		return false
	}
	sortIvals(a)
	sortIvals(b)
	for i := range a {
		x, y := a[i], b[i]
		if !endEqual(x.lo, y.lo, o) || !endEqual(x.hi, y.hi, o) {
			return false
		}
		if x.lo.inf == 0 && x.loOpen != y.loOpen || x.hi.inf == 0 && x.hiOpen != y.hiOpen {
			return false
		}
	}
	return true
}

func sortIvals(s []ival) {
	sort.SliceStable(s, func(i, j int) bool { return cmpEnd(s[i].lo, s[j].lo) < 0 })
}
