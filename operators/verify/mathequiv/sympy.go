package mathequiv

import (
	"strconv"
	"strings"
)

// Pair is what a Fallback is asked about: two scalar expressions or two
// equations the fast path found unequal, or could not read. A and B are in
// sympy syntax (empty when the fast path could not read that side); LatexA
// and LatexB are the normalised texts.
type Pair struct {
	A, B           string
	LatexA, LatexB string
}

// Fallback decides a pair the fast path did not accept. It returns Symbolic
// when the two are equal, Mismatch when they differ and Unparsable when it
// cannot tell (a timeout, a parse error).
type Fallback func(p Pair) Reason

// fallback consults o.Fallback about a leaf pair the fast path decided as
// fast (Mismatch or Unparsable).
func fallback(x, y *val, o *Options, fast Reason) (bool, Reason) {
	if o.Fallback == nil {
		return false, fast
	}
	p := Pair{LatexA: x.norm, LatexB: y.norm}
	p.A, _ = sympyVal(x)
	p.B, _ = sympyVal(y)
	switch o.Fallback(p) {
	case Symbolic:
		return true, Symbolic
	case Mismatch:
		return false, Mismatch
	}
	// the check did not finish (timeout, sympy error): not a match, and not
	// a decided mismatch either
	return false, Unparsable
}

// sympyVal renders a scalar or an equation in sympy syntax.
func sympyVal(v *val) (string, bool) {
	var b strings.Builder
	switch v.k {
	case vScalar:
		writeSympy(&b, v.expr)
	case vEq:
		b.WriteString("Eq(")
		writeSympy(&b, v.lhs)
		b.WriteString(", ")
		writeSympy(&b, v.rhs)
		b.WriteString(", evaluate=False)")
	default:
		return "", false
	}
	return b.String(), true
}

// Sympy renders a scalar or equation answer in sympy syntax; false for
// other shapes.
func (a *Answer) Sympy() (string, bool) {
	if a.Empty() {
		return "", false
	}
	return sympyVal(a.v)
}

var sympyFuncs = map[string]string{
	"sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
	"arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
	"exp": "exp", "ln": "log", "floor": "floor", "ceil": "ceiling",
}

func writeSympy(b *strings.Builder, n *node) {
	switch n.k {
	case nNum:
		if n.r.IsInt() {
			b.WriteString("Integer(")
			b.WriteString(n.r.Num().String())
		} else {
			b.WriteString("Rational(")
			b.WriteString(n.r.Num().String())
			b.WriteString(", ")
			b.WriteString(n.r.Denom().String())
		}
		b.WriteString(")")
	case nVar:
		b.WriteString("Symbol(")
		b.WriteString(strconv.Quote(symbolName(n.name)))
		b.WriteString(")")
	case nConst:
		if n.name == "E" {
			b.WriteString("E")
		} else {
			b.WriteString("pi")
		}
	case nInf:
		b.WriteString("oo")
	case nAdd, nMul:
		sep := " + "
		if n.k == nMul {
			sep = " * "
		}
		b.WriteString("(")
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			writeSympy(b, k)
		}
		b.WriteString(")")
	case nDiv:
		b.WriteString("(")
		writeSympy(b, n.a)
		b.WriteString(") / (")
		writeSympy(b, n.b)
		b.WriteString(")")
	case nNeg:
		b.WriteString("(-(")
		writeSympy(b, n.a)
		b.WriteString("))")
	case nPow:
		b.WriteString("(")
		writeSympy(b, n.a)
		b.WriteString(") ** (")
		writeSympy(b, n.b)
		b.WriteString(")")
	case nRoot:
		if n.b == nil {
			b.WriteString("sqrt(")
			writeSympy(b, n.a)
		} else {
			b.WriteString("root(")
			writeSympy(b, n.a)
			b.WriteString(", ")
			writeSympy(b, n.b)
		}
		b.WriteString(")")
	case nFact:
		b.WriteString("factorial(")
		writeSympy(b, n.a)
		b.WriteString(")")
	case nAbs:
		b.WriteString("Abs(")
		writeSympy(b, n.a)
		b.WriteString(")")
	case nBinom:
		b.WriteString("binomial(")
		writeSympy(b, n.a)
		b.WriteString(", ")
		writeSympy(b, n.b)
		b.WriteString(")")
	case nPct:
		b.WriteString("(")
		writeSympy(b, n.a)
		b.WriteString(") / 100")
	case nFunc:
		if n.name == "log" {
			b.WriteString("log(")
			writeSympy(b, n.a)
			b.WriteString(", ")
			if n.b != nil {
				writeSympy(b, n.b)
			} else {
				b.WriteString("10")
			}
			b.WriteString(")")
			return
		}
		b.WriteString(sympyFuncs[n.name])
		b.WriteString("(")
		writeSympy(b, n.a)
		b.WriteString(")")
	}
}

// symbolName turns a variable into a safe sympy symbol name.
func symbolName(s string) string {
	s = strings.TrimPrefix(s, `\`)
	s = strings.ReplaceAll(s, "'", "_prime")
	s = strings.NewReplacer("{", "", "}", "", "\\", "").Replace(s)
	return s
}
