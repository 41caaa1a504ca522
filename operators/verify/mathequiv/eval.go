package mathequiv

import (
	"math"
	"math/big"
)

// Limits that keep exact evaluation cheap.
const (
	maxExpBits  = 1 << 14 // bits of an exact power's result
	maxFactArg  = 300
	maxRootDeg  = 64
	maxBinomArg = 10000
)

var (
	ratOne     = big.NewRat(1, 1)
	ratHundred = big.NewRat(100, 1)
)

// exact evaluates n as a rational when that is possible without rounding:
// literals, + - * /, integer powers, roots of perfect powers, factorials,
// binomials, percent and absolute values. ok is false otherwise.
func exact(n *node) (*big.Rat, bool) {
	switch n.k {
	case nNum:
		return n.r, true
	case nAdd:
		sum := new(big.Rat)
		for _, k := range n.kids {
			v, ok := exact(k)
			if !ok {
				return nil, false
			}
			sum.Add(sum, v)
		}
		return sum, true
	case nMul:
		prod := new(big.Rat).SetInt64(1)
		for _, k := range n.kids {
			v, ok := exact(k)
			if !ok {
				return nil, false
			}
			prod.Mul(prod, v)
		}
		return prod, true
	case nDiv:
		a, ok := exact(n.a)
		if !ok {
			return nil, false
		}
		b, ok := exact(n.b)
		if !ok || b.Sign() == 0 {
			return nil, false
		}
		return new(big.Rat).Quo(a, b), true
	case nNeg:
		a, ok := exact(n.a)
		if !ok {
			return nil, false
		}
		return new(big.Rat).Neg(a), true
	case nPct:
		a, ok := exact(n.a)
		if !ok {
			return nil, false
		}
		return new(big.Rat).Quo(a, ratHundred), true
	case nAbs:
		a, ok := exact(n.a)
		if !ok {
			return nil, false
		}
		return new(big.Rat).Abs(a), true
	case nPow:
		a, ok := exact(n.a)
		if !ok {
			return nil, false
		}
		e, ok := exact(n.b)
		if !ok {
			return nil, false
		}
		return ratPow(a, e)
	case nRoot:
		a, ok := exact(n.a)
		if !ok {
			return nil, false
		}
		deg := int64(2)
		if n.b != nil {
			d, ok := exact(n.b)
			if !ok || !d.IsInt() || !d.Num().IsInt64() {
				return nil, false
			}
			deg = d.Num().Int64()
		}
		return ratRoot(a, deg)
	case nFact:
		a, ok := exact(n.a)
		if !ok || !a.IsInt() || a.Sign() < 0 || a.Num().Cmp(big.NewInt(maxFactArg)) > 0 {
			return nil, false
		}
		m := a.Num().Int64()
		if m < 2 {
			return new(big.Rat).SetInt64(1), true
		}
		return new(big.Rat).SetInt(new(big.Int).MulRange(1, m)), true
	case nBinom:
		a, ok1 := exact(n.a)
		b, ok2 := exact(n.b)
		if !ok1 || !ok2 || !a.IsInt() || !b.IsInt() || a.Sign() < 0 || b.Sign() < 0 ||
			a.Num().Cmp(big.NewInt(maxBinomArg)) > 0 {
			return nil, false
		}
		if b.Cmp(a) > 0 {
			return new(big.Rat), true
		}
		return new(big.Rat).SetInt(new(big.Int).Binomial(a.Num().Int64(), b.Num().Int64())), true
	}
	return nil, false
}

// ratPow computes a^e exactly for integer e, or for e = p/q when a is a
// perfect q-th power.
func ratPow(a, e *big.Rat) (*big.Rat, bool) {
	if !e.IsInt() {
		q := e.Denom()
		if !q.IsInt64() || q.Int64() > maxRootDeg {
			return nil, false
		}
		root, ok := ratRoot(a, q.Int64())
		if !ok {
			return nil, false
		}
		return ratPow(root, new(big.Rat).SetInt(e.Num()))
	}
	if !e.Num().IsInt64() {
		return nil, false
	}
	k := e.Num().Int64()
	if a.Sign() == 0 {
		if k <= 0 {
			return nil, false
		}
		return new(big.Rat), true
	}
	neg := k < 0
	if neg {
		k = -k
	}
	bits := int64(a.Num().BitLen() + a.Denom().BitLen())
	if k > 0 && bits*k > maxExpBits {
		return nil, false
	}
	kk := big.NewInt(k)
	num := new(big.Int).Exp(a.Num(), kk, nil)
	den := new(big.Int).Exp(a.Denom(), kk, nil)
	if neg {
		num, den = den, num
		if num.Sign() < 0 {
			num.Neg(num)
		}
		if a.Sign() < 0 && k%2 == 1 {
			num.Neg(num)
		}
		if den.Sign() < 0 {
			den.Neg(den)
		}
	}
	return new(big.Rat).SetFrac(num, den), true
}

// ratRoot computes the deg-th root of a when it is rational.
func ratRoot(a *big.Rat, deg int64) (*big.Rat, bool) {
	if deg < 1 || deg > maxRootDeg {
		return nil, false
	}
	if deg == 1 {
		return a, true
	}
	neg := a.Sign() < 0
	if neg && deg%2 == 0 {
		return nil, false
	}
	num, ok := intRoot(new(big.Int).Abs(a.Num()), deg)
	if !ok {
		return nil, false
	}
	den, ok := intRoot(a.Denom(), deg)
	if !ok {
		return nil, false
	}
	r := new(big.Rat).SetFrac(num, den)
	if neg {
		r.Neg(r)
	}
	return r, true
}

// intRoot returns the exact deg-th root of x >= 0, if any.
func intRoot(x *big.Int, deg int64) (*big.Int, bool) {
	if x.Sign() == 0 || x.Cmp(big.NewInt(1)) == 0 {
		return new(big.Int).Set(x), true
	}
	if deg == 2 {
		r := new(big.Int).Sqrt(x)
		return r, new(big.Int).Mul(r, r).Cmp(x) == 0
	}
	if x.BitLen() > 4096 {
		return nil, false
	}
	// float estimate, then check the neighbours
	f, _ := new(big.Float).SetInt(x).Float64()
	est := math.Round(math.Pow(f, 1/float64(deg)))
	if math.IsInf(est, 0) || est > 1e15 {
		return nil, false
	}
	d := big.NewInt(deg)
	for _, c := range []float64{est - 1, est, est + 1} {
		if c < 0 {
			continue
		}
		r := big.NewInt(int64(c))
		if new(big.Int).Exp(r, d, nil).Cmp(x) == 0 {
			return r, true
		}
	}
	return nil, false
}

// approx evaluates n as a float64 with the variables in env; NaN on a
// domain error.
func approx(n *node, env map[string]float64) float64 {
	switch n.k {
	case nNum:
		f, _ := n.r.Float64()
		return f
	case nVar:
		if v, ok := env[n.name]; ok {
			return v
		}
		return math.NaN()
	case nConst:
		return n.f
	case nInf:
		return math.Inf(1)
	case nAdd:
		s := 0.0
		for _, k := range n.kids {
			s += approx(k, env)
		}
		return s
	case nMul:
		s := 1.0
		for _, k := range n.kids {
			s *= approx(k, env)
		}
		return s
	case nDiv:
		b := approx(n.b, env)
		if b == 0 {
			return math.NaN()
		}
		return approx(n.a, env) / b
	case nNeg:
		return -approx(n.a, env)
	case nPct:
		return approx(n.a, env) / 100
	case nAbs:
		return math.Abs(approx(n.a, env))
	case nPow:
		return math.Pow(approx(n.a, env), approx(n.b, env))
	case nRoot:
		a := approx(n.a, env)
		if n.b == nil {
			return math.Sqrt(a)
		}
		d := approx(n.b, env)
		if a < 0 && d == math.Trunc(d) && math.Mod(d, 2) == 1 {
			return -math.Pow(-a, 1/d)
		}
		return math.Pow(a, 1/d)
	case nFact:
		a := approx(n.a, env)
		if a < 0 || a != math.Trunc(a) {
			return math.NaN()
		}
		return math.Gamma(a + 1)
	case nBinom:
		a, b := approx(n.a, env), approx(n.b, env)
		la, sa := math.Lgamma(a + 1)
		lb, sb := math.Lgamma(b + 1)
		lc, sc := math.Lgamma(a - b + 1)
		v := float64(sa*sb*sc) * math.Exp(la-lb-lc)
		if a == math.Trunc(a) && b == math.Trunc(b) {
			return math.Round(v)
		}
		return v
	case nFunc:
		a := approx(n.a, env)
		switch n.name {
		case "sin":
			return math.Sin(a)
		case "cos":
			return math.Cos(a)
		case "tan":
			return math.Tan(a)
		case "cot":
			return 1 / math.Tan(a)
		case "sec":
			return 1 / math.Cos(a)
		case "csc":
			return 1 / math.Sin(a)
		case "arcsin":
			return math.Asin(a)
		case "arccos":
			return math.Acos(a)
		case "arctan":
			return math.Atan(a)
		case "sinh":
			return math.Sinh(a)
		case "cosh":
			return math.Cosh(a)
		case "tanh":
			return math.Tanh(a)
		case "exp":
			return math.Exp(a)
		case "ln":
			return math.Log(a)
		case "log":
			if n.b != nil {
				return math.Log(a) / math.Log(approx(n.b, env))
			}
			return math.Log10(a)
		case "floor":
			return math.Floor(a)
		case "ceil":
			return math.Ceil(a)
		}
	}
	return math.NaN()
}

// hasInf reports whether n mentions infinity.
func hasInf(n *node) bool {
	if n == nil {
		return false
	}
	if n.k == nInf {
		return true
	}
	if hasInf(n.a) || hasInf(n.b) {
		return true
	}
	for _, k := range n.kids {
		if hasInf(k) {
			return true
		}
	}
	return false
}

// hasDecimal reports whether a literal of n has a decimal point or exponent.
func hasDecimal(n *node) bool {
	if n == nil {
		return false
	}
	if n.k == nNum {
		return n.dec
	}
	if hasDecimal(n.a) || hasDecimal(n.b) {
		return true
	}
	for _, k := range n.kids {
		if hasDecimal(k) {
			return true
		}
	}
	return false
}
