package mathequiv

import (
	"math"
	"math/big"
	"strings"
)

// nkind is the kind of an expression node.
type nkind uint8

const (
	nNum   nkind = iota // a literal: r
	nVar                // a variable: name
	nConst              // pi or e: f
	nInf                // infinity (sign through nNeg)
	nAdd                // kids summed
	nMul                // kids multiplied
	nDiv                // a / b
	nNeg                // -a
	nPow                // a ^ b
	nRoot               // b-th root of a (b nil: square root)
	nFunc               // name(a); log with base b
	nFact               // a!
	nAbs                // |a|
	nBinom              // binom(a, b)
	nPct                // a%
)

// node is a parsed scalar expression.
type node struct {
	k    nkind
	r    *big.Rat // nNum
	dec  bool     // nNum written with a decimal point or exponent
	f    float64  // nConst
	name string   // nVar, nFunc
	a, b *node
	kids []*node
}

// maxDepth bounds recursion on hostile input.
const maxDepth = 200

type parser struct {
	s     string
	i     int
	depth int
	bad   bool
	vars  map[string]bool
}

// parseExpr parses s as one scalar expression; nil when it is not one.
func parseExpr(s string) (*node, []string) {
	p := parser{s: s}
	n := p.sum()
	p.space()
	if p.bad || n == nil || p.i != len(p.s) {
		return nil, nil
	}
	var vars []string
	for v := range p.vars {
		vars = append(vars, v)
	}
	return n, vars
}

func (p *parser) fail() *node {
	p.bad = true
	return nil
}

func (p *parser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *parser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// cmd returns the control word at the cursor (without the backslash), or "".
func (p *parser) cmd() string {
	p.space()
	if p.i+1 >= len(p.s) || p.s[p.i] != '\\' {
		return ""
	}
	j := p.i + 1
	for j < len(p.s) && isLetter(p.s[j]) {
		j++
	}
	return p.s[p.i+1 : j]
}

// digitBeforeSpace reports whether the spaces before the cursor follow a
// digit.
func (p *parser) digitBeforeSpace() bool {
	j := p.i - 1
	for j >= 0 && p.s[j] == ' ' {
		j--
	}
	return j >= 0 && isDigit(p.s[j])
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		p.bad = true
		return false
	}
	return true
}

func (p *parser) sum() *node {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	first := p.term()
	if p.bad {
		return nil
	}
	var kids []*node
	for {
		c := p.peek()
		if c != '+' && c != '-' {
			break
		}
		p.i++
		t := p.term()
		if p.bad {
			return nil
		}
		if c == '-' {
			t = &node{k: nNeg, a: t}
		}
		if kids == nil {
			kids = []*node{first}
		}
		kids = append(kids, t)
	}
	if kids == nil {
		return first
	}
	return &node{k: nAdd, kids: kids}
}

func (p *parser) term() *node {
	f := p.unary()
	for !p.bad {
		c := p.peek()
		switch {
		case c == '*':
			p.i++
			f = mul(f, p.unary())
		case c == '/':
			p.i++
			f = &node{k: nDiv, a: f, b: p.unary()}
		case c == '\\':
			switch p.cmd() {
			case "cdot", "times", "ast":
				p.i += 1 + len(p.cmd())
				f = mul(f, p.unary())
			case "div":
				p.i += 4
				f = &node{k: nDiv, a: f, b: p.unary()}
			default:
				if !p.startsFactor() {
					return f
				}
				g := p.power()
				f = implicit(f, g)
			}
		case p.startsFactor():
			if isDigit(c) && p.i > 0 && (isDigit(p.s[p.i-1]) || p.s[p.i-1] == ' ' && p.digitBeforeSpace()) {
				return p.fail() // 1 000 or 2 3: not a product
			}
			g := p.power()
			f = implicit(f, g)
		default:
			return f
		}
	}
	return nil
}

// implicit multiplies f by g, reading an integer before a fraction of
// integers as a mixed number (3\frac{1}{2} = 7/2).
func implicit(f, g *node) *node {
	if f == nil || g == nil {
		return nil
	}
	if g.k == nDiv && isIntLit(g.a) && isIntLit(g.b) {
		if isIntLit(f) {
			return &node{k: nAdd, kids: []*node{f, g}}
		}
		if f.k == nNeg && isIntLit(f.a) {
			return &node{k: nNeg, a: &node{k: nAdd, kids: []*node{f.a, g}}}
		}
	}
	return mul(f, g)
}

func isIntLit(n *node) bool {
	return n != nil && n.k == nNum && !n.dec && n.r.IsInt()
}

func mul(a, b *node) *node {
	if a == nil || b == nil {
		return nil
	}
	if a.k == nMul {
		a.kids = append(a.kids, b)
		return a
	}
	return &node{k: nMul, kids: []*node{a, b}}
}

// startsFactor reports whether an implicit multiplication can start here.
func (p *parser) startsFactor() bool {
	c := p.peek()
	switch {
	case isDigit(c) || c == '.' || isLetter(c) || c == '(' || c == '{' || c == '[':
		return true
	case c == '\\':
		switch p.cmd() {
		case "frac", "sqrt", "pi", "infty", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos",
			"arctan", "sinh", "cosh", "tanh", "ln", "log", "exp", "binom", "lfloor", "lceil":
			return true
		}
		return isGreek(p.cmd())
	}
	return false
}

func (p *parser) unary() *node {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	switch p.peek() {
	case '-':
		p.i++
		a := p.unary()
		if a == nil {
			return p.fail()
		}
		return &node{k: nNeg, a: a}
	case '+':
		p.i++
		return p.unary()
	}
	return p.power()
}

func (p *parser) power() *node {
	base := p.postfix(p.primary())
	if p.bad {
		return nil
	}
	if p.peek() == '^' {
		p.i++
		e := p.exponent()
		if e == nil {
			return p.fail()
		}
		return p.postfix(&node{k: nPow, a: base, b: e})
	}
	return base
}

func (p *parser) postfix(n *node) *node {
	if n == nil {
		return p.fail()
	}
	for {
		switch p.peek() {
		case '!':
			p.i++
			n = &node{k: nFact, a: n}
		case '%':
			p.i++
			n = &node{k: nPct, a: n}
		case '_':
			// a subscript on a variable name
			if n.k != nVar {
				return p.fail()
			}
			p.i++
			sub := p.rawArg()
			if sub == "" {
				return p.fail()
			}
			delete(p.vars, n.name)
			n.name += "_" + sub
			p.addVar(n.name)
		case '\'':
			if n.k != nVar {
				return p.fail()
			}
			p.i++
			delete(p.vars, n.name)
			n.name += "'"
			p.addVar(n.name)
		default:
			return n
		}
	}
}

// exponent parses what follows ^: a group, or a signed atom.
func (p *parser) exponent() *node {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	switch p.peek() {
	case '{':
		return p.group('{', '}')
	case '-':
		p.i++
		a := p.exponent()
		if a == nil {
			return nil
		}
		return &node{k: nNeg, a: a}
	case '+':
		p.i++
		return p.exponent()
	}
	a := p.primary()
	if a != nil && p.peek() == '^' {
		p.i++
		e := p.exponent()
		if e == nil {
			return nil
		}
		return &node{k: nPow, a: a, b: e}
	}
	return a
}

// group parses open expr close.
func (p *parser) group(open, close byte) *node {
	if p.peek() != open {
		return p.fail()
	}
	p.i++
	n := p.sum()
	if p.bad || p.peek() != close {
		return p.fail()
	}
	p.i++
	return n
}

// arg parses a macro argument: a braced group or a single character or
// command.
func (p *parser) arg() *node {
	switch c := p.peek(); {
	case c == '{':
		return p.group('{', '}')
	case isDigit(c):
		p.i++
		return &node{k: nNum, r: new(big.Rat).SetInt64(int64(c - '0'))}
	case isLetter(c):
		p.i++
		return p.variable(string(c))
	case c == '\\':
		return p.primary()
	}
	return p.fail()
}

// rawArg reads a subscript: {text} or one character.
func (p *parser) rawArg() string {
	c := p.peek()
	if c == '{' {
		e := matchBrace(p.s, p.i)
		if e < 0 {
			return ""
		}
		t := p.s[p.i+1 : e]
		p.i = e + 1
		return t
	}
	if isDigit(c) || isLetter(c) {
		// a run of digits, or one letter
		j := p.i + 1
		if isDigit(c) {
			for j < len(p.s) && isDigit(p.s[j]) {
				j++
			}
		}
		t := p.s[p.i:j]
		p.i = j
		return t
	}
	return ""
}

func (p *parser) addVar(name string) {
	if p.vars == nil {
		p.vars = map[string]bool{}
	}
	p.vars[name] = true
}

func (p *parser) variable(name string) *node {
	if name == "e" {
		return &node{k: nConst, f: math.E, name: "E"}
	}
	p.addVar(name)
	return &node{k: nVar, name: name}
}

var functionWords = map[string]bool{
	"sin": true, "cos": true, "tan": true, "cot": true, "sec": true, "csc": true,
	"arcsin": true, "arccos": true, "arctan": true, "sinh": true, "cosh": true, "tanh": true,
	"ln": true, "log": true, "exp": true, "sqrt": true, "pi": true,
}

var greek = map[string]bool{
	"alpha": true, "beta": true, "gamma": true, "delta": true, "epsilon": true, "varepsilon": true,
	"zeta": true, "eta": true, "theta": true, "vartheta": true, "iota": true, "kappa": true,
	"lambda": true, "mu": true, "nu": true, "xi": true, "rho": true, "sigma": true, "tau": true,
	"upsilon": true, "phi": true, "varphi": true, "chi": true, "psi": true, "omega": true,
	"Gamma": true, "Delta": true, "Theta": true, "Lambda": true, "Xi": true, "Sigma": true,
	"Phi": true, "Psi": true, "Omega": true,
}

func isGreek(s string) bool { return greek[s] }

func (p *parser) primary() *node {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	c := p.peek()
	switch {
	case isDigit(c) || c == '.':
		return p.number()
	case c == '(':
		return p.group('(', ')')
	case c == '[':
		return p.group('[', ']')
	case c == '{':
		return p.group('{', '}')
	case c == '|':
		p.i++
		a := p.sum()
		if p.bad || p.peek() != '|' {
			return p.fail()
		}
		p.i++
		return &node{k: nAbs, a: a}
	case isLetter(c):
		j := p.i
		for j < len(p.s) && isLetter(p.s[j]) {
			j++
		}
		word := p.s[p.i:j]
		if len(word) > 1 {
			for w := len(word); w >= 2; w-- {
				if functionWords[word[:w]] {
					p.i += w
					return p.function(word[:w])
				}
			}
			if len(word) > 2 {
				return p.fail() // a word: not an expression
			}
		}
		p.i++
		return p.variable(word[:1])
	case c == '\\':
		name := p.cmd()
		if name == "" {
			return p.fail()
		}
		p.i += 1 + len(name)
		switch name {
		case "frac":
			a := p.arg()
			b := p.arg()
			if a == nil || b == nil {
				return p.fail()
			}
			return &node{k: nDiv, a: a, b: b}
		case "sqrt":
			var idx *node
			if p.peek() == '[' {
				idx = p.group('[', ']')
				if idx == nil {
					return p.fail()
				}
			}
			a := p.arg()
			if a == nil {
				return p.fail()
			}
			return &node{k: nRoot, a: a, b: idx}
		case "binom":
			a := p.arg()
			b := p.arg()
			if a == nil || b == nil {
				return p.fail()
			}
			return &node{k: nBinom, a: a, b: b}
		case "pi":
			return &node{k: nConst, f: math.Pi, name: "pi"}
		case "infty":
			return &node{k: nInf}
		case "lfloor", "lceil":
			a := p.sum()
			want := "rfloor"
			if name == "lceil" {
				want = "rceil"
			}
			if p.bad || p.cmd() != want {
				return p.fail()
			}
			p.i += 1 + len(want)
			return &node{k: nFunc, name: name[1:], a: a}
		}
		if functionWords[name] {
			return p.function(name)
		}
		if isGreek(name) {
			return p.variable(`\` + name)
		}
		return p.fail()
	}
	return p.fail()
}

// function parses the argument of a named function (sin, log, sqrt...).
func (p *parser) function(name string) *node {
	switch name {
	case "pi":
		return &node{k: nConst, f: math.Pi, name: "pi"}
	case "sqrt":
		a := p.fnArg()
		if a == nil {
			return p.fail()
		}
		return &node{k: nRoot, a: a}
	}
	var base, pow *node
	if name == "log" && p.peek() == '_' {
		p.i++
		base = p.arg()
		if base == nil {
			return p.fail()
		}
	}
	if p.peek() == '^' {
		p.i++
		pow = p.exponent()
		if pow == nil {
			return p.fail()
		}
	}
	a := p.fnArg()
	if a == nil {
		return p.fail()
	}
	n := &node{k: nFunc, name: name, a: a, b: base}
	if pow != nil {
		if pow.k == nNeg && isIntLit(pow.a) && pow.a.r.Cmp(big.NewRat(1, 1)) == 0 {
			return p.fail() // \sin^{-1}: an inverse, not supported
		}
		n = &node{k: nPow, a: n, b: pow}
	}
	return n
}

// fnArg parses a function argument: a group, or a run of implicitly
// multiplied factors (\sin 2x).
func (p *parser) fnArg() *node {
	switch p.peek() {
	case '(':
		return p.group('(', ')')
	case '{':
		return p.group('{', '}')
	}
	if !p.startsFactor() {
		return p.fail()
	}
	f := p.power()
	for !p.bad && p.startsFactor() && p.peek() != '(' {
		f = mul(f, p.power())
	}
	return f
}

// number parses a decimal literal with an optional exponent (1.5e-3).
func (p *parser) number() *node {
	j := p.i
	dec := false
	for j < len(p.s) && isDigit(p.s[j]) {
		j++
	}
	if j < len(p.s) && p.s[j] == '.' && j+1 < len(p.s) && isDigit(p.s[j+1]) {
		dec = true
		j++
		for j < len(p.s) && isDigit(p.s[j]) {
			j++
		}
	}
	if j == p.i {
		return p.fail()
	}
	lit := p.s[p.i:j]
	exp := 0
	if j+1 < len(p.s) && (p.s[j] == 'e' || p.s[j] == 'E') {
		k := j + 1
		if k < len(p.s) && (p.s[k] == '-' || p.s[k] == '+') {
			k++
		}
		if k < len(p.s) && isDigit(p.s[k]) {
			start := k
			for k < len(p.s) && isDigit(p.s[k]) {
				k++
			}
			if k-start > 4 {
				return p.fail()
			}
			e := 0
			for _, d := range p.s[start:k] {
				e = e*10 + int(d-'0')
			}
			if p.s[j+1] == '-' {
				e = -e
			}
			exp = e
			dec = true
			j = k
		}
	}
	p.i = j
	r, ok := parseDecimal(lit, exp)
	if !ok {
		return p.fail()
	}
	if exp == 0 && strings.HasPrefix(p.s[p.i:], `.\overline{`) {
		p.i++
	}
	if exp == 0 && strings.HasPrefix(p.s[p.i:], `\overline{`) {
		// a repeating decimal: 0.\overline{3} = 1/3, 0.1\overline{6} = 1/6
		e := strings.IndexByte(p.s[p.i:], '}')
		rep := p.s[p.i+len(`\overline{`) : p.i+max(e, 0)]
		if e < 0 || !allDigits(rep) || len(rep) > 18 {
			return p.fail()
		}
		p.i += e + 1
		if !strings.Contains(lit, ".") {
			lit += "."
		}
		frac := len(lit) - strings.IndexByte(lit, '.') - 1
		// x = lit + 0.000rep rep...: the repeating part is rep / (10^len - 1) / 10^frac
		num, _ := new(big.Int).SetString(rep, 10)
		den := new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(rep))), nil), big.NewInt(1))
		den.Mul(den, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(frac)), nil))
		r = new(big.Rat).Add(r, new(big.Rat).SetFrac(num, den))
		return &node{k: nNum, r: r}
	}
	return &node{k: nNum, r: r, dec: dec}
}

// parseDecimal parses digits[.digits] times 10^exp exactly.
func parseDecimal(lit string, exp int) (*big.Rat, bool) {
	if exp > 400 || exp < -400 {
		return nil, false
	}
	// fast path: small integers
	if len(lit) <= 18 && exp == 0 && !strings.Contains(lit, ".") {
		var v int64
		for i := 0; i < len(lit); i++ {
			v = v*10 + int64(lit[i]-'0')
		}
		return new(big.Rat).SetInt64(v), true
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok {
		return nil, false
	}
	if exp != 0 {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil)
		if exp > 0 {
			r.Mul(r, new(big.Rat).SetInt(p))
		} else {
			r.Quo(r, new(big.Rat).SetInt(p))
		}
	}
	return r, true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
