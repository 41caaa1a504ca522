package mathequiv

import "testing"

func TestExtract(t *testing.T) {
	cases := []struct {
		name   string
		text   string
		raw    string // "" means no answer
		method Method
		norm   string
	}{
		{"minerva", "We compute $2+3=5$.\nFinal Answer: The final answer is $5$. I hope it is correct.",
			"5", MethodMinerva, "5"},
		{"minerva beats boxed", "So \\boxed{4} was wrong.\nFinal Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.",
			`\frac{1}{2}`, MethodMinerva, `\frac{1}{2}`},
		{"last of several boxes", "First try: $\\boxed{3}$. Check: no. Actually the area is $\\boxed{12}$.",
			"12", MethodBoxed, "12"},
		{"nested braces", "Thus $x = \\boxed{\\frac{\\sqrt{3}}{2}}$.",
			`\frac{\sqrt{3}}{2}`, MethodBoxed, `\frac{\sqrt{3}}{2}`},
		{"deeply nested", "Answer: \\boxed{\\left\\{ \\frac{1}{2}, \\frac{\\pi}{3} \\right\\}}",
			`\left\{ \frac{1}{2}, \frac{\pi}{3} \right\}`, MethodBoxed, `\{\frac{1}{2},\frac{\pi}{3}\}`},
		{"boxed without braces", "The value is $\\boxed 5$ in total.", "5", MethodBoxed, "5"},
		{"fbox", "so \\fbox{7} it is", "7", MethodBoxed, "7"},
		{"unbalanced last box", "We get \\boxed{6}. Then \\boxed{7", "6", MethodBoxed, "6"},
		{"boxed with units", "The perimeter is $\\boxed{24\\text{ cm}}$.", `24\text{ cm}`, MethodBoxed, `24\text{ cm}`},
		{"boxed dollars", "She pays $\\boxed{\\$18.90}$.", `\$18.90`, MethodBoxed, "18.90"},
		{"boxed text", "The day is \\boxed{\\text{Tuesday}}.", `\text{Tuesday}`, MethodBoxed, "Tuesday"},
		{"boxed tuple", "The point is $\\boxed{(1, -2)}$.", "(1, -2)", MethodBoxed, "(1,-2)"},
		{"boxed equation lhs", "Hence $\\boxed{x = 4}$.", "x = 4", MethodBoxed, "x=4"},
		{"the answer is", "Adding, we get 12 + 30 = 42.\nThe answer is 42.", "42", MethodPhrase, "42"},
		{"the answer is decimal", "So the answer is 3.75 meters.\n", "3.75 meters", MethodPhrase, `3.75\text{ meters}`},
		{"the answer is math", "Therefore, the answer is $\\frac{3}{4}$, as claimed.", `\frac{3}{4}`, MethodPhrase, `\frac{3}{4}`},
		{"the answer is colon", "The answer is: **17**", "17", MethodPhrase, "17"},
		{"final answer is", "My final answer is 100 dollars", "100 dollars", MethodPhrase, `100\text{ dollars}`},
		{"case insensitive", "THE ANSWER IS (C).", "(C)", MethodPhrase, "(C)"},
		{"gsm8k", "She has 5 + 3 = 8 apples.\n#### 8", "8", MethodPhrase, "8"},
		{"last number", "There are 3 red and 4 blue, so 7 balls in total", "7", MethodLastNumber, "7"},
		{"last number thousands", "The population grew to 1,234,567 people", "1234567", MethodLastNumber, "1234567"},
		{"last number negative decimal", "the temperature fell to -3.5 degrees", "-3.5", MethodLastNumber, "-3.5"},
		{"last number fraction", "so the probability is 3/8", "3/8", MethodLastNumber, `\frac{3}{8}`},
		{"no answer", "I am not sure how to solve this.", "", MethodNone, ""},
		{"empty", "", "", MethodNone, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, m := Extract(c.text)
			if raw != c.raw || m != c.method {
				t.Fatalf("Extract = %q (%s), want %q (%s)", raw, m, c.raw, c.method)
			}
			if got := Normalize(raw); got != c.norm {
				t.Errorf("Normalize(%q) = %q, want %q", raw, got, c.norm)
			}
		})
	}
}

// TestExtractThenCompare runs realistic solutions against reference answers.
func TestExtractThenCompare(t *testing.T) {
	cases := []struct {
		solution, ref string
		want          bool
	}{
		{"Let the width be $w$. Then $2w + 2(2w) = 36$, so $w = 6$ and the area is $6 \\cdot 12 = \\boxed{72}$ square units.", "72", true},
		{"The roots are $x = \\boxed{2}$ and $x = \\boxed{-3}$... wait, the sum is $\\boxed{-1}$.", "-1", true},
		{"$\\sin 60^\\circ = \\boxed{\\dfrac{\\sqrt3}{2}}$", `\frac{\sqrt{3}}{2}`, true},
		{"We get $\\boxed{\\frac{1}{3}}$.", "0.3333333333333333", true},
		{"Thus $P = \\boxed{50\\%}$.", "0.5", true},
		{"The interval is $\\boxed{(-\\infty, 2]}$.", `(-\infty,2]`, true},
		{"The interval is $\\boxed{(-\\infty, 2)}$.", `(-\infty,2]`, false},
		{"Total cost: the answer is \\$1,250.", "1250", true},
		{"The answer is 12345", "12346", false},
	}
	for _, c := range cases {
		raw, _ := Extract(c.solution)
		if got, r := Equal(raw, c.ref, Options{}); got != c.want {
			t.Errorf("%q: extracted %q vs %q = %v (%s), want %v", c.solution, raw, c.ref, got, r, c.want)
		}
	}
}
