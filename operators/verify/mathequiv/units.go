package mathequiv

import (
	"math/big"
	"strings"
)

// Units. An answer's unit is the text after its value ("5 cm",
// "9.8\,\mathrm{m\,s^{-2}}", "12 square units"). Two answers with units
// are equal only when the units are the same or one converts to the other
// (then the converted values are compared exactly: 980 cm/s^2 = 9.8 m/s^2);
// a unit is ignored only when the other side has none.

// dims are exponents of length, mass, time, current, temperature, amount
// and money.
type dims [7]int8

type unitDef struct {
	scale *big.Rat // in SI base units (money: dollars)
	d     dims
}

// unit is a parsed unit: known (a scale and dimensions) or opaque (its
// canonical words, compared as text).
type unit struct {
	text  string // canonical text
	known bool
	scale *big.Rat
	d     dims
}

var unitTable = buildUnits()

func ratOf(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("bad unit scale " + s)
	}
	return r
}

func buildUnits() map[string]unitDef {
	t := map[string]unitDef{}
	L, M, T, I, K, N, C := dims{1}, dims{0, 1}, dims{0, 0, 1}, dims{0, 0, 0, 1}, dims{0, 0, 0, 0, 1}, dims{0, 0, 0, 0, 0, 1}, dims{0, 0, 0, 0, 0, 0, 1}
	add := func(scale string, d dims, names ...string) {
		for _, n := range names {
			t[n] = unitDef{ratOf(scale), d}
		}
	}
	prefixes := []struct{ p, f string }{{"", "1"}, {"k", "1000"}, {"c", "1/100"}, {"m", "1/1000"}, {"u", "1/1000000"},
		{"μ", "1/1000000"}, {"µ", "1/1000000"}, {"n", "1/1000000000"}, {"M", "1000000"}, {"G", "1000000000"}, {"d", "1/10"}}
	base := []struct {
		sym   string
		scale string
		d     dims
	}{
		{"m", "1", L}, {"g", "1/1000", M}, {"s", "1", T}, {"A", "1", I}, {"K", "1", K}, {"mol", "1", N},
		{"L", "1/1000", dims{3}}, {"l", "1/1000", dims{3}},
		{"N", "1", dims{1, 1, -2}}, {"J", "1", dims{2, 1, -2}}, {"W", "1", dims{2, 1, -3}}, {"Pa", "1", dims{-1, 1, -2}},
		{"V", "1", dims{2, 1, -3, -1}}, {"Hz", "1", dims{0, 0, -1}}, {"C", "1", dims{0, 0, 1, 1}}, {"Ohm", "1", dims{2, 1, -3, -2}},
	}
	for _, b := range base {
		for _, p := range prefixes {
			name := p.p + b.sym
			if _, dup := t[name]; dup {
				continue
			}
			t[name] = unitDef{new(big.Rat).Mul(ratOf(p.f), ratOf(b.scale)), b.d}
		}
	}
	delete(t, "cs") // rarely centiseconds; keep the table small and obvious
	add("1", L, "meter", "meters", "metre", "metres")
	add("1/100", L, "centimeter", "centimeters", "centimetre", "centimetres")
	add("1/1000", L, "millimeter", "millimeters", "millimetre", "millimetres")
	add("1000", L, "kilometer", "kilometers", "kilometre", "kilometres")
	add("127/5000", L, "inch", "inches")
	add("381/1250", L, "ft", "foot", "feet")
	add("1143/1250", L, "yd", "yard", "yards")
	add("201168/125", L, "mi", "mile", "miles")
	add("1/1000", M, "gram", "grams")
	add("1", M, "kilogram", "kilograms")
	add("1/1000000", M, "milligram", "milligrams")
	add("1000", M, "t", "tonne", "tonnes")
	add("1", T, "sec", "secs", "second", "seconds")
	add("60", T, "min", "mins", "minute", "minutes")
	add("3600", T, "h", "hr", "hrs", "hour", "hours")
	add("86400", T, "day", "days")
	add("604800", T, "week", "weeks")
	add("1/1000", dims{3}, "liter", "liters", "litre", "litres")
	add("1/1000000", dims{3}, "milliliter", "milliliters", "millilitre", "millilitres")
	add("1", N, "mole", "moles")
	add("1", C, "dollar", "dollars", "USD", "\\$")
	add("1/100", C, "cent", "cents")
	add("1", dims{1, 1, -2}, "newton", "newtons")
	add("1", dims{2, 1, -2}, "joule", "joules")
	add("1", dims{2, 1, -3}, "watt", "watts")
	return t
}

// canonicalUnitText cleans a unit's text: LaTeX wrappers and spacing gone,
// single spaces.
func canonicalUnitText(u string) string {
	u = strings.TrimSpace(u)
	if u == "" {
		return ""
	}
	for _, c := range []string{`\text`, `\mathrm`, `\mbox`, `\textrm`, `\textnormal`, `\operatorname`} {
		u = unwrapCmd(u, c)
	}
	u = strings.NewReplacer(`\cdot`, " ", `\,`, " ", `\;`, " ", `\!`, "", `\ `, " ", "*", " ", "~", " ", `\mu`, "μ", `\Omega`, "Ohm").Replace(u)
	u = strings.TrimRight(strings.TrimSpace(u), ".")
	return strings.Join(strings.Fields(u), " ")
}

// parseUnit reads a canonical unit text.
func parseUnit(text string) *unit {
	u := &unit{text: text, scale: big.NewRat(1, 1)}
	if def, ok := readUnit(text); ok {
		u.known, u.scale, u.d = true, def.scale, def.d
		return u
	}
	// opaque: words compared without case, spaces or a plural s
	words := strings.Fields(strings.ToLower(text))
	for i, w := range words {
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			words[i] = w[:len(w)-1]
		}
	}
	u.text = strings.Join(words, " ")
	return u
}

// readUnit parses products and quotients of known units with integer
// powers: "m/s^2", "m s^{-2}", "km/h", "square meters", "kg m^2/s^2".
func readUnit(s string) (unitDef, bool) {
	s = strings.NewReplacer("(", " ", ")", " ", " per ", "/").Replace(s)
	out := unitDef{scale: big.NewRat(1, 1)}
	denom := false
	power := 1
	any := false
	for _, part := range strings.Split(s, "/") {
		for _, w := range strings.Fields(part) {
			switch w {
			case "square", "sq":
				power = 2
				continue
			case "cubic", "cu":
				power = 3
				continue
			}
			name, exp := w, 1
			if k := strings.IndexByte(w, '^'); k > 0 {
				name = w[:k]
				e := strings.Trim(w[k+1:], "{}")
				neg := strings.HasPrefix(e, "-")
				e = strings.TrimPrefix(e, "-")
				if !allDigits(e) || len(e) > 1 {
					return unitDef{}, false
				}
				exp = int(e[0] - '0')
				if neg {
					exp = -exp
				}
			}
			def, ok := unitTable[name]
			if !ok {
				return unitDef{}, false
			}
			exp *= power
			power = 1
			if denom {
				exp = -exp
			}
			for i := 0; i < abs(exp); i++ {
				if exp > 0 {
					out.scale = new(big.Rat).Mul(out.scale, def.scale)
				} else {
					out.scale = new(big.Rat).Quo(out.scale, def.scale)
				}
			}
			for i := range out.d {
				out.d[i] += def.d[i] * int8(exp)
			}
			any = true
		}
		denom = true
	}
	if power != 1 {
		return unitDef{}, false
	}
	return out, any
}

// sameUnit reports whether two units are the same (equal text) or
// convertible, and the factors that bring each to the common base.
func sameUnit(a, b *unit) (convertible bool) {
	if a.text == b.text {
		return true
	}
	return a.known && b.known && a.d == b.d
}
