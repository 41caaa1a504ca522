package mathequiv

import "testing"

// Extraction cases of issue 13: the answer found in a solution text and
// the verdict against a reference, written from the rules before running.
func TestExtractVerdicts(t *testing.T) {
	cases := []struct {
		name, text string
		method     Method
		ref        string
		eq         bool
	}{
		{"spaced comma in a box is a list", `so it is $\boxed{32, 349}$`, MethodBoxed, `32349`, false},
		{"comma group in a box is a number", `so it is $\boxed{32,349}$`, MethodBoxed, `32349`, true},
		{"last of several boxes", `We get $\boxed{2}$ and then $\boxed{-3}$.`, MethodBoxed, "-3", true},
		{"earlier box is not the answer", `We get $\boxed{2}$ and then $\boxed{-3}$.`, MethodBoxed, "2", false},
		{"fbox", `so \fbox{7} it is`, MethodBoxed, "7", true},
		{"last inline math", `Thus the area is $12\pi$ square units and we are done`, MethodMath, `12\pi`, true},
		{"chain result", `Adding, $2+3=5$, done`, MethodMath, "5", true},
		{"label kept", `Thus $x = 4$ is the solution`, MethodMath, "4", true},
		{"label against another label", `Thus $x = 4$ is the solution`, MethodMath, "y = 4", false},
		{"display math", `Hence \[\frac{3}{4}\] remains.`, MethodMath, "0.75", true},
		{"paren math", `Hence \(\sqrt{2}\) remains.`, MethodMath, `\sqrt2`, true},
		{"final answer colon", "Some work.\nFinal Answer: 17", MethodPhrase, "17", true},
		{"final answer bold", "Some work.\n**Final Answer:** 17", MethodPhrase, "17", true},
		{"mixed number", "The recipe needs 3 1/2 cups", MethodLastNumber, `\frac{7}{2}`, true},
		{"mixed number is not its fraction", "The recipe needs 3 1/2 cups", MethodLastNumber, `\frac{1}{2}`, false},
		{"matrix whole", `The matrix is $\begin{pmatrix}1&2\\3&4\end{pmatrix}$`, MethodMath, `\begin{bmatrix}1&2\\3&4\end{bmatrix}`, true},
		{"matrix is not its last cell", `The matrix is $\begin{pmatrix}1&2\\3&4\end{pmatrix}$`, MethodMath, "4", false},
		{"parenthesised expression", "The value equals (9+1)", MethodLastNumber, "10", true},
		{"parenthesised expression is not its last number", "The value equals (9+1)", MethodLastNumber, "1", false},
		{"phrase with expression", "The answer is (9+1).", MethodPhrase, "10", true},
		{"phrase with unit", "The answer is 12 apples.", MethodPhrase, "12", true},
		{"phrase with another unit", "The answer is 12 apples.", MethodPhrase, "12 oranges", false},
		{"boxed units differ", `$\boxed{5\text{ cm}}$`, MethodBoxed, `5\text{ km}`, false},
		{"bold choice", "The answer is: **B**", MethodPhrase, "(B)", true},
		{"yes", "So the answer is yes.", MethodPhrase, "Yes", true},
		{"yes is not no", "So the answer is yes.", MethodPhrase, "no", false},
		{"dfrac after phrase", `so the answer is $\dfrac{1}{2}$`, MethodPhrase, "0.5", true},
		{"doubled backslashes", `The answer is $\\boxed{\\frac{1}{2}}$`, MethodBoxed, "0.5", true},
		{"escaped dollars are money", `She pays \$18.90 in total.`, MethodLastNumber, "18.9", true},
		{"gsm8k", "5 + 3 = 8 apples.\n#### 8", MethodPhrase, "8", true},
		{"ordered list in a box", `$\boxed{4, 10, -2}$`, MethodBoxed, "10, 4, -2", false},
		{"set in a box", `$\boxed{\{4, 10, -2\}}$`, MethodBoxed, "10, 4, -2", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, m := Extract(c.text)
			if m != c.method {
				t.Errorf("Extract(%q) = %q by %s, want method %s", c.text, raw, m, c.method)
			}
			v := Check(raw, c.ref, Options{})
			if v.Equal != c.eq {
				t.Errorf("extracted %q (%s) vs %q: %v %s, want %v", raw, m, c.ref, v.Equal, v.Reason, c.eq)
			}
			// the answer step writes the normalised text; consistency reads it
			// again and must reach the same verdict
			if w := Check(Normalize(raw), c.ref, Options{}); w.Equal != v.Equal {
				t.Errorf("normalised %q vs %q: %v, raw gave %v", Normalize(raw), c.ref, w.Equal, v.Equal)
			}
		})
	}
}

func TestBoxedAll(t *testing.T) {
	text := `The roots are $\boxed{2}$ and $\boxed{-3}$; the box \boxed{} is empty.`
	got := ExtractBoxed(text)
	if len(got) != 2 || got[0] != "2" || got[1] != "-3" {
		t.Fatalf("ExtractBoxed = %q", got)
	}
	cands := AnyOf(got)
	for _, c := range []struct {
		ref string
		eq  bool
	}{{"2", true}, {"-3", true}, {"x = -3", true}, {"3", false}, {"2, -3", false}} {
		if v := CheckAnswers(cands, Parse(c.ref), Options{}); v.Equal != c.eq {
			t.Errorf("any_of(2; -3) vs %q = %v %s, want %v", c.ref, v.Equal, v.Reason, c.eq)
		}
		if v := CheckAnswers(Parse(c.ref), cands, Options{}); v.Equal != c.eq {
			t.Errorf("%q vs any_of(2; -3) = %v, want %v (not symmetric)", c.ref, v.Equal, c.eq)
		}
	}
	if n := cands.Norm(); n != "any_of(2; -3)" {
		t.Errorf("norm %q", n)
	}
	j := ParseJSON(`{"any_of": ["\\frac{1}{2}", "7"]}`)
	if v := CheckAnswers(j, Parse("0.5"), Options{}); !v.Equal || v.Reason != Numeric {
		t.Errorf("json any_of vs 0.5: %+v", v)
	}
}
