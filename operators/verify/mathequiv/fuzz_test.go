package mathequiv

import (
	"strings"
	"testing"
)

// FuzzCheck checks the properties issue 13 asks of the verdict: an
// accepted answer equals itself, swapping sides changes nothing, and
// formatting (spaces around operators, \left/\right, \dfrac for \frac)
// never changes the verdict. The seeds (every pair of the tables) run in
// CI with go test; go test -fuzz FuzzCheck explores further.
func FuzzCheck(f *testing.F) {
	for _, c := range pairCases {
		f.Add(c.a, c.b)
	}
	for _, g := range verdictTable {
		for _, c := range g.cases {
			f.Add(c.a, c.b)
		}
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 200 || len(b) > 200 {
			return
		}
		o := Options{}
		if !Parse(a).Empty() {
			if v := Check(a, a, o); !v.Equal {
				t.Fatalf("Check(%q, itself) = %+v", a, v)
			}
		}
		v := Check(a, b, o)
		if w := Check(b, a, o); w.Equal != v.Equal || w.Reason != v.Reason {
			t.Fatalf("not symmetric: Check(%q, %q) = %v %s but swapped %v %s", a, b, v.Equal, v.Reason, w.Equal, w.Reason)
		}
		for _, fa := range reformat(a) {
			if w := Check(fa, b, o); w.Equal != v.Equal {
				t.Fatalf("formatting changed the verdict: Check(%q, %q) = %v %s but Check(%q, ...) = %v %s",
					a, b, v.Equal, v.Reason, fa, w.Equal, w.Reason)
			}
		}
	})
}

// reformat returns variants of s that differ only in formatting.
func reformat(s string) []string {
	var out []string
	if strings.Contains(s, `\frac`) {
		out = append(out, strings.ReplaceAll(s, `\frac`, `\dfrac`))
	}
	if strings.Contains(s, `\dfrac`) {
		out = append(out, strings.ReplaceAll(s, `\dfrac`, `\frac`))
	}
	if balancedParens(s) && strings.Contains(s, "(") && !strings.Contains(s, `\left`) && !strings.Contains(s, `\right`) &&
		!strings.Contains(s, `\(`) && !strings.Contains(s, `\)`) {
		out = append(out, strings.NewReplacer("(", `\left(`, ")", `\right)`).Replace(s))
	}
	out = append(out, " "+s+" ")
	if !strings.ContainsAny(s, "\\") && !strings.Contains(s, "!=") && !strings.Contains(s, "<=") &&
		!strings.Contains(s, ">=") && !strings.Contains(s, "==") {
		// spaces around + and = (not inside numbers or commands)
		out = append(out, strings.NewReplacer("+", " + ", "=", " = ").Replace(s))
	}
	return out
}

func balancedParens(s string) bool {
	d := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			d++
		case ')':
			d--
			if d < 0 {
				return false
			}
		}
	}
	return d == 0
}
