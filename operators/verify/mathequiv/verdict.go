package mathequiv

// Verdict is the outcome of comparing two answers: whether they are equal
// and the rule that decided it (Reason: exact, numeric, symbolic, set,
// interval, equation, unit, text, choice when equal; mismatch,
// unit_mismatch or unparsable when not). A and B are the normalised
// answers, for audit trails.
type Verdict struct {
	Equal  bool
	Reason Reason
	A, B   string
}

// Check normalises, parses and compares two answers. It is the public
// verdict API shared by consistency, vote and the reward service, and is
// safe for concurrent use.
func Check(a, b string, opts Options) Verdict {
	return CheckAnswers(Parse(a), Parse(b), opts)
}

// CheckAnswers compares two parsed answers.
func CheckAnswers(a, b *Answer, opts Options) Verdict {
	eq, r := Compare(a, b, opts)
	return Verdict{Equal: eq, Reason: r, A: a.Norm(), B: b.Norm()}
}

// Reasons lists every reason a verdict can carry, equal ones first.
func Reasons() []Reason {
	return []Reason{Exact, Numeric, Symbolic, Set, Interval, Equation, Unit, Text, Choice, Mismatch, UnitMismatch, Unparsable}
}
