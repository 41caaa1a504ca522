package exec

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/caco-dev/caco/operators/exec/sandbox"
)

// Code CoT statuses decided by the convention, on top of the sandbox's
// (sandbox.Status*).
const (
	StatusTooShort    = "too_short"
	StatusUnusedInput = "unused_input"
	StatusTooLarge    = "too_large"
	StatusNoOutput    = "no_output"
	StatusNoInput     = "no_input"
)

// pyWS is Python's \s (str.isspace) as an RE2 class.
const pyWS = `[\t-\r\x1c- \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]`

// fenceRe is the reference regex ```(?:python)?\s*([\s\S]+?)\s*``` with
// Python's \s.
var fenceRe = regexp.MustCompile("```(?:python)?" + pyWS + "*((?s:.)+?)" + pyWS + "*```")

// ExtractCode returns the program of a Code CoT: the first fenced block
// matching ```(?:python)?\s*([\s\S]+?)\s*``` (non-greedy), or with no such
// block the whole text, stripped.
func ExtractCode(text string) string {
	if m := fenceRe.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return sandbox.TrimPython(text)
}

// CountLines counts the lines that are not blank, not comments (stripped
// text starting with #) and not imports (stripped text starting with
// "import"; `from x import y` lines count).
func CountLines(code string) int {
	n := 0
	for _, l := range strings.Split(code, "\n") {
		t := sandbox.TrimPython(l)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "import") {
			continue
		}
		n++
	}
	return n
}

// Rules are the Code CoT checks; each can be tuned or switched off.
type Rules struct {
	// MinLines: fewer counted lines (see CountLines) is too_short; 0 = off.
	MinLines int
	// RequireInput: a program that defines no global `input` is an exception.
	RequireInput bool
	// CheckUnusedInput: a key of a dict `input` that occurs nowhere in the
	// code as an identifier is unused_input.
	CheckUnusedInput bool
	// CheckTooLarge: an int input or output with more than the pool's
	// MaxDigits digits is too_large.
	CheckTooLarge bool
	// CheckNoOutput: output None or "" is no_output.
	CheckNoOutput bool
	// CheckNoInput: input None or "" is no_input.
	CheckNoInput bool
}

// CacoRules are the reference rules.
var CacoRules = Rules{MinLines: 6, RequireInput: true, CheckUnusedInput: true, CheckTooLarge: true, CheckNoOutput: true, CheckNoInput: true}

// NoRules only runs the program: the status is the sandbox's.
var NoRules = Rules{}

// Outcome is the result of running one Code CoT.
type Outcome struct {
	Status    string
	Reason    string
	Traceback string
	// Input and Output are JSON text, nil when absent.
	Input  json.RawMessage
	Output json.RawMessage
	Stdout string
	// Ran reports whether the program was run (false for too_short).
	Ran     bool
	Elapsed time.Duration
}

// Run extracts the code from text, applies the rules and runs it in pool.
// input, when non-nil, is JSON text bound to the global `input` first. The
// error is the pool's (infrastructure failure only).
func Run(ctx context.Context, pool *sandbox.Pool, text string, input *string, rules Rules) (Outcome, error) {
	code := ExtractCode(text)
	if rules.MinLines > 0 {
		if n := CountLines(code); n < rules.MinLines {
			return Outcome{Status: StatusTooShort, Reason: tooShortReason(n, rules.MinLines)}, nil
		}
	}
	res, err := pool.Run(ctx, code, input)
	if err != nil {
		return Outcome{}, err
	}
	return Classify(res, rules), nil
}

func tooShortReason(n, min int) string {
	return "the code has " + itoa(n) + " counted lines, fewer than " + itoa(min)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Classify applies the rules to a sandbox result, in the reference order:
// exception (and sandbox outcomes), timeout, unused_input, too_large,
// no_output, no_input.
func Classify(res sandbox.Result, rules Rules) Outcome {
	o := Outcome{Status: res.Status, Reason: res.Reason, Traceback: res.Traceback, Stdout: res.Stdout, Ran: true, Elapsed: res.Elapsed}
	if res.Status != sandbox.StatusOK {
		return o
	}
	o.Input, o.Output = res.Input, res.Output
	if !res.HasInput {
		o.Input = nil
	}
	switch {
	case rules.RequireInput && !res.HasInput:
		o.Status, o.Reason = sandbox.StatusException, "NameError: the program defines no global 'input'"
	case rules.CheckUnusedInput && len(res.UnusedInput) > 0:
		o.Status, o.Reason = StatusUnusedInput, "input keys not used in the code: "+strings.Join(res.UnusedInput, ", ")
	case rules.CheckTooLarge && res.TooLarge != "":
		o.Status, o.Reason = StatusTooLarge, res.TooLarge+" is an int with too many digits"
	case rules.CheckNoOutput && res.OutputEmpty:
		o.Status, o.Reason = StatusNoOutput, "output is None or empty"
	case rules.CheckNoInput && res.HasInput && res.InputEmpty:
		o.Status, o.Reason = StatusNoInput, "input is None or empty"
	}
	return o
}
