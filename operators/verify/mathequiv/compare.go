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
	return compareVal(a.v, b.v, &opts)
}

func compareVal(x, y *val, o *Options) (bool, Reason) {
	if x.k == vEmpty || y.k == vEmpty {
		return false, Unparsable
	}
	if strings.EqualFold(x.norm, y.norm) {
		return true, Exact
	}
	if l, ok := choiceLetters(x.norm, y.norm); ok {
		if l {
			return true, Exact
		}
		return false, Mismatch
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
		if eq, decided := scalarEqual(x, y, o); eq {
			return true, Numeric
		} else if !decided {
			return fallback(x, y, o, Unparsable)
		}
		return fallback(x, y, o, Mismatch)
	case x.k == vSeq && y.k == vSeq:
		return compareSeq(x, y, o)
	case x.k == vMatrix && y.k == vMatrix:
		return compareMatrix(x.rows, y.rows, o)
	case x.k == vMatrix && y.k == vSeq:
		return compareMatrixSeq(x, y, o)
	case x.k == vSeq && y.k == vMatrix:
		return compareMatrixSeq(y, x, o)
	case x.k == vEq && y.k == vEq:
		if equationEqual(x, y, o) {
			return true, Numeric
		}
		return fallback(x, y, o, Mismatch)
	case x.k == vRel && y.k == vRel:
		if relationEqual(x, y, o) {
			return true, Numeric
		}
		return false, Mismatch
	case x.k == vUnion && y.k == vUnion:
		if len(x.items) != len(y.items) {
			return false, Mismatch
		}
		return compareOrdered(x.items, y.items, o)
	}
	return false, Mismatch
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
		return identical(x.expr, y.expr, union(x.vars, y.vars), o.RelTol), true
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
// points (at least 3 points where both are defined).
func identical(a, b *node, vars []string, relTol float64) bool {
	if a.k == nPct || b.k == nPct {
		return false
	}
	valid := 0
	for k := range samplePoints {
		env := sampleEnv(vars, k)
		fa, fb := approx(a, env), approx(b, env)
		if math.IsNaN(fa) || math.IsNaN(fb) || math.IsInf(fa, 0) || math.IsInf(fb, 0) {
			if math.IsNaN(fa) != math.IsNaN(fb) {
				return false
			}
			continue
		}
		if !closeTo(fa, fb, relTol) {
			return false
		}
		valid++
	}
	return valid >= 3
}

// equationEqual compares lhs1 = rhs1 with lhs2 = rhs2: the differences
// must be proportional (same, negated or scaled) at the sample points.
func equationEqual(x, y *val, o *Options) bool {
	vars := union(x.lvars, y.lvars)
	if len(vars) == 0 {
		// two numeric identities: compare sides pairwise
		l, _ := numEqual(x.lhs, y.lhs, true, false, o.RelTol)
		r, _ := numEqual(x.rhs, y.rhs, true, false, o.RelTol)
		return l && r
	}
	var ratio float64
	valid := 0
	for k := range samplePoints {
		env := sampleEnv(vars, k)
		d1 := approx(x.lhs, env) - approx(x.rhs, env)
		d2 := approx(y.lhs, env) - approx(y.rhs, env)
		if math.IsNaN(d1) || math.IsNaN(d2) || math.IsInf(d1, 0) || math.IsInf(d2, 0) {
			continue
		}
		z1, z2 := math.Abs(d1) <= absTol, math.Abs(d2) <= absTol
		if z1 != z2 {
			return false
		}
		if z1 {
			valid++
			continue
		}
		r := d1 / d2
		if ratio == 0 {
			ratio = r
		} else if !closeTo(r, ratio, o.RelTol) {
			return false
		}
		valid++
	}
	return valid >= 3
}

// relationEqual compares inequalities, allowing a flip (x > 3 vs 3 < x).
func relationEqual(x, y *val, o *Options) bool {
	flip := map[string]string{"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}
	same := func(l1, r1, l2, r2 *node) bool {
		vars := union(x.lvars, y.lvars)
		eq := func(a, b *node) bool {
			if len(vars) == 0 {
				eq, _ := numEqual(a, b, true, false, o.RelTol)
				return eq
			}
			return identical(a, b, vars, o.RelTol)
		}
		return eq(l1, l2) && eq(r1, r2)
	}
	if x.rel == y.rel && same(x.lhs, x.rhs, y.lhs, y.rhs) {
		return true
	}
	return flip[x.rel] == y.rel && same(x.lhs, x.rhs, y.rhs, y.lhs)
}

// compareSeq compares tuples, intervals, sets and lists.
func compareSeq(x, y *val, o *Options) (bool, Reason) {
	if len(x.items) != len(y.items) {
		return false, Mismatch
	}
	unordered := x.open == brSet || y.open == brSet || (x.open == brBare && y.open == brBare)
	if unordered {
		return compareUnordered(x.items, y.items, o)
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
	worst := Mismatch
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
			if r == Unparsable {
				worst = Unparsable
			}
		}
		if !found {
			return false, worst
		}
	}
	return true, reason
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
