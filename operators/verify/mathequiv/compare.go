package mathequiv

import (
	"math"
	"math/big"
	"strings"
)

// Percent says how numbers relate to percentages.
type Percent uint8

const (
	// PercentStrict: a number written with % equals its value divided by 100
	// and also the same number without the sign (50\% = 0.5 = 50); numbers
	// without % are never rescaled (10 ≠ 0.1).
	PercentStrict Percent = iota
	// PercentLenient reproduces the reference (Qwen) grader: two plain
	// numbers a, b are equal when b is within the relative tolerance of a,
	// a/100 or a*100, integers included (so 0.1 = 10 and 12345 = 12346).
	PercentLenient
)

// DefaultRelTol is the default relative tolerance.
const DefaultRelTol = 1e-4

// absTol absorbs float noise around zero (sin(pi) vs 0).
const absTol = 1e-12

// Options tune the comparison.
type Options struct {
	Percent Percent
	// RelTol is the relative tolerance for values that are not both exact
	// integers; 0 means DefaultRelTol.
	RelTol float64
	// Fallback, when set, is asked about the scalar and equation pairs the
	// fast path rejects or cannot read (the symbolic check). It must be safe
	// for concurrent use when Compare is called concurrently.
	Fallback Fallback
	// Unordered compares lists in any order ("find all solutions"); by
	// default only explicit sets (\{...\}, a \pm b) are unordered.
	Unordered bool
}

// Reason says how a comparison was decided.
type Reason string

const (
	// Exact: the normalised texts are equal (ignoring case), or the same
	// multiple-choice letter.
	Exact Reason = "exact"
	// Numeric: equal in value — exact rationals, within the relative
	// tolerance, element-wise for tuples, sets and matrices, or, for
	// expressions with variables, at every sample point.
	Numeric Reason = "numeric"
	// Symbolic: equal according to sympy (only with the symbolic fallback).
	Symbolic Reason = "symbolic"
	// Mismatch: both sides were read and differ.
	Mismatch Reason = "mismatch"
	// Unparsable: a side is missing or could not be read, so the fast path
	// cannot decide (the symbolic fallback may).
	Unparsable Reason = "unparsable"
	// Set: equal as sets (explicit \{...\}, a \pm b, or unordered: true).
	Set Reason = "set"
	// Interval: the same set of reals (intervals, unions, inequalities).
	Interval Reason = "interval"
	// Equation: equations whose (left - right) are non-zero constant
	// multiples of each other.
	Equation Reason = "equation"
	// Unit: equal after converting one unit to the other.
	Unit Reason = "unit"
	// Text: the same words (case and spaces ignored).
	Text Reason = "text"
	// Choice: the same multiple-choice letter.
	Choice Reason = "choice"
	// UnitMismatch: the units differ and do not convert into each other.
	UnitMismatch Reason = "unit_mismatch"
)

// Equal normalises and compares two answers.
func Equal(a, b string, opts Options) (bool, Reason) {
	return Compare(Parse(a), Parse(b), opts)
}

// Compare compares two parsed answers. It is safe for concurrent use.
func Compare(a, b *Answer, opts Options) (bool, Reason) {
	if opts.RelTol <= 0 {
		opts.RelTol = DefaultRelTol
	}
	if a.Empty() || b.Empty() {
		return false, Unparsable
	}
	return compareTop(a.v, b.v, &opts)
}

// compareTop applies the label and unit rules, then compares the values.
func compareTop(x, y *val, o *Options) (bool, Reason) {
	if x.k == vAny || y.k == vAny {
		return compareAny(x, y, o)
	}
	if x.full != "" && strings.EqualFold(x.full, y.full) {
		return true, exactReason(x)
	}
	if x.label != y.label {
		switch {
		case x.label != "" && y.label != "":
			// different labels: equal only as equations (x = 5 vs y = 5 is not)
			ex, ey := asEquation(x), asEquation(y)
			if ex == nil || ey == nil {
				return false, Mismatch
			}
			return equationVerdict(ex, ey, o)
		case x.label != "" && y.k == vEq:
			if ex := asEquation(x); ex != nil {
				return equationVerdict(ex, y, o)
			}
			return false, Mismatch
		case y.label != "" && x.k == vEq:
			if ey := asEquation(y); ey != nil {
				return equationVerdict(x, ey, o)
			}
			return false, Mismatch
		}
		// a label on one side only is dropped
	}
	if x.unit != nil && y.unit != nil && x.unit.text != y.unit.text {
		if !sameUnit(x.unit, y.unit) {
			return false, UnitMismatch
		}
		if x.k != vScalar || y.k != vScalar || len(x.vars) > 0 || len(y.vars) > 0 {
			return false, Mismatch
		}
		xs := &node{k: nMul, kids: []*node{x.expr, {k: nNum, r: x.unit.scale}}}
		ys := &node{k: nMul, kids: []*node{y.expr, {k: nNum, r: y.unit.scale}}}
		if eq, _ := numEqual(xs, ys, x.dec || y.dec, false, o.RelTol); eq {
			return true, Unit
		}
		return false, Mismatch
	}
	return compareVal(x, y, o)
}

// compareAny: a list of candidates matches when any one of them does.
func compareAny(x, y *val, o *Options) (bool, Reason) {
	xs, ys := []*val{x}, []*val{y}
	if x.k == vAny {
		xs = x.items
	}
	if y.k == vAny {
		ys = y.items
	}
	worst := Mismatch
	for _, a := range xs {
		for _, b := range ys {
			eq, r := compareTop(a, b, o)
			if eq {
				return true, r
			}
			if r == Unparsable {
				worst = Unparsable
			}
		}
	}
	return false, worst
}

func exactReason(x *val) Reason {
	switch x.k {
	case vText:
		return Text
	}
	if _, ok := choiceLetter(x.norm, false); ok && x.k != vScalar {
		return Choice
	}
	return Exact
}

// asEquation turns a labelled answer with a one-variable label (y = 2x+1)
// into the equation label = value; nil for other labels (f(x), (p,q)).
func asEquation(v *val) *val {
	if v.k == vEq {
		return v
	}
	if v.k != vScalar {
		return nil
	}
	l, lv := parseExpr(v.label)
	if l == nil || l.k != nVar {
		return nil
	}
	return &val{k: vEq, lhs: l, rhs: v.expr, lvars: union(lv, v.vars), norm: v.label + "=" + v.norm}
}

// equationVerdict compares two equations; the symbolic fallback is asked
// only when the sample points could not decide (too few where both sides
// are defined).
func equationVerdict(x, y *val, o *Options) (bool, Reason) {
	eq, decided := equationEqual(x, y, o)
	if eq {
		return true, Equation
	}
	if decided {
		return false, Mismatch
	}
	return fallback(x, y, o, Unparsable)
}

func compareVal(x, y *val, o *Options) (bool, Reason) {
	if x.k == vEmpty || y.k == vEmpty {
		return false, Unparsable
	}
	if strings.EqualFold(x.norm, y.norm) {
		return true, exactReason(x)
	}
	if l, ok := choiceLetters(x.norm, y.norm); ok {
		if l {
			return true, Choice
		}
		return false, Mismatch
	}
	if x.k == vText && y.k == vText {
		if strings.EqualFold(squeeze(x.norm), squeeze(y.norm)) {
			return true, Text
		}
		return false, Mismatch
	}
	// a decimal comma against a single number: 1,22 = 1.22
	if x.decAlt != nil && y.k == vScalar {
		return numericIfEqual(compareVal(x.decAlt, y, o))
	}
	if y.decAlt != nil && x.k == vScalar {
		return numericIfEqual(compareVal(x, y.decAlt, o))
	}
	if isIntervalish(x) || isIntervalish(y) {
		if x.k == vRel && y.k == vRel && x.chain == nil && y.chain == nil && relationEqual(x, y, o) {
			return true, Interval
		}
		if ix, ok := toIntervals(x, o); ok {
			if iy, ok := toIntervals(y, o); ok && sameVar(x, y) {
				if intervalsEqual(ix, iy, o) {
					return true, Interval
				}
				return false, Mismatch
			}
		}
		if x.k == vRel && y.k == vRel {
			return false, Mismatch
		}
	}
	if x.k == vBad || y.k == vBad {
		return fallback(x, y, o, Unparsable)
	}
	// a one-element JSON list against a scalar
	if x.k == vSeq && x.open == brJSON && len(x.items) == 1 && y.k != vSeq && y.k != vMatrix {
		return compareVal(x.items[0], y, o)
	}
	if y.k == vSeq && y.open == brJSON && len(y.items) == 1 && x.k != vSeq && x.k != vMatrix {
		return compareVal(x, y.items[0], o)
	}
	switch {
	case x.k == vScalar && y.k == vScalar:
		// the fast path's decisions are final; the symbolic fallback only
		// decides what it cannot evaluate
		if eq, decided := scalarEqual(x, y, o); eq {
			return true, Numeric
		} else if !decided {
			return fallback(x, y, o, Unparsable)
		}
		return false, Mismatch
	case x.k == vSeq && y.k == vSeq:
		return compareSeq(x, y, o)
	case x.k == vMatrix && y.k == vMatrix:
		return compareMatrix(x.rows, y.rows, o)
	case x.k == vMatrix && y.k == vSeq:
		return compareMatrixSeq(x, y, o)
	case x.k == vSeq && y.k == vMatrix:
		return compareMatrixSeq(y, x, o)
	case x.k == vEq && y.k == vEq:
		return equationVerdict(x, y, o)
	}
	return false, Mismatch
}

// numericIfEqual reports an equality found by reading a value (a decimal
// comma) as numeric.
func numericIfEqual(eq bool, r Reason) (bool, Reason) {
	if eq {
		return true, Numeric
	}
	return false, r
}

// squeeze drops spaces.
func squeeze(s string) string {
	if !strings.Contains(s, " ") {
		return s
	}
	return strings.ReplaceAll(s, " ", "")
}

// choiceLetters handles multiple-choice answers: when one side is a single
// letter A–E, the other side's letter (from "(B)", "B)", "B.", "Option B")
// is compared. ok is false when this rule does not apply.
func choiceLetters(a, b string) (equal, ok bool) {
	la, oka := choiceLetter(a, true)
	lb, okb := choiceLetter(b, true)
	switch {
	case oka && okb:
		return la == lb, true
	case oka:
		if l, ok := choiceLetter(b, false); ok {
			return l == la, true
		}
	case okb:
		if l, ok := choiceLetter(a, false); ok {
			return l == lb, true
		}
	default:
		// (E) against E): both written as choices
		l1, ok1 := choiceLetter(a, false)
		l2, ok2 := choiceLetter(b, false)
		if ok1 && ok2 {
			return l1 == l2, true
		}
	}
	return false, false
}

// choiceLetter extracts a choice letter. With bare, only a lone capital
// letter A–E counts; otherwise "(B)", "B)", "B.", "B:", "optionB" as well.
func choiceLetter(s string, bare bool) (byte, bool) {
	if len(s) == 1 {
		if s[0] >= 'A' && s[0] <= 'E' {
			return s[0], true
		}
		return 0, false
	}
	if bare {
		return 0, false
	}
	t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(s, "Option"), "option"), ":")
	t = strings.Trim(t, "()[]{}.: ")
	if len(t) == 1 && t[0] >= 'A' && t[0] <= 'E' {
		return t[0], true
	}
	return 0, false
}

// scalarEqual compares two expressions. decided is false when a value
// cannot be evaluated in floating point (overflow, domain error).
func scalarEqual(x, y *val, o *Options) (eq, decided bool) {
	if len(x.vars) > 0 || len(y.vars) > 0 {
		return identical(x.expr, y.expr, union(x.vars, y.vars), o.RelTol)
	}
	if o.Percent == PercentLenient {
		// the reference grader: percent signs are decoration, plain numbers
		// match up to a factor 100 and everything within the tolerance
		a, b := stripPct(x.expr), stripPct(y.expr)
		if x.plain && y.plain {
			fa, fb := approx(a, nil), approx(b, nil)
			for _, s := range []float64{1, 0.01, 100} {
				if closeTo(fa, fb*s, o.RelTol) {
					return true, true
				}
			}
		} else if eq, _ := numEqual(a, b, x.dec || y.dec, true, o.RelTol); eq {
			return true, true
		}
		// and whatever strict accepts
	}
	dec := x.dec || y.dec
	if (x.expr.k == nPct) != (y.expr.k == nPct) {
		// 50% against 0.5 or 50
		if eq, ok := numEqual(x.expr, y.expr, dec, false, o.RelTol); eq || !ok {
			return eq, ok
		}
		return numEqual(stripPct(x.expr), stripPct(y.expr), dec, false, o.RelTol)
	}
	return numEqual(x.expr, y.expr, dec, false, o.RelTol)
}

func stripPct(n *node) *node {
	if n.k == nPct {
		return n.a
	}
	return n
}

// numEqual compares two constant expressions: exactly when both evaluate to
// rationals (integers from integer literals must be equal; other values may
// differ within the tolerance), and within the tolerance otherwise. ok is
// false when a value overflows or is undefined in floating point.
func numEqual(a, b *node, dec, tolInts bool, relTol float64) (eq, ok bool) {
	ia, ib := hasInf(a), hasInf(b)
	if ia || ib {
		fa, fb := approx(a, nil), approx(b, nil)
		return ia && ib && !math.IsNaN(fa) && fa == fb, true
	}
	ra, oka := exact(a)
	rb, okb := exact(b)
	if oka && okb {
		if ra.Cmp(rb) == 0 {
			return true, true
		}
		if ra.IsInt() && rb.IsInt() && !dec && !tolInts {
			return false, true
		}
	}
	fa := ratOrApprox(a, ra, oka)
	fb := ratOrApprox(b, rb, okb)
	if math.IsNaN(fa) || math.IsNaN(fb) || math.IsInf(fa, 0) || math.IsInf(fb, 0) {
		return false, false
	}
	return closeTo(fa, fb, relTol), true
}

func ratOrApprox(n *node, r *big.Rat, exact bool) float64 {
	if exact {
		f, _ := r.Float64()
		return f
	}
	return approx(n, nil)
}

// closeTo is Python's math.isclose with rel_tol and a tiny abs_tol.
func closeTo(a, b, relTol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return false
	}
	if a == b {
		return true
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false
	}
	d := math.Abs(a - b)
	return d <= relTol*math.Max(math.Abs(a), math.Abs(b)) || d <= absTol
}

// samplePoints are the values variables take in identity checks: positive,
// away from small integers, so that roots and logs stay defined.
var samplePoints = []float64{0.7319, 1.3861, 2.1137, 0.4621, 1.8473, 2.6389, 1.1093}

// env returns the k-th sample environment for vars.
func sampleEnv(vars []string, k int) map[string]float64 {
	env := make(map[string]float64, len(vars))
	for j, v := range vars {
		env[v] = samplePoints[(k+3*j)%len(samplePoints)] + 0.0917*float64(j)
	}
	return env
}

// identical checks that two expressions with variables agree at the sample
// points (at least 3 points where both are defined). decided is false when
// there were too few such points to tell.
func identical(a, b *node, vars []string, relTol float64) (eq, decided bool) {
	if a.k == nPct || b.k == nPct {
		return false, true
	}
	valid := 0
	for k := range samplePoints {
		env := sampleEnv(vars, k)
		fa, fb := approx(a, env), approx(b, env)
		if math.IsNaN(fa) || math.IsNaN(fb) || math.IsInf(fa, 0) || math.IsInf(fb, 0) {
			if math.IsNaN(fa) != math.IsNaN(fb) {
				return false, true
			}
			continue
		}
		if !closeTo(fa, fb, relTol) {
			return false, true
		}
		valid++
	}
	return valid >= 3, valid >= 3
}

// equationEqual compares lhs1 = rhs1 with lhs2 = rhs2: the differences
// must be proportional (same, negated or scaled) at the sample points.
func equationEqual(x, y *val, o *Options) (eq, decided bool) {
	vars := union(x.lvars, y.lvars)
	if len(vars) == 0 {
		// two numeric identities: compare sides pairwise
		l, _ := numEqual(x.lhs, y.lhs, true, false, o.RelTol)
		r, _ := numEqual(x.rhs, y.rhs, true, false, o.RelTol)
		return l && r, true
	}
	_, ok := proportional(x.lhs, x.rhs, y.lhs, y.rhs, vars, o)
	if ok {
		return true, true
	}
	return false, samplesDefined(x.lhs, x.rhs, y.lhs, y.rhs, vars)
}

// samplesDefined reports whether both differences are defined at 3 or more
// sample points (so that a failed proportionality check is a decision).
func samplesDefined(l1, r1, l2, r2 *node, vars []string) bool {
	n := 0
	for k := range samplePoints {
		env := sampleEnv(vars, k)
		d1 := approx(l1, env) - approx(r1, env)
		d2 := approx(l2, env) - approx(r2, env)
		if !math.IsNaN(d1) && !math.IsNaN(d2) && !math.IsInf(d1, 0) && !math.IsInf(d2, 0) {
			n++
		}
	}
	return n >= 3
}

// proportional checks that l1 - r1 = c (l2 - r2) for one non-zero constant
// c at the sample points (at least 3 where both are defined and not both
// zero) and returns c.
func proportional(l1, r1, l2, r2 *node, vars []string, o *Options) (float64, bool) {
	var ratio float64
	valid, nonzero := 0, 0
	for k := range samplePoints {
		env := sampleEnv(vars, k)
		d1 := approx(l1, env) - approx(r1, env)
		d2 := approx(l2, env) - approx(r2, env)
		if math.IsNaN(d1) || math.IsNaN(d2) || math.IsInf(d1, 0) || math.IsInf(d2, 0) {
			continue
		}
		z1, z2 := math.Abs(d1) <= absTol, math.Abs(d2) <= absTol
		if z1 != z2 {
			return 0, false
		}
		valid++
		if z1 {
			continue
		}
		nonzero++
		r := d1 / d2
		if ratio == 0 {
			ratio = r
		} else if !closeTo(r, ratio, o.RelTol) {
			return 0, false
		}
	}
	return ratio, valid >= 3 && nonzero >= 1
}

// relationEqual compares two single inequalities: (left - right) of one
// must be a constant multiple of the other's, positive for the same
// relation (x > 3 vs 2x > 6) and negative for the flipped one (-x > -1 vs
// x < 1). Strict and non-strict never match.
func relationEqual(x, y *val, o *Options) bool {
	flip := map[string]string{"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}
	var want float64
	switch {
	case x.rel == y.rel:
		want = 1
	case flip[x.rel] == y.rel:
		want = -1
	default:
		return false
	}
	vars := union(x.lvars, y.lvars)
	if len(vars) == 0 {
		l, _ := numEqual(x.lhs, y.lhs, true, false, o.RelTol)
		r, _ := numEqual(x.rhs, y.rhs, true, false, o.RelTol)
		if want == 1 && l && r {
			return true
		}
		l, _ = numEqual(x.lhs, y.rhs, true, false, o.RelTol)
		r, _ = numEqual(x.rhs, y.lhs, true, false, o.RelTol)
		return want == -1 && l && r
	}
	ratio, ok := proportional(x.lhs, x.rhs, y.lhs, y.rhs, vars, o)
	if !ok {
		return false
	}
	if x.rel == "!=" {
		return true
	}
	return ratio*want > 0
}

// compareSeq compares tuples, intervals, sets and lists.
func compareSeq(x, y *val, o *Options) (bool, Reason) {
	// an explicit set matches a set, or a bare or JSON list (a list of
	// its elements); never a tuple or an interval. Repeated elements
	// count once: \{1, 1, 2\} = \{1, 2\}.
	loose := func(v *val) bool { return v.open == brBare || v.open == brJSON || v.open == brSet }
	if x.open == brSet || y.open == brSet {
		if !loose(x) || !loose(y) {
			return false, Mismatch
		}
		xs, ys := distinct(x.items, o), distinct(y.items, o)
		if len(xs) != len(ys) {
			return false, Mismatch
		}
		if eq, r := compareUnordered(xs, ys, o); !eq {
			return false, r
		}
		return true, Set
	}
	if len(x.items) != len(y.items) {
		return false, Mismatch
	}
	if o.Unordered && loose(x) && loose(y) {
		if eq, r := compareUnordered(x.items, y.items, o); !eq {
			return false, r
		}
		return true, Set
	}
	bracketed := func(v *val) bool { return v.open != brBare && v.open != brJSON }
	if bracketed(x) && bracketed(y) && (x.open != y.open || x.close != y.close) {
		return false, Mismatch
	}
	return compareOrdered(x.items, y.items, o)
}

func compareOrdered(xs, ys []*val, o *Options) (bool, Reason) {
	reason := Exact
	for i := range xs {
		eq, r := compareVal(xs[i], ys[i], o)
		if !eq {
			return false, r
		}
		if r != Exact {
			reason = Numeric
		}
	}
	return true, reason
}

func compareUnordered(xs, ys []*val, o *Options) (bool, Reason) {
	used := make([]bool, len(ys))
	reason := Exact
	for _, a := range xs {
		found := false
		for j, b := range ys {
			if used[j] {
				continue
			}
			eq, r := compareVal(a, b, o)
			if eq {
				used[j] = true
				found = true
				if r != Exact {
					reason = Numeric
				}
				break
			}
		}
		if !found {
			// the same reason whichever side comes first
			if unreadable(xs) || unreadable(ys) {
				return false, Unparsable
			}
			return false, Mismatch
		}
	}
	return true, reason
}

// distinct drops elements equal to an earlier one.
func distinct(vs []*val, o *Options) []*val {
	if len(vs) < 2 {
		return vs
	}
	out := make([]*val, 0, len(vs))
	for _, v := range vs {
		dup := false
		for _, w := range out {
			if eq, _ := compareVal(v, w, o); eq {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// unreadable reports whether an item could not be read.
func unreadable(vs []*val) bool {
	for _, v := range vs {
		if v.k == vBad || v.k == vEmpty {
			return true
		}
	}
	return false
}

func compareMatrix(xr, yr [][]*val, o *Options) (bool, Reason) {
	if len(xr) != len(yr) {
		return false, Mismatch
	}
	reason := Exact
	for i := range xr {
		if len(xr[i]) != len(yr[i]) {
			return false, Mismatch
		}
		eq, r := compareOrdered(xr[i], yr[i], o)
		if !eq {
			return false, r
		}
		if r != Exact {
			reason = Numeric
		}
	}
	return true, reason
}

// compareMatrixSeq compares a matrix with a sequence: a list of lists as
// rows, or a flat sequence against a single row or column.
func compareMatrixSeq(m, s *val, o *Options) (bool, Reason) {
	nested := len(s.items) > 0
	for _, it := range s.items {
		if it.k != vSeq {
			nested = false
			break
		}
	}
	if nested {
		rows := make([][]*val, len(s.items))
		for i, it := range s.items {
			rows[i] = it.items
		}
		return compareMatrix(m.rows, rows, o)
	}
	var flat []*val
	switch {
	case len(m.rows) == 1:
		flat = m.rows[0]
	default:
		for _, r := range m.rows {
			if len(r) != 1 {
				return false, Mismatch
			}
			flat = append(flat, r[0])
		}
	}
	if len(flat) != len(s.items) {
		return false, Mismatch
	}
	return compareOrdered(flat, s.items, o)
}
