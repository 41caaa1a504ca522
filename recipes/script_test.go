package recipes_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/caco-dev/caco/operators/generate/llmtest"
	"go.yaml.in/yaml/v3"
)

// script is testdata/quickstart/script.yaml: the authored LLM replies of
// the quickstart. Each reply is found by a marker (distinctive text of the
// prompt of one step, a regexp) plus a literal key from the row (the seed's
// problem, the seed's program, the generated problem): the same pairing a
// real model makes, independent of the order in which requests arrive.
type script struct {
	Markers struct {
		Unify    string            `yaml:"unify"`
		CodeGen  string            `yaml:"codegen"`
		Variants map[string]string `yaml:"variants"`
		Problem  string            `yaml:"problem"`
		Styles   map[string]string `yaml:"styles"`
		Solve    string            `yaml:"solve"`
		Judge    string            `yaml:"judge"`
	} `yaml:"markers"`
	Unify []struct {
		Seed   string `yaml:"seed"`
		Expect string `yaml:"expect"`
		Reply  string `yaml:"reply"`
	} `yaml:"unify"`
	CodeGen []struct {
		Expect string `yaml:"expect"`
		Reply  string `yaml:"reply"`
	} `yaml:"codegen"`
	Variants []struct {
		Seed         string `yaml:"seed"`
		Variant      string `yaml:"variant"`
		Expect       string `yaml:"expect"`
		FinishReason string `yaml:"finish_reason"`
		Reply        string `yaml:"reply"`
	} `yaml:"variants"`
	Reverse []struct {
		Program string `yaml:"program"`
		// Expect, Problem, Solution, SolutionFinishReason and Judge are the
		// textbook style's; Styles gives the problems of the other styles,
		// which share the entry's solution and judge unless they give
		// their own.
		styleEntry `yaml:",inline"`
		Styles     map[string]styleEntry `yaml:"styles"`
	} `yaml:"reverse"`
}

// styleEntry is one back-translated problem and what answers it.
type styleEntry struct {
	Expect   string `yaml:"expect"`
	Problem  string `yaml:"problem"`
	Solution string `yaml:"solution"`
	// SolutionFinishReason overrides "stop" (e.g. "length": cut off by max_tokens).
	SolutionFinishReason string `yaml:"solution_finish_reason"`
	Judge                string `yaml:"judge"`
}

// styleOrder lists an entry's styles: textbook first, then the others by name.
func styleOrder(styles map[string]styleEntry) []string {
	out := []string{"textbook"}
	var rest []string
	for k := range styles {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

type seedRow struct {
	ID, Problem string
}

func readSeeds(path string) (map[string]seedRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening seeds: %w", err)
	}
	defer f.Close()
	out := map[string]seedRow{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r struct {
			ID      string `json:"id"`
			Problem string `json:"problem"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("reading seeds %s: %w", path, err)
		}
		out[r.ID] = seedRow{ID: r.ID, Problem: r.Problem}
	}
	return out, sc.Err()
}

// literal quotes a Go template text so that it renders as itself.
func literal(s string) string { return "{{" + strconv.Quote(s) + "}}" }

// both matches marker and key in either order.
func both(marker, key string) string {
	k := regexp.QuoteMeta(key)
	return "(?s)(?:" + marker + ".*" + k + "|" + k + ".*" + marker + ")"
}

// firstLine is the first non-blank line of s, trimmed.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// inputLine is the line of a reply that binds `input =`: distinctive for a
// program, and part of every prompt that shows the program.
func inputLine(reply string) string {
	for _, l := range strings.Split(reply, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "input = ") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// loadScript reads the script and turns it into test-server rules; a last
// rule answers every prompt the script does not cover with a 400, which
// generate rejects as llm_error without retrying (the update test fails on
// any).
func loadScript(path, seedsPath string) ([]llmtest.Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading script: %w", err)
	}
	var s script
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading script %s: %w", path, err)
	}
	seeds, err := readSeeds(seedsPath)
	if err != nil {
		return nil, err
	}
	var rules []llmtest.Rule
	codeOf := map[string]string{}
	for _, u := range s.Unify {
		sd, ok := seeds[u.Seed]
		if !ok {
			return nil, fmt.Errorf("script: unify reply for unknown seed %q", u.Seed)
		}
		codeOf[u.Seed] = u.Reply
		rules = append(rules, llmtest.Rule{Match: both(s.Markers.Unify, sd.Problem), Reply: literal(u.Reply)})
	}
	for _, v := range s.Variants {
		m, ok := s.Markers.Variants[v.Variant]
		if !ok {
			return nil, fmt.Errorf("script: no marker for variant %q", v.Variant)
		}
		key := inputLine(codeOf[v.Seed])
		if key == "" {
			return nil, fmt.Errorf("script: variant %s of %s: the seed's unify reply has no `input =` line", v.Variant, v.Seed)
		}
		rules = append(rules, llmtest.Rule{Match: both(m, key), Reply: literal(v.Reply), FinishReason: v.FinishReason})
	}
	if len(s.CodeGen) > 0 {
		var b strings.Builder
		for i, c := range s.CodeGen {
			if i == 0 {
				b.WriteString("{{if eq .Sample 0}}")
			} else {
				fmt.Fprintf(&b, "{{else if eq .Sample %d}}", i)
			}
			b.WriteString(literal(c.Reply))
		}
		b.WriteString("{{else}}{{\"(no scripted sample)\"}}{{end}}")
		rules = append(rules, llmtest.Rule{Match: "(?s)" + s.Markers.CodeGen, Reply: b.String()})
	}
	keys := map[string]string{}
	for _, r := range s.Reverse {
		if r.Problem == "" {
			return nil, fmt.Errorf("script: reverse entry %q has no problem", r.Program)
		}
		for _, style := range styleOrder(r.Styles) {
			e := r.styleEntry
			if style != "textbook" {
				e = r.Styles[style]
				if e.Problem == "" {
					return nil, fmt.Errorf("script: reverse entry %q, style %s has no problem", r.Program, style)
				}
				if e.Solution == "" {
					e.Solution, e.SolutionFinishReason = r.Solution, r.SolutionFinishReason
				}
				if e.Judge == "" {
					e.Judge = r.Judge
				}
			}
			marker, ok := s.Markers.Styles[style]
			if !ok {
				return nil, fmt.Errorf("script: no marker for style %q", style)
			}
			// the back_translate prompt: the problem marker, then the
			// style's instruction, then the program
			rules = append(rules, llmtest.Rule{Match: "(?s)" + s.Markers.Problem + ".*" + marker + ".*" + regexp.QuoteMeta(r.Program), Reply: literal(e.Problem)})
			key := firstLine(e.Problem)
			if prev, dup := keys[key]; dup {
				return nil, fmt.Errorf("script: reverse entries %q and %q (style %s) start with the same line %q: solve and judge could not tell them apart", prev, r.Program, style, key)
			}
			keys[key] = r.Program
			if e.Solution != "" {
				rules = append(rules, llmtest.Rule{Match: both(s.Markers.Solve, key), Reply: literal(e.Solution), FinishReason: e.SolutionFinishReason})
			}
			if e.Judge != "" {
				rules = append(rules, llmtest.Rule{Match: both(s.Markers.Judge, key), Reply: literal(e.Judge)})
			}
		}
	}
	rules = append(rules, llmtest.Rule{Match: ".", Status: 400, Reply: "prompt not in testdata/quickstart/script.yaml"})
	return rules, nil
}

// sortLines rewrites a JSONL file with its lines sorted, so that a
// re-recorded replay file only changes where responses changed.
func sortLines(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	sort.Strings(lines)
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// ledgerEntry is a line of rejects.jsonl.
type ledgerEntry struct {
	Step   string         `json:"step"`
	Reason string         `json:"reason"`
	Detail string         `json:"detail"`
	Data   map[string]any `json:"data"`
}

func readLedger(path string) ([]ledgerEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []ledgerEntry
	for i, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var e ledgerEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// execReasons are the exec step's reject reasons.
var execReasons = map[string]bool{"exception": true, "too_short": true, "unused_input": true, "no_output": true,
	"too_large": true, "timeout": true, "no_input": true, "memory": true, "killed": true, "output_limit": true}

// expectation is a script entry's `expect`: the step that must reject the
// entry's row, the reason, and how to recognise the row in the ledger.
type expectation struct {
	what, step, reason string
	match              func(e ledgerEntry) bool
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// expectations turns every `expect` of the script into the reject it
// promises.
func expectations(path string) ([]expectation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s script
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	var out []expectation
	bad := func(what, expect string) error {
		return fmt.Errorf("script: %s: no step rejects for %q (see expectations in recipes/script_test.go)", what, expect)
	}
	for _, u := range s.Unify {
		if u.Expect == "" {
			continue
		}
		seed := u.Seed
		x := expectation{what: "unify " + seed, reason: u.Expect, match: func(e ledgerEntry) bool { return str(e.Data, "id") == seed }}
		switch {
		case u.Expect == "parse_error":
			x.step = "unify"
		case execReasons[u.Expect]:
			x.step = "run_seed_cots"
		case u.Expect == "mismatch":
			x.step = "correct"
		case u.Expect == "duplicate":
			x.step = "dedup_seed_cots"
		default:
			return nil, bad(x.what, u.Expect)
		}
		out = append(out, x)
	}
	for i, c := range s.CodeGen {
		if c.Expect == "" {
			continue
		}
		id := fmt.Sprintf("codegen-%d", i)
		prefix := fmt.Sprintf("sample %d:", i)
		x := expectation{what: "codegen sample " + strconv.Itoa(i), reason: c.Expect, match: func(e ledgerEntry) bool { return str(e.Data, "cot_id") == id }}
		switch {
		case c.Expect == "parse_error":
			x.step = "codegen"
			x.match = func(e ledgerEntry) bool { return strings.HasPrefix(e.Detail, prefix) }
		case execReasons[c.Expect]:
			x.step = "run_cots"
		case c.Expect == "duplicate":
			x.step = "dedup_cots"
		default:
			return nil, bad(x.what, c.Expect)
		}
		out = append(out, x)
	}
	for _, v := range s.Variants {
		if v.Expect == "" {
			continue
		}
		id := v.Seed + "-" + v.Variant
		seed, variant := v.Seed, v.Variant
		x := expectation{what: "variant " + id, reason: v.Expect, match: func(e ledgerEntry) bool { return str(e.Data, "cot_id") == id }}
		switch {
		case v.Expect == "truncated" || v.Expect == "parse_error":
			x.step = "variants"
			x.match = func(e ledgerEntry) bool {
				return str(e.Data, "seed_id") == seed && strings.Contains(e.Detail, "variant "+variant)
			}
		case execReasons[v.Expect]:
			x.step = "run_cots"
		case v.Expect == "duplicate":
			x.step = "dedup_cots"
		default:
			return nil, bad(x.what, v.Expect)
		}
		out = append(out, x)
	}
	for _, r := range s.Reverse {
		for _, style := range styleOrder(r.Styles) {
			e := r.styleEntry
			if style != "textbook" {
				e = r.Styles[style]
			}
			if e.Expect == "" {
				continue
			}
			program, st := r.Program, style
			x := expectation{what: fmt.Sprintf("reverse %q style %s", program, style), reason: e.Expect,
				match: func(e ledgerEntry) bool {
					return strings.Contains(str(e.Data, "code"), program) && str(e.Data, "style") == st
				}}
			switch e.Expect {
			case "missing_given", "mentions_code", "leaks_answer":
				x.step = "problem"
				x.match = func(e ledgerEntry) bool {
					return strings.Contains(str(e.Data, "code"), program) && strings.HasPrefix(e.Detail, "style "+st+":")
				}
			case "truncated":
				x.step = "solve"
			case "no_answer":
				x.step = "final_answer"
			case "mismatch":
				x.step = "consistent"
			case "parse_error":
				x.step = "judge"
			case "judge_no":
				x.step, x.reason = "judged", "where is false"
			default:
				return nil, bad(x.what, e.Expect)
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// checkExpectations fails for every script entry whose row the run did
// not reject at the promised step for the promised reason.
func checkExpectations(t *testing.T, scriptPath, ledgerPath string) {
	t.Helper()
	xs, err := expectations(scriptPath)
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := readLedger(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) < 20 {
		t.Errorf("only %d expectations in the script", len(xs))
	}
	for _, x := range xs {
		found := false
		var other []string
		for _, e := range ledger {
			if !x.match(e) {
				continue
			}
			if e.Step == x.step && e.Reason == x.reason {
				found = true
				break
			}
			other = append(other, e.Step+"/"+e.Reason)
		}
		if !found {
			t.Errorf("%s: expected a %q reject at step %s; the ledger has for this row: %v", x.what, x.reason, x.step, other)
		}
	}
}
