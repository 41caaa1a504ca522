// Package backtranslate is the `back_translate` operator: Caco's third
// stage turns each executed Code CoT (program, input, output) into natural
// language problems in several styles, and checks that each problem states
// the program's givens, does not mention the program and does not give the
// answer away.
//
// The LLM calls go through the generate operator (one generate per style,
// sharing the run's model client, response cache, replay and record files),
// so caching, retries, replay and deferred rows behave exactly as in
// generate steps.
package backtranslate

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/generate"
	"go.yaml.in/yaml/v3"
)

// Field names.
const (
	fModel       = "model"
	fCode        = "code"
	fGiven       = "given"
	fAnswer      = "answer"
	fOutput      = "output"
	fSystem      = "system"
	fPrompt      = "prompt"
	fStyles      = "styles"
	fInstruction = "instruction"
	fCount       = "count"
	fLanguage    = "language"
	fScales      = "scales"
	fChecks      = "checks"
	fGivens      = "givens"
	fNoCode      = "no_code"
	fNoAnswer    = "no_answer"
	fWords       = "words"
	fTemperature = "temperature"
	fTopP        = "top_p"
	fMaxTokens   = "max_tokens"
	fSeed        = "seed"
	fExtra       = "extra"
	fCache       = "cache"
)

// Columns.
const (
	ColStyle            = "style"
	ColStyleSample      = "style_sample"
	colStyleInstruction = "style_instruction"
	colRow              = "_bt_row"
)

// Reject reasons of the checks.
const (
	ReasonMissingGiven = "missing_given"
	ReasonMentionsCode = "mentions_code"
	ReasonLeaksAnswer  = "leaks_answer"
)

// DefaultWords is Debian's wamerican word list (installed by .ci/deps).
const DefaultWords = "/usr/share/dict/words"

// StyleOtherLanguage is the built-in style whose problems are written in
// the style's `language`.
const StyleOtherLanguage = "other_language"

// BuiltinStyles are the styles with a built-in instruction.
var BuiltinStyles = map[string]string{
	"textbook":         "Style: a textbook exercise — precise, neutral wording, as in a mathematics textbook.",
	"word_problem":     "Style: a real-world word problem — set it in an everyday situation (shopping, travel, physics, finance, cooking, sports) with people, objects and units where they fit.",
	"competition":      "Style: a competition problem — terse and rigorous, as in AMC or olympiad problem sets, with LaTeX for the mathematics.",
	"concise":          "Style: as short as possible — one or two sentences holding only what is needed.",
	"dialogue":         "Style: a short dialogue between two people (for example a student and a teacher) in which the problem is posed; end with the question.",
	StyleOtherLanguage: "Style: write the whole problem in {{language}}; numbers may be written as digits or as {{language}} number words.",
}

// DefaultSystem is the built-in system prompt.
const DefaultSystem = "You are a writer of clear, self-contained math problems."

// DefaultPrompt is the built-in user prompt; {{.style_instruction}} is the
// style's instruction. CODE, GIVEN and ANSWER stand for the configured
// columns.
const DefaultPrompt = `Below is a Python program that solves a math problem, with the input it was given and the output it computed.
Write the problem that this program solves.
{{.style_instruction}}
Rules:
- state every given value from the input explicitly;
- ask for exactly the quantity the program computes, so that the output is the answer;
- do not mention the program, code, variable names, Python, the input or the output;
- do not include hints or the answer.
Reply with the problem statement only.

Program:
` + "```python" + `
{{index . "CODE"}}
` + "```" + `
Input: {{json (index . "GIVEN")}}
Output: {{json (index . "ANSWER")}}
`

func init() {
	styleNames := make([]string, 0, len(BuiltinStyles))
	for k := range BuiltinStyles {
		styleNames = append(styleNames, k)
	}
	sort.Strings(styleNames)
	op.Register(op.Spec{
		Name:    "back_translate",
		Summary: "Turn executed Code CoTs into natural-language problems in several styles, and check them.",
		Doc: "For each row (a program in `code:`, its executed input dict in `given:` and output in `answer:`) asks the model " +
			"for a problem per style and sample, through the generate operator (same response cache, retries, replay and " +
			"record files, deferred rows). Each output row is the input row (lineage columns included) plus `style`, the " +
			"problem in `output:`, and `style_sample` when a style has count > 1.\n\n" +
			"Built-in styles: " + strings.Join(styleNames, ", ") + " (other_language takes `language:`). A style with another " +
			"name needs `instruction:` or `prompt:`. The prompt (system and user) is a Go text/template over the row's " +
			"columns plus {{.style}} and {{.style_instruction}}; every prompt can be replaced, per step or per style.\n\n" +
			"Checks, each a reject reason, each switchable under `checks:`: \"" + ReasonMissingGiven + "\" — the problem " +
			"does not state every value of the input (numbers compare numerically and may be written 1/2, 0.5, 50%, " +
			"\\frac{1}{2}, 1,000 or as number words — English, or the style's language: " + strings.Join(Languages(), ", ") +
			" — and 0.15 may be stated as 15%; a style's `scales:` allows other unit changes; strings must appear, except " +
			"for other_language); \"" + ReasonMentionsCode + "\" — the problem says code, Python, input or output, or has a " +
			"snake_case or camelCase token, or an identifier of the program (three letters or more) that is not an " +
			"ordinary English word (word list: `checks.words`, Debian's wamerican by default); \"" + ReasonLeaksAnswer +
			"\" — the problem contains the program's output, unless the output is also a given; integers below 10 are " +
			"exempt, since they occur by chance. A problem that fails several checks is rejected for the first, in that order. " +
			"The step's stats count the kept problems of each style (style_<name>_rows, shown in the run's table).",
		Version:  "1",
		RowLocal: true,
		Fields: []op.Field{
			{Name: fModel, Kind: op.String, Required: true, Doc: "The model (a chat model under `models:`).", Example: "instruct"},
			{Name: fCode, Kind: op.String, Default: "code", Doc: "The column holding the program."},
			{Name: fGiven, Kind: op.String, Default: "code_input", Doc: "The column holding the executed input dict (json, or a string of JSON)."},
			{Name: fAnswer, Kind: op.String, Default: "code_output", Doc: "The column holding the program's output."},
			{Name: fOutput, Kind: op.String, Default: "problem", Doc: "The column for the problem text."},
			{Name: fSystem, Kind: op.Template, Default: DefaultSystem, Doc: "The system prompt; empty for none."},
			{Name: fPrompt, Kind: op.Template, Doc: "The user prompt (default: a built-in prompt showing the program, its input and output, and {{.style_instruction}})."},
			{Name: fStyles, Kind: op.Map, Elem: op.Object, Required: true, Doc: "Style name → options; `{}` takes a built-in style as it is.",
				Example: map[string]any{"textbook": map[string]any{}, "word_problem": map[string]any{"count": 2}, "other_language": map[string]any{"language": "French"}},
				Fields: []op.Field{
					{Name: fInstruction, Kind: op.String, Doc: "The style's instruction (replaces the built-in one); {{language}} is replaced by language."},
					{Name: fPrompt, Kind: op.Template, Doc: "This style's user prompt (replaces the step's)."},
					{Name: fSystem, Kind: op.Template, Doc: "This style's system prompt (replaces the step's)."},
					{Name: fCount, Kind: op.Int, Default: 1, Min: op.Bound(1), Max: op.Bound(64), Doc: "Problems per row in this style."},
					{Name: fLanguage, Kind: op.String, Doc: "other_language: the language (its number words count as numbers when known)."},
					{Name: fScales, Kind: op.Strings, Doc: "Unit changes the style asks for: factors a given may be multiplied by (e.g. 100 for m → cm, 0.001 for g → kg).", Example: []string{"100"}},
				}},
			{Name: fTemperature, Kind: op.Float, Min: op.Bound(0), Doc: "Sampling temperature (as generate)."},
			{Name: fTopP, Kind: op.Float, Min: op.Bound(0), Max: op.Bound(1), Doc: "Nucleus sampling (as generate)."},
			{Name: fMaxTokens, Kind: op.Int, Min: op.Bound(1), Doc: "Longest reply in tokens (as generate)."},
			{Name: fSeed, Kind: op.Int, Doc: "Sampling seed (as generate)."},
			{Name: fExtra, Kind: op.Map, Elem: op.Any, Doc: "Server-specific body fields (as generate)."},
			{Name: fCache, Kind: op.Bool, Default: true, Doc: "Use the response cache (as generate)."},
			{Name: fChecks, Kind: op.Object, Doc: "Switch the checks on or off.", Fields: []op.Field{
				{Name: fGivens, Kind: op.Bool, Default: true, Doc: "Reject problems that do not state every given (" + ReasonMissingGiven + ")."},
				{Name: fNoCode, Kind: op.Bool, Default: true, Doc: "Reject problems that mention the program (" + ReasonMentionsCode + ")."},
				{Name: fNoAnswer, Kind: op.Bool, Default: true, Doc: "Reject problems that contain the answer (" + ReasonLeaksAnswer + ")."},
				{Name: fWords, Kind: op.Path, Default: DefaultWords, Doc: "The English word list of no_code, one word a line."},
			}},
		},
		Example: `problem:
  op: back_translate
  input: code_cots
  model: instruct
  output: instruction
  styles:
    textbook: {}
    word_problem: {count: 2}
    other_language: {language: French}
  temperature: 0.7
  max_tokens: 1024
`,
		New: func() op.Planner {
			bt := &BackTranslate{Code: "code", Given: "code_input", Answer: "code_output", Output: "problem", System: DefaultSystem, Cache: true}
			bt.Checks.Givens, bt.Checks.NoCode, bt.Checks.NoAnswer, bt.Checks.Words = true, true, true, DefaultWords
			return bt
		},
	})
}

// Style is one style of the config.
type Style struct {
	Name        string
	Instruction string        `yaml:"instruction"`
	Prompt      string        `yaml:"prompt"`
	System      *string       `yaml:"system"`
	Count       int           `yaml:"count"`
	Language    string        `yaml:"language"`
	Scales      op.StringList `yaml:"scales"`
}

// Styles keeps the recipe's order.
type Styles []Style

// UnmarshalYAML reads a mapping of style name to options, in order.
func (ss *Styles) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("styles: want a mapping from style names to options")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		s := Style{Name: n.Content[i].Value, Count: 1}
		if err := n.Content[i+1].Decode(&s); err != nil {
			return fmt.Errorf("styles.%s: %w", s.Name, err)
		}
		*ss = append(*ss, s)
	}
	return nil
}

// BackTranslate is the operator's config and state.
type BackTranslate struct {
	Model       string         `yaml:"model"`
	Code        string         `yaml:"code"`
	Given       string         `yaml:"given"`
	Answer      string         `yaml:"answer"`
	Output      string         `yaml:"output"`
	System      string         `yaml:"system"`
	Prompt      string         `yaml:"prompt"`
	Styles      Styles         `yaml:"styles"`
	Temperature *float64       `yaml:"temperature"`
	TopP        *float64       `yaml:"top_p"`
	MaxTokens   *int           `yaml:"max_tokens"`
	Seed        *int64         `yaml:"seed"`
	Extra       map[string]any `yaml:"extra"`
	Cache       bool           `yaml:"cache"`
	Checks      struct {
		Givens   bool   `yaml:"givens"`
		NoCode   bool   `yaml:"no_code"`
		NoAnswer bool   `yaml:"no_answer"`
		Words    string `yaml:"words"`
	} `yaml:"checks"`

	styles  []*styleRun
	keepIdx []int // input columns passed to the inner generate steps
	innerIn *arrow.Schema
	added   []arrow.Field
	multi   bool // some style has count > 1
	out     *arrow.Schema
	words   Words
}

// styleRun is one style: its inner generate step and check settings.
type styleRun struct {
	name, instruction, language string
	scales                      []float64
	count                       int
	gen                         *generate.Generate
}

var (
	_ op.Processor     = (*BackTranslate)(nil)
	_ op.Opener        = (*BackTranslate)(nil)
	_ op.Closer        = (*BackTranslate)(nil)
	_ op.Fingerprinter = (*BackTranslate)(nil)
)

// reserved are columns of the input the inner generate steps do not see:
// generate's own columns and this step's.
func (bt *BackTranslate) reserved() map[string]bool {
	return map[string]bool{
		generate.ColSample: true, generate.ColVariant: true, generate.ColFinishReason: true,
		generate.ColPromptTokens: true, generate.ColCompletionTokens: true,
		ColStyle: true, ColStyleSample: true, colStyleInstruction: true, colRow: true, bt.Output: true,
	}
}

// stylePlan maps the inner generate's fields onto this step's.
type stylePlan struct {
	op.PlanContext
	style      string
	sysField   string
	userField  string
	hasSystem  bool
	countField string
}

func (sp *stylePlan) field(f string) string {
	switch {
	case f == "n":
		return sp.countField
	case strings.HasPrefix(f, "messages[0]") && sp.hasSystem:
		return sp.sysField
	case strings.HasPrefix(f, "messages"):
		return sp.userField
	case f == "output":
		return fOutput
	}
	return f
}

func (sp *stylePlan) Errorf(field, format string, args ...any) {
	sp.PlanContext.Errorf(sp.field(field), format, args...)
}
func (sp *stylePlan) ErrorAt(field string, line, col int, format string, args ...any) {
	sp.PlanContext.ErrorAt(sp.field(field), line, col, format, args...)
}
func (sp *stylePlan) Warnf(field, format string, args ...any) {
	sp.PlanContext.Warnf(sp.field(field), format, args...)
}
func (sp *stylePlan) Has(field string) bool { return sp.PlanContext.Has(sp.field(field)) }

// Plan checks the columns and styles and plans one generate step per style.
func (bt *BackTranslate) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	if in == nil {
		p.Errorf("", "back_translate needs an input step")
		return nil
	}
	ok := true
	for _, c := range []struct{ field, col string }{{fCode, bt.Code}, {fGiven, bt.Given}, {fAnswer, bt.Answer}} {
		if len(in.FieldIndices(c.col)) == 0 {
			p.Errorf(c.field, "no column %q in the input of this step (set %s: to the column that holds it)", c.col, c.field)
			ok = false
		}
	}
	if bt.Output == "" {
		p.Errorf(fOutput, "output must name a column")
		ok = false
	}
	if m, found := p.Model(bt.Model); found && m != nil && m.API == "completions" {
		p.Errorf(fModel, "model %q uses api: completions; back_translate sends chat messages (use a chat model)", bt.Model)
		ok = false
	}
	if len(bt.Styles) == 0 {
		p.Errorf(fStyles, "name at least one style, e.g. styles: {textbook: {}, word_problem: {}, competition: {}}")
		ok = false
	}
	if !ok {
		return nil
	}
	// the inner steps' input: the input without reserved columns, plus the
	// style columns and the row index
	res := bt.reserved()
	var fields []arrow.Field
	bt.keepIdx = nil
	for i, f := range in.Fields() {
		if !res[f.Name] {
			bt.keepIdx = append(bt.keepIdx, i)
			fields = append(fields, f)
		}
	}
	fields = append(fields, op.MustField(ColStyle, op.TypeString), op.MustField(colStyleInstruction, op.TypeString), op.MustField(colRow, op.TypeInt))
	bt.innerIn = arrow.NewSchema(fields, nil)

	bt.styles, bt.multi = nil, false
	seen := map[string]bool{}
	for _, s := range bt.Styles {
		field := fStyles + "." + s.Name
		if seen[s.Name] {
			p.Errorf(field, "style %q is listed twice", s.Name)
			ok = false
			continue
		}
		seen[s.Name] = true
		sr := &styleRun{name: s.Name, count: s.Count, language: s.Language}
		if sr.count < 1 {
			sr.count = 1
		}
		instr := s.Instruction
		if instr == "" {
			instr = BuiltinStyles[s.Name]
		}
		if instr == "" && s.Prompt == "" {
			p.Errorf(field, "style %q is not built in (%s): give it an instruction: or a prompt:", s.Name, strings.Join(builtinNames(), ", "))
			ok = false
			continue
		}
		if s.Name == StyleOtherLanguage && s.Language == "" && s.Instruction == "" {
			p.Errorf(field, "style other_language needs language: (e.g. French)")
			ok = false
			continue
		}
		if s.Language != "" {
			if _, known := languageNumbers[strings.ToLower(s.Language)]; !known && !strings.EqualFold(s.Language, "english") {
				p.Warnf(field+"."+fLanguage, "no number words known for %s: only digits count as stated numbers (known: %s)", s.Language, strings.Join(Languages(), ", "))
			}
		}
		sr.instruction = strings.ReplaceAll(instr, "{{language}}", s.Language)
		for _, sc := range s.Scales {
			f, err := strconv.ParseFloat(sc, 64)
			if err != nil || f == 0 {
				p.Errorf(field+"."+fScales, "scale %q is not a non-zero number", sc)
				ok = false
				continue
			}
			sr.scales = append(sr.scales, f)
		}
		if sr.count > 1 {
			bt.multi = true
		}
		system := bt.System
		sysField := fSystem
		if s.System != nil {
			system, sysField = *s.System, field+"."+fSystem
		}
		prompt, userField := bt.Prompt, fPrompt
		if s.Prompt != "" {
			prompt, userField = s.Prompt, field+"."+fPrompt
		}
		if prompt == "" {
			r := strings.NewReplacer(`"CODE"`, strconv.Quote(bt.Code), `"GIVEN"`, strconv.Quote(bt.Given), `"ANSWER"`, strconv.Quote(bt.Answer))
			prompt = r.Replace(DefaultPrompt)
		}
		// generate's own defaults first (its spec's New), then this step's settings
		gs, found := op.Lookup("generate")
		if !found {
			p.Errorf("", "back_translate needs the generate operator, which is not registered")
			return nil
		}
		g, isGen := gs.New().(*generate.Generate)
		if !isGen {
			p.Errorf("", "back_translate: the generate operator has an unexpected config type")
			return nil
		}
		g.Model, g.N, g.Temperature, g.TopP, g.MaxTokens = bt.Model, sr.count, bt.Temperature, bt.TopP, bt.MaxTokens
		g.Seed, g.Extra, g.Output, g.Cache = bt.Seed, bt.Extra, bt.Output, bt.Cache
		if system != "" {
			g.Messages = append(g.Messages, generate.MessageTemplate{Role: "system", Content: system})
		}
		g.Messages = append(g.Messages, generate.MessageTemplate{Role: "user", Content: prompt})
		sp := &stylePlan{PlanContext: p, style: s.Name, sysField: sysField, userField: userField, hasSystem: system != "", countField: field + "." + fCount}
		if g.Plan(sp, bt.innerIn) == nil {
			ok = false
			continue
		}
		sr.gen = g
		bt.styles = append(bt.styles, sr)
	}
	if !ok {
		return nil
	}
	bt.added = []arrow.Field{op.MustField(ColStyle, op.TypeString)}
	if bt.multi {
		bt.added = append(bt.added, op.MustField(ColStyleSample, op.TypeInt))
	}
	bt.added = append(bt.added, op.MustField(bt.Output, op.TypeString))
	bt.out = op.SchemaWith(in, bt.added...)
	return bt.out
}

func builtinNames() []string {
	var out []string
	for k := range BuiltinStyles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wordLists are loaded once per path for the process.
var wordLists sync.Map // path → Words

// Open opens every style's generate step and loads the word list.
func (bt *BackTranslate) Open(ctx context.Context, rc op.RunContext) error {
	if bt.out == nil {
		return fmt.Errorf("back_translate: Open before a successful Plan")
	}
	if bt.Checks.NoCode {
		path := bt.Checks.Words
		if v, ok := wordLists.Load(path); ok {
			bt.words = v.(Words)
		} else {
			w, err := LoadWords(path)
			if err != nil {
				return fmt.Errorf("back_translate: loading the word list of checks.no_code: %w (install Debian's wamerican — .ci/deps does — or set checks.words: to a word list, or checks.no_code: false)", err)
			}
			wordLists.Store(path, w)
			bt.words = w
		}
	}
	for _, s := range bt.styles {
		if err := s.gen.Open(ctx, rc); err != nil {
			return fmt.Errorf("back_translate style %s: %w", s.name, err)
		}
	}
	return nil
}

// Close closes the styles' generate steps.
func (bt *BackTranslate) Close() error {
	for _, s := range bt.styles {
		if s.gen != nil {
			s.gen.Close()
		}
	}
	return nil
}

// Fingerprint adds the model's identity and the word list's size to the
// step's fingerprint.
func (bt *BackTranslate) Fingerprint() (string, error) {
	if len(bt.styles) == 0 {
		return "", nil
	}
	fp, err := bt.styles[0].gen.Fingerprint()
	if err != nil {
		return "", err
	}
	if bt.Checks.NoCode {
		if w, err := LoadWordsCached(bt.Checks.Words); err == nil {
			fp += fmt.Sprintf(" words=%d", len(w))
		}
	}
	return fp, nil
}

// LoadWordsCached is LoadWords, once per path for the process.
func LoadWordsCached(path string) (Words, error) {
	if v, ok := wordLists.Load(path); ok {
		return v.(Words), nil
	}
	w, err := LoadWords(path)
	if err != nil {
		return nil, err
	}
	wordLists.Store(path, w)
	return w, nil
}

// problem is one generated problem.
type problem struct {
	row, style, sample int
	text               string
}

// Process asks every style for its problems, checks them and returns the
// kept ones, ordered by input row, style and sample.
func (bt *BackTranslate) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	rec := b.Record
	if rec == nil || rec.NumRows() == 0 {
		return op.Result{}, nil
	}
	type styleResult struct {
		res op.Result
		err error
	}
	results := make([]styleResult, len(bt.styles))
	var wg sync.WaitGroup
	for si, s := range bt.styles {
		wg.Add(1)
		go func(si int, s *styleRun) {
			defer wg.Done()
			inner, err := bt.innerRecord(b, s)
			if err != nil {
				results[si].err = err
				return
			}
			defer inner.Release()
			res, err := s.gen.Process(ctx, op.Batch{Seq: b.Seq, Record: inner, Alloc: b.Alloc})
			results[si] = styleResult{res: res, err: err}
		}(si, s)
	}
	wg.Wait()
	out := op.Result{Counters: map[string]int64{}}
	var probs []problem
	defer func() {
		for _, r := range results {
			if r.res.Record != nil {
				r.res.Record.Release()
			}
		}
	}()
	deferred := map[int]bool{}
	for si, r := range results {
		if r.err != nil {
			return op.Result{}, fmt.Errorf("back_translate style %s: %w", bt.styles[si].name, r.err)
		}
		for k, v := range r.res.Counters {
			out.Counters[k] += v
		}
		for _, rj := range r.res.Rejects {
			rj.Detail = "style " + bt.styles[si].name + ": " + rj.Detail
			out.Rejects = append(out.Rejects, rj)
		}
		for _, d := range r.res.Deferred {
			if !deferred[d.Row] {
				deferred[d.Row] = true
				d.Detail = "style " + bt.styles[si].name + ": " + d.Detail
				out.Deferred = append(out.Deferred, d)
			}
		}
		if r.res.Record == nil {
			continue
		}
		ps, err := bt.problems(r.res.Record, si)
		if err != nil {
			return op.Result{}, err
		}
		probs = append(probs, ps...)
	}
	if len(out.Deferred) > 0 {
		// as in generate: a batch with rows waiting on a transient failure
		// gives no verdict at all; the next run processes it again
		sort.Slice(out.Deferred, func(i, j int) bool { return out.Deferred[i].Row < out.Deferred[j].Row })
		return op.Result{Deferred: out.Deferred, Counters: out.Counters}, nil
	}
	sort.SliceStable(probs, func(i, j int) bool {
		a, c := probs[i], probs[j]
		if a.row != c.row {
			return a.row < c.row
		}
		if a.style != c.style {
			return a.style < c.style
		}
		return a.sample < c.sample
	})
	keep, rejects := bt.check(rec, probs)
	out.Rejects = append(out.Rejects, rejects...)
	for _, rj := range rejects {
		out.Counters["rejected_"+rj.Reason]++
	}
	for _, p := range keep {
		out.Counters["style_"+bt.styles[p.style].name+"_rows"]++
	}
	sort.SliceStable(out.Rejects, func(i, j int) bool { return out.Rejects[i].Row < out.Rejects[j].Row })
	if len(keep) == 0 {
		return out, nil
	}
	res, err := bt.build(b, keep)
	if err != nil {
		return op.Result{}, err
	}
	out.Record = res
	return out, nil
}

// innerRecord is the batch as a style's generate step sees it.
func (bt *BackTranslate) innerRecord(b op.Batch, s *styleRun) (arrow.Record, error) {
	rec := b.Record
	n := int(rec.NumRows())
	cols := make([]arrow.Array, 0, bt.innerIn.NumFields())
	for _, i := range bt.keepIdx {
		cols = append(cols, rec.Column(i))
	}
	sb := array.NewStringBuilder(b.Alloc)
	defer sb.Release()
	ib := array.NewStringBuilder(b.Alloc)
	defer ib.Release()
	rb := array.NewInt64Builder(b.Alloc)
	defer rb.Release()
	for i := 0; i < n; i++ {
		sb.Append(s.name)
		ib.Append(s.instruction)
		rb.Append(int64(i))
	}
	own := []arrow.Array{sb.NewArray(), ib.NewArray(), rb.NewArray()}
	defer func() {
		for _, a := range own {
			a.Release()
		}
	}()
	cols = append(cols, own...)
	return array.NewRecord(bt.innerIn, cols, int64(n)), nil
}

// problems reads a style's generate output.
func (bt *BackTranslate) problems(rec arrow.Record, si int) ([]problem, error) {
	sc := rec.Schema()
	col := func(name string) (arrow.Array, error) {
		idx := sc.FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("back_translate: the generate output has no column %q", name)
		}
		return rec.Column(idx[0]), nil
	}
	rows, err := col(colRow)
	if err != nil {
		return nil, err
	}
	texts, err := col(bt.Output)
	if err != nil {
		return nil, err
	}
	var samples arrow.Array
	if bt.styles[si].count > 1 {
		if samples, err = col(generate.ColSample); err != nil {
			return nil, err
		}
	}
	n := int(rec.NumRows())
	out := make([]problem, n)
	for i := 0; i < n; i++ {
		out[i] = problem{row: int(rows.(*array.Int64).Value(i)), style: si}
		if t, ok := texts.(*array.String); ok && t.IsValid(i) {
			out[i].text = t.Value(i)
		}
		if samples != nil {
			out[i].sample = int(samples.(*array.Int64).Value(i))
		}
	}
	return out, nil
}

// check runs the checks; it returns the kept problems and the rejects.
func (bt *BackTranslate) check(rec arrow.Record, probs []problem) ([]problem, []op.Reject) {
	sc := rec.Schema()
	codeIdx := sc.FieldIndices(bt.Code)[0]
	givenIdx := sc.FieldIndices(bt.Given)[0]
	ansIdx := sc.FieldIndices(bt.Answer)[0]
	var keep []problem
	var rejects []op.Reject
	for _, p := range probs {
		s := bt.styles[p.style]
		where := "style " + s.name
		if s.count > 1 {
			where += fmt.Sprintf(" sample %d", p.sample)
		}
		input := op.Value(sc.Field(givenIdx), rec.Column(givenIdx), p.row)
		if str, isStr := input.(string); isStr {
			input = op.DecodeJSON(str)
		}
		text := p.text
		if bt.Checks.Givens {
			if miss := missingGivens(text, input, s.language, s.scales, s.name == StyleOtherLanguage || s.language != ""); len(miss) > 0 {
				rejects = append(rejects, op.Reject{Row: p.row, Reason: ReasonMissingGiven,
					Detail: fmt.Sprintf("%s: the problem does not state %s: %q", where, strings.Join(miss, ", "), clip(text, 200))})
				continue
			}
		}
		if bt.Checks.NoCode {
			code, _ := op.Value(sc.Field(codeIdx), rec.Column(codeIdx), p.row).(string)
			if found := codeMentions(text, code, bt.words); len(found) > 0 {
				rejects = append(rejects, op.Reject{Row: p.row, Reason: ReasonMentionsCode,
					Detail: fmt.Sprintf("%s: the problem mentions the program: %s: %q", where, strings.Join(found, ", "), clip(text, 200))})
				continue
			}
		}
		if bt.Checks.NoAnswer {
			ans := op.Value(sc.Field(ansIdx), rec.Column(ansIdx), p.row)
			if leak, bad := answerLeak(text, ans, input, s.language); bad {
				rejects = append(rejects, op.Reject{Row: p.row, Reason: ReasonLeaksAnswer,
					Detail: fmt.Sprintf("%s: the problem contains the answer %s: %q", where, leak, clip(text, 200))})
				continue
			}
		}
		keep = append(keep, p)
	}
	return keep, rejects
}

// build makes the output: the input rows of the kept problems plus style,
// style_sample and the problem.
func (bt *BackTranslate) build(b op.Batch, keep []problem) (arrow.Record, error) {
	idx := make([]int, len(keep))
	for i, p := range keep {
		idx[i] = p.row
	}
	taken, err := op.Take(b.Alloc, b.Record, idx)
	if err != nil {
		return nil, fmt.Errorf("back_translate: %w", err)
	}
	defer taken.Release()
	builders := make([]*op.ValueBuilder, len(bt.added))
	for k, f := range bt.added {
		builders[k] = op.NewValueBuilder(b.Alloc, f)
		defer builders[k].Release()
	}
	for _, p := range keep {
		k := 0
		builders[k].Append(bt.styles[p.style].name)
		k++
		if bt.multi {
			builders[k].Append(p.sample)
			k++
		}
		builders[k].Append(p.text)
	}
	cols := make([]arrow.Array, len(builders))
	for k, bld := range builders {
		cols[k] = bld.NewArray()
		defer cols[k].Release()
	}
	return op.WithColumns(taken, bt.added, cols), nil
}
