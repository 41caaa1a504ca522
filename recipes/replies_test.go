package recipes_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caco-dev/caco/operators/generate/llmtest"
	"go.yaml.in/yaml/v3"
)

// replyScript is a small recipe's authored replies: for prompts holding a
// literal, one reply per sample index.
type replyScript struct {
	Model   string `yaml:"model"`
	Replies []struct {
		Match   string   `yaml:"match"`
		Samples []string `yaml:"samples"`
	} `yaml:"replies"`
}

// replyRecipes are the recipes whose replay files come from a reply script.
var replyRecipes = []struct {
	recipe, script, replay string
	set                    map[string]string // points the recipe's model at the server
}{
	{"caco-eval.yaml", "../testdata/eval/script.yaml", "../testdata/eval/replay", map[string]string{"solver_replay": ""}},
	{"caco-hard.yaml", "../testdata/hard/script.yaml", "../testdata/hard/replay", map[string]string{"solver_replay": ""}},
	{"caco-science.yaml", "../testdata/science/script.yaml", "../testdata/science/replay", map[string]string{"instruct_replay": ""}},
}

func loadReplyScript(path string) (*replyScript, []llmtest.Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var s replyScript
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var rules []llmtest.Rule
	for _, r := range s.Replies {
		var b strings.Builder
		for i, rep := range r.Samples {
			if i == 0 {
				b.WriteString("{{if eq .Sample 0}}")
			} else {
				fmt.Fprintf(&b, "{{else if eq .Sample %d}}", i)
			}
			b.WriteString(literal(rep))
		}
		b.WriteString("{{else}}{{\"(no scripted sample)\"}}{{end}}")
		rules = append(rules, llmtest.Rule{Match: regexp.QuoteMeta(r.Match), Reply: b.String()})
	}
	rules = append(rules, llmtest.Rule{Match: ".", Status: 400, Reply: "prompt not in " + path})
	return &s, rules, nil
}

// TestReplies records each reply-scripted recipe against the test server
// and compares the replay files with the committed ones (-update rewrites
// them): the replay files are exactly what the scripts say.
func TestReplies(t *testing.T) {
	for _, rr := range replyRecipes {
		t.Run(rr.recipe, func(t *testing.T) {
			s, rules, err := loadReplyScript(rr.script)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := llmtest.Start(llmtest.Config{Rules: rules}, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			rec := t.TempDir()
			set := map[string]string{s.Model + "_url": srv.URL()}
			for k, v := range rr.set {
				set[k] = v
			}
			st, dir := runRecipe(t, rr.recipe, set, map[string]string{"record": rec}, nil)
			for _, step := range st.Steps {
				if n := step.Rejects["llm_error"]; n > 0 {
					t.Errorf("step %s: %d prompts are not in %s (llm_error); see %s/rejects.jsonl", step.Step, n, rr.script, dir)
				}
			}
			got := filepath.Join(rec, s.Model+".jsonl")
			if err := sortLines(got); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(got)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(rr.replay, s.Model+".jsonl")
			if *update {
				if err := os.MkdirAll(rr.replay, 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, want, data)
				return
			}
			old, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test ./recipes -run TestReplies -update)", err)
			}
			if !bytes.Equal(old, data) {
				t.Errorf("%s is not what %s records (run go test ./recipes -run TestReplies -update)", want, rr.script)
			}
		})
	}
}
