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
		Program  string `yaml:"program"`
		Expect   string `yaml:"expect"`
		Problem  string `yaml:"problem"`
		Solution string `yaml:"solution"`
		// SolutionFinishReason overrides "stop" (e.g. "length": cut off by max_tokens).
		SolutionFinishReason string `yaml:"solution_finish_reason"`
		Judge                string `yaml:"judge"`
	} `yaml:"reverse"`
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
	for _, r := range s.Reverse {
		if r.Problem == "" {
			return nil, fmt.Errorf("script: reverse entry %q has no problem", r.Program)
		}
		rules = append(rules, llmtest.Rule{Match: both(s.Markers.Problem, r.Program), Reply: literal(r.Problem)})
		key := firstLine(r.Problem)
		if r.Solution != "" {
			rules = append(rules, llmtest.Rule{Match: both(s.Markers.Solve, key), Reply: literal(r.Solution), FinishReason: r.SolutionFinishReason})
		}
		if r.Judge != "" {
			rules = append(rules, llmtest.Rule{Match: both(s.Markers.Judge, key), Reply: literal(r.Judge)})
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
