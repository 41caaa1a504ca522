// Package generate is the `generate` operator: one LLM request per row,
// prompt variant and sample, against an OpenAI-compatible server declared
// under the recipe's `models:` (or a replay file), with a content-addressed
// response cache so that nothing answered is ever sent twice.
//
// The HTTP client, cache, replay files and model servers live in
// internal/llm; the test server in llmtest.
package generate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/generate/internal/llm"
	"go.yaml.in/yaml/v3"
)

// Field names.
const (
	fModel         = "model"
	fPrompt        = "prompt"
	fMessages      = "messages"
	fVariants      = "variants"
	fN             = "n"
	fTemperature   = "temperature"
	fTopP          = "top_p"
	fMaxTokens     = "max_tokens"
	fStop          = "stop"
	fSeed          = "seed"
	fExtra         = "extra"
	fOutput        = "output"
	fParse         = "parse"
	fColumns       = "columns"
	fKeepTruncated = "keep_truncated"
	fCache         = "cache"
	fMaxFailed     = "max_failed"
	fSampleColumn  = "sample_column"
	fCacheBy       = "cache_by"
	fID            = "id"
	fVariantColumn = "variant_column"
	fRole          = "role"
	fContent       = "content"
)

// Columns the operator adds besides output and parsed ones.
const (
	ColSample           = "sample"
	ColVariant          = "variant"
	ColFinishReason     = "finish_reason"
	ColPromptTokens     = "prompt_tokens"
	ColCompletionTokens = "completion_tokens"
)

// Reject reasons.
const (
	ReasonLLMError      = "llm_error"
	ReasonTruncated     = "truncated"
	ReasonParseError    = "parse_error"
	ReasonTemplateError = "template_error"
	// a column the template prints is null, and the template gives no
	// default ({{or .q "..."}})
	ReasonNullInPrompt = "null_in_prompt"
	// finish_reason content_filter and abort: the server refused or gave
	// up on the reply
	ReasonContentFilter = "content_filter"
	ReasonAborted       = "aborted"
)

// DeferUnavailable is the op.Deferral reason of rows whose request failed
// on a transient error after its retries.
const DeferUnavailable = "llm_unavailable"

// Counter names in the step's stats.
const (
	CounterRequests         = "requests"     // HTTP requests sent, retries included
	CounterRetries          = "retries"      // of which retries
	CounterCacheHits        = "cache_hits"   // answered from the response cache
	CounterCacheMisses      = "cache_misses" // sent to the server
	CounterReplayed         = "replayed"     // answered from a replay file
	CounterPromptTokens     = "prompt_tokens"
	CounterCompletionTokens = "completion_tokens"
	CounterFailed           = "llm_errors" // samples rejected as llm_error
	CounterTruncated        = "truncated"  // replies cut off by max_tokens
)

// Flags read from the run (set by `caco run --cache DIR --record DIR
// --no-cache --refresh-cache`).
const (
	FlagCache        = "cache"
	FlagRecord       = "record"
	FlagNoCache      = "no-cache"      // neither read nor write the cache
	FlagRefreshCache = "refresh-cache" // send again, overwrite the cache
)

// ParseJSON is the `parse:` value for JSON replies.
const ParseJSON = "json"

// reservedExtra are body fields that `extra:` may not set.
var reservedExtra = map[string]string{
	"model": "", "prompt": "", "messages": "", "n": " (use the step's n: samples are separate requests)", "stream": "",
	fTemperature: " (use the step's temperature:)", fTopP: " (use the step's top_p:)",
	fMaxTokens: " (use the step's max_tokens:)", fStop: " (use the step's stop:)", fSeed: " (use the step's seed:)",
}

var messageFields = []op.Field{
	{Name: fRole, Kind: op.Enum, Enum: []string{"system", "user", "assistant"}, Default: "user", Doc: "Who speaks."},
	{Name: fContent, Kind: op.Template, Required: true, Doc: "A Go text/template rendered with the row's columns."},
}

func init() {
	op.Register(op.Spec{
		Name:    "generate",
		Summary: "Ask an LLM (OpenAI-compatible server) for one or more replies per row.",
		Doc: `Renders a prompt (api: completions) or chat messages (api: chat) for each row with Go text/template — ` +
			"`{{.column}}`, plus the functions json, trim, upper, lower, replace and join — and sends it to the model named in " +
			"`model:`, one request per sample. Each input row becomes n × (number of variants) output rows, with the reply in " +
			"`output`, the columns finish_reason, prompt_tokens and completion_tokens, a `sample` index column when n > 1 and a " +
			"`variant` column when variants are given.\n\n" +
			"Requests are content-addressed (model, rendered prompt or messages, sampling parameters, sample index) and every " +
			"reply is stored in a response cache (bbolt) in the run folder, or in `caco run --cache DIR`, as it arrives: a " +
			"resumed or edited run re-sends nothing already answered. `caco run --record DIR` also writes every reply to " +
			"DIR/<model>.jsonl, a replay file that `replay:` on a model serves without a server.\n\n" +
			"A request that still fails after the model's retries on a transient error (no connection, a reset, a timeout, 429, " +
			"5xx) is no verdict about its row: the row waits (its batch is not committed; the run ends with exit 1 and running " +
			"the same command again sends exactly the unanswered requests). Past the error budget `max_failed` the run stops; a " +
			"server that never answered fails the run within seconds, naming its URL. A request refused for good (another 4xx, " +
			"e.g. a prompt that is too long, or a malformed reply) is rejected with reason \"" + ReasonLLMError + "\"; a reply cut " +
			"off by max_tokens (finish_reason \"length\") with reason \"" + ReasonTruncated + "\" unless keep_truncated; " +
			"finish_reason content_filter or abort with \"" + ReasonContentFilter + "\" or \"" + ReasonAborted + "\"; a reply " +
			"that `parse:` cannot read with \"" + ReasonParseError + "\". The detail names the sample and variant. " +
			"The step's stats count requests, retries, cache hits and misses, and prompt and completion tokens.",
		Version:  "1",
		RowLocal: true,
		Fields: []op.Field{
			{Name: fModel, Kind: op.String, Required: true, Doc: "The model: a name under the recipe's `models:`.", Example: "codegen"},
			{Name: fPrompt, Kind: op.Template, Doc: "The prompt, a Go text/template over the row's columns. For api: chat it is sent as one user message.",
				Example: "Solve step by step:\n{{.question}}\n"},
			{Name: fMessages, Kind: op.Objects, Fields: messageFields, Doc: "Chat messages (api: chat), each a role and a content template."},
			{Name: fVariants, Kind: op.Map, Elem: op.Object, Doc: "Named prompt variants (augmentation patterns): every row is asked once per variant, " +
				"with the variant's name in the `variant` column (and in templates as {{.variant}}). A variant without prompt " +
				"or messages uses the step's.", Fields: []op.Field{
				{Name: fPrompt, Kind: op.Template, Doc: "This variant's prompt."},
				{Name: fMessages, Kind: op.Objects, Fields: messageFields, Doc: "This variant's messages."},
			}},
			{Name: fN, Kind: op.Int, Default: 1, Min: op.Bound(1), Max: op.Bound(1024), Doc: "Samples per row and variant; each is its own request (with seed + index when seed is set)."},
			{Name: fTemperature, Kind: op.Float, Min: op.Bound(0), Doc: "Sampling temperature; 0 is sent as 0. Unset: the server's default."},
			{Name: fTopP, Kind: op.Float, Min: op.Bound(0), Max: op.Bound(1), Doc: "Nucleus sampling. Unset: the server's default."},
			{Name: fMaxTokens, Kind: op.Int, Min: op.Bound(1), Doc: "Longest reply in tokens. Unset: the server's default."},
			{Name: fStop, Kind: op.Strings, Doc: "Stop sequences."},
			{Name: fSeed, Kind: op.Int, Doc: "Sampling seed; sample k is sent seed + k."},
			{Name: fExtra, Kind: op.Map, Elem: op.Any, Doc: "Server-specific body fields sent as they are, e.g. top_k, min_p, repetition_penalty, chat_template_kwargs.",
				Example: map[string]any{"top_k": 20, "min_p": 0, "chat_template_kwargs": map[string]any{"enable_thinking": false}}},
			{Name: fOutput, Kind: op.String, Default: "text", Doc: "The column for the reply text."},
			{Name: fParse, Kind: op.String, Doc: "Read the reply: a Go regexp whose named groups (?P<name>...) become string columns " +
				"(the first match; a reply it does not match is rejected), or `json` for a JSON object reply (``` fences are " +
				"stripped) whose keys listed in `columns:` become columns.", Example: "(?s)```python\\n(?P<code>.*?)```"},
			{Name: fColumns, Kind: op.Map, Elem: op.Enum, Enum: op.ColumnTypes, Doc: "With parse: json, the keys to keep as columns and their types " +
				"(string, int, float, bool, json); a missing key is null. Without it the parsed object goes to a json column named <output>_json."},
			{Name: fKeepTruncated, Kind: op.Bool, Default: false, Doc: "Keep replies cut off by max_tokens instead of rejecting them."},
			{Name: fCache, Kind: op.Bool, Default: true, Doc: "Use the response cache (false: always ask the server, e.g. to draw fresh samples)."},
			{Name: fSampleColumn, Kind: op.String, Default: ColSample, Doc: "The column for the sample index (when n > 1). Each generate step's lineage " +
				"columns are its own: when the input already has this column (an earlier generate wrote it), name this step's, e.g. solve_sample."},
			{Name: fVariantColumn, Kind: op.String, Default: ColVariant, Doc: "The column for the variant name (when variants are given), also readable in " +
				"templates under this name. As with sample_column, it may not be a column of the input."},
			{Name: fCacheBy, Kind: op.Enum, Enum: []string{"row", "prompt"}, Default: "row", Doc: "How replies are shared. row: each row keeps its own " +
				"samples — its identity (its position in the stream, or the `id:` column) is part of its cache keys, and each request " +
				"carries a seed derived from the identity, the variant and the sample index (from `seed:` when set), so reruns against " +
				"a deterministic server give the same samples. prompt: rows whose rendered prompts are identical share replies (sample k " +
				"is sent seed + k when seed is set), the sensible choice for temperature-0 calls."},
			{Name: fID, Kind: op.String, Doc: "A column that identifies each row (string or int), used as its identity for cache_by: row instead of its position; " +
				"keeps a row's samples when rows upstream are added or removed."},
			{Name: fMaxFailed, Kind: op.String, Doc: "Error budget for transient failures: a count (10) or a fraction (0.05 or 5%) of the last 100 finished " +
				"requests, checked once 20 have finished; past it the run stops with exit 1, naming the endpoint, the error and the " +
				"rows waiting. Unset: the model's max_failed, else " + DefaultMaxFailed + ".", Example: "5%"},
		},
		Example: `cot:
  op: generate
  input: seeds
  model: codegen
  prompt: |
    Rewrite the solution as Python code that prints the final answer.
    Problem: {{.question}}
    Solution: {{.solution}}
  n: 4
  temperature: 0.7
  max_tokens: 2048
  extra: {top_k: 20, min_p: 0}
  output: code_cot
  parse: '(?s)` + "```python\\n(?P<code>.*?)```" + `'
`,
		New: func() op.Planner {
			return &Generate{N: 1, Output: "text", Cache: true, SampleColumn: ColSample, VariantColumn: ColVariant, CacheBy: "row"}
		},
	})
}

// MessageTemplate is one chat message of the config.
type MessageTemplate struct {
	Role    string `yaml:"role"`
	Content string `yaml:"content"`
}

// Variant is one named prompt variant.
type Variant struct {
	Name     string
	Prompt   string            `yaml:"prompt"`
	Messages []MessageTemplate `yaml:"messages"`
}

// Variants keeps the recipe's order of variants.
type Variants []Variant

func (vs *Variants) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("variants: want a mapping from names to prompts")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := Variant{Name: n.Content[i].Value}
		if err := n.Content[i+1].Decode(&v); err != nil {
			return fmt.Errorf("variants.%s: %w", v.Name, err)
		}
		*vs = append(*vs, v)
	}
	return nil
}

// Generate is the operator's config and, after Plan, its compiled state.
type Generate struct {
	Model         string            `yaml:"model"`
	Prompt        string            `yaml:"prompt"`
	Messages      []MessageTemplate `yaml:"messages"`
	Variants      Variants          `yaml:"variants"`
	N             int               `yaml:"n"`
	Temperature   *float64          `yaml:"temperature"`
	TopP          *float64          `yaml:"top_p"`
	MaxTokens     *int              `yaml:"max_tokens"`
	Stop          op.StringList     `yaml:"stop"`
	Seed          *int64            `yaml:"seed"`
	Extra         map[string]any    `yaml:"extra"`
	Output        string            `yaml:"output"`
	Parse         string            `yaml:"parse"`
	Columns       yaml.Node         `yaml:"columns"`
	KeepTruncated bool              `yaml:"keep_truncated"`
	Cache         bool              `yaml:"cache"`
	MaxFailed     string            `yaml:"max_failed"`
	SampleColumn  string            `yaml:"sample_column"`
	CacheBy       string            `yaml:"cache_by"`
	ID            string            `yaml:"id"`
	VariantColumn string            `yaml:"variant_column"`

	plan *plan
	run  *runState
}

// plan is what Plan compiled.
type plan struct {
	api      string // of the model
	model    string // the model's `model:` (sent, and part of keys)
	variants []compiledVariant
	hasVar   bool
	params   map[string]any // base sampling parameters (seed excluded)
	// paramsJSON is params in canonical form.
	paramsJSON json.RawMessage
	parseRe    *regexp.Regexp
	groups     []string // regex group names, in order, with their index
	groupIdx   []int
	jsonCols   []arrow.Field
	jsonRaw    bool // parse: json without columns: → <output>_json
	added      []arrow.Field
	out        *arrow.Schema
	maxFailed  limit
	// byRow: cache keys and seeds per row (cache_by: row); idCol is the
	// index of the id column in the input, or -1 for the row's position
	byRow bool
	idCol int
	// replay is the model's replay file when it answers from one (no URL,
	// no serve:), else "": where the replies come from
	replay string
}

type compiledVariant struct {
	name     string
	prompt   *template.Template   // completions, or chat with a prompt
	messages []*template.Template // chat
	roles    []string
	// cols are the row columns the prompt or messages read
	cols []string
}

var (
	_ op.Processor     = (*Generate)(nil)
	_ op.Opener        = (*Generate)(nil)
	_ op.Closer        = (*Generate)(nil)
	_ op.Fingerprinter = (*Generate)(nil)
)

// Plan checks the config against the model and the input columns and
// compiles templates and the parser.
func (g *Generate) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	if in == nil {
		p.Errorf("", "generate needs an input step")
		return nil
	}
	pl := &plan{}
	ok := true
	m, found := p.Model(g.Model)
	if !found || m == nil {
		names := p.ModelNames()
		switch {
		case len(names) == 0:
			p.Errorf(fModel, "no model %q: the recipe declares no `models:`", g.Model)
		case diag.DidYouMean(g.Model, names) != "":
			p.Errorf(fModel, "no model %q under `models:` (%s)", g.Model, diag.DidYouMean(g.Model, names))
		default:
			p.Errorf(fModel, "no model %q under `models:` (models: %s)", g.Model, strings.Join(names, ", "))
		}
		// Go on checking the rest as for a chat model.
		ok = false
		m = &op.ModelConfig{API: llm.APIChat}
	}
	pl.api, pl.model = m.API, m.Model
	if m.Replay != "" && len(m.URLs()) == 0 && m.Serve == nil {
		pl.replay = m.Replay
	}
	if pl.api == "" {
		pl.api = llm.APIChat
	}
	switch {
	case g.MaxFailed != "":
		lim, err := parseLimit(g.MaxFailed)
		if err != nil {
			p.Errorf(fMaxFailed, "%v", err)
			ok = false
		}
		pl.maxFailed = lim
	case m.MaxFailed != "":
		lim, err := parseLimit(m.MaxFailed)
		if err != nil {
			p.Errorf(fModel, "model %s: %v", g.Model, err)
			ok = false
		}
		pl.maxFailed = lim
	default:
		pl.maxFailed, _ = parseLimit(DefaultMaxFailed)
	}

	if g.N < 1 {
		p.Errorf(fN, "n must be at least 1")
		ok = false
	}
	if g.N > 1 && g.Temperature != nil && *g.Temperature == 0 {
		p.Warnf(fN, "n is %d with temperature 0: the samples will be alike", g.N)
	}
	if g.Output == "" {
		p.Errorf(fOutput, "output must name a column")
		ok = false
	}

	// Prompts.
	var extraNames []string
	if len(g.Variants) > 0 {
		pl.hasVar = true
		extraNames = append(extraNames, g.VariantColumn)
	}
	base, baseOK := g.compilePrompt(p, pl.api, "", g.Prompt, g.Messages, in, extraNames, len(g.Variants) == 0)
	ok = ok && baseOK
	if len(g.Variants) == 0 {
		base.name = ""
		pl.variants = []compiledVariant{base}
	}
	for _, v := range g.Variants {
		field := fVariants + "." + v.Name
		if v.Prompt == "" && len(v.Messages) == 0 {
			if base.prompt == nil && base.messages == nil {
				if baseOK {
					p.Errorf(field, "variant %q has no prompt or messages, and the step has none either", v.Name)
				}
				ok = false
				continue
			}
			cv := base
			cv.name = v.Name
			pl.variants = append(pl.variants, cv)
			continue
		}
		cv, vok := g.compilePrompt(p, pl.api, field+".", v.Prompt, v.Messages, in, extraNames, true)
		if !vok {
			ok = false
			continue
		}
		cv.name = v.Name
		pl.variants = append(pl.variants, cv)
	}

	// Sampling parameters.
	pl.params = map[string]any{}
	if g.Temperature != nil {
		pl.params[fTemperature] = *g.Temperature
	}
	if g.TopP != nil {
		pl.params[fTopP] = *g.TopP
	}
	if g.MaxTokens != nil {
		pl.params[fMaxTokens] = *g.MaxTokens
	}
	if len(g.Stop) > 0 {
		pl.params[fStop] = []string(g.Stop)
	}
	keys := make([]string, 0, len(g.Extra))
	for k := range g.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if why, bad := reservedExtra[k]; bad {
			p.Errorf(fExtra+"."+k, "extra may not set %q%s", k, why)
			ok = false
			continue
		}
		pl.params[k] = g.Extra[k]
	}
	if pj, err := llm.CanonicalParams(pl.params); err != nil {
		p.Errorf(fExtra, "%v", err)
		ok = false
	} else {
		pl.paramsJSON = pj
	}

	// Row identity.
	pl.byRow = g.CacheBy != "prompt"
	pl.idCol = -1
	if g.ID != "" {
		idx := in.FieldIndices(g.ID)
		switch {
		case len(idx) == 0:
			p.Errorf(fID, "no column %q in the input of this step", g.ID)
			ok = false
		case op.TypeName(in.Field(idx[0])) != op.TypeString && op.TypeName(in.Field(idx[0])) != op.TypeInt:
			p.Errorf(fID, "the id column %q is %s; it must be a string or an int", g.ID, op.TypeName(in.Field(idx[0])))
			ok = false
		default:
			pl.idCol = idx[0]
		}
		if g.CacheBy == "prompt" {
			p.Warnf(fID, "id is used with cache_by: row only")
		}
	}

	// Lineage columns are this step's own.
	lineage := func(field, col, what string, used bool) {
		switch {
		case !used:
		case col == "":
			p.Errorf(field, "%s must name a column", field)
			ok = false
		case len(in.FieldIndices(col)) > 0:
			p.Errorf(field, "the input already has a column %q (an earlier step wrote it); this step would overwrite that %s index and lose lineage: name this step's column, e.g. %s: %s_%s",
				col, what, field, p.Step(), col)
			ok = false
		}
	}
	lineage(fSampleColumn, g.SampleColumn, "sample", g.N > 1)
	lineage(fVariantColumn, g.VariantColumn, "variant", len(g.Variants) > 0)
	if g.N > 1 && len(g.Variants) > 0 && g.SampleColumn == g.VariantColumn {
		p.Errorf(fSampleColumn, "sample_column and variant_column name the same column %q", g.SampleColumn)
		ok = false
	}

	// Output columns.
	added := []arrow.Field{}
	if pl.hasVar {
		added = append(added, op.MustField(g.VariantColumn, op.TypeString))
	}
	if g.N > 1 {
		added = append(added, op.MustField(g.SampleColumn, op.TypeInt))
	}
	added = append(added, op.MustField(g.Output, op.TypeString))
	own := map[string]bool{ColFinishReason: true, ColPromptTokens: true, ColCompletionTokens: true, g.Output: true}
	if pl.hasVar {
		own[g.VariantColumn] = true
	}
	if g.N > 1 {
		own[g.SampleColumn] = true
	}
	if g.Columns.Kind != 0 && g.Parse != ParseJSON {
		p.Errorf(fColumns, "columns: is for parse: json")
		ok = false
	}
	switch {
	case g.Parse == "":
	case g.Parse == ParseJSON:
		if g.Columns.Kind == 0 {
			pl.jsonRaw = true
			name := g.Output + "_json"
			if own[name] {
				p.Errorf(fOutput, "column %q would be written twice", name)
				ok = false
			}
			pl.jsonCols = []arrow.Field{op.JSONField(name)}
		} else {
			for i := 0; i+1 < len(g.Columns.Content); i += 2 {
				name, typ := g.Columns.Content[i].Value, g.Columns.Content[i+1].Value
				f, err := op.NewField(name, typ)
				if err != nil {
					p.Errorf(fColumns+"."+name, "%v", err)
					ok = false
					continue
				}
				if own[name] {
					p.Errorf(fColumns+"."+name, "column %q is already written by this step", name)
					ok = false
					continue
				}
				pl.jsonCols = append(pl.jsonCols, f)
			}
		}
		added = append(added, pl.jsonCols...)
	default:
		re, err := regexp.Compile(g.Parse)
		if err != nil {
			p.Errorf(fParse, "parse: not `json` and not a valid regexp: %v", err)
			ok = false
			break
		}
		pl.parseRe = re
		for i, name := range re.SubexpNames() {
			if name == "" {
				continue
			}
			if own[name] {
				p.Errorf(fParse, "group %q names a column this step already writes", name)
				ok = false
				continue
			}
			pl.groups = append(pl.groups, name)
			pl.groupIdx = append(pl.groupIdx, i)
			added = append(added, op.MustField(name, op.TypeString))
		}
		if len(pl.groups) == 0 {
			p.Errorf(fParse, "parse: the regexp has no named groups; write (?P<name>...) for each column")
			ok = false
		}
	}
	added = append(added,
		op.MustField(ColFinishReason, op.TypeString),
		op.MustField(ColPromptTokens, op.TypeInt),
		op.MustField(ColCompletionTokens, op.TypeInt))
	if !ok {
		return nil
	}
	pl.added = added
	pl.out = op.SchemaWith(in, added...)
	g.plan = pl
	return pl.out
}

// compilePrompt compiles a prompt or messages for api. required reports
// a missing prompt as an error.
func (g *Generate) compilePrompt(p op.PlanContext, api, prefix, prompt string, msgs []MessageTemplate, in *arrow.Schema, extra []string, required bool) (compiledVariant, bool) {
	var cv compiledVariant
	switch {
	case prompt != "" && len(msgs) > 0:
		p.Errorf(prefix+fMessages, "give prompt: or messages:, not both")
		return cv, false
	case prompt == "" && len(msgs) == 0:
		if required {
			field := strings.TrimSuffix(prefix, ".")
			if api == llm.APICompletions {
				p.Errorf(field, "generate needs a prompt:")
			} else {
				p.Errorf(field, "generate needs prompt: or messages:")
			}
			return cv, false
		}
		return cv, true
	case len(msgs) > 0 && api == llm.APICompletions:
		p.Errorf(prefix+fMessages, "model %q uses api: completions, which takes a prompt:, not messages: (set api: chat on the model to send messages)", g.Model)
		return cv, false
	}
	ok := true
	if prompt != "" {
		cv.prompt = compileTemplate(p, prefix+fPrompt, prompt, in, extra...)
		if cv.prompt != nil {
			cv.cols = templateColumns(cv.prompt)
		}
		return cv, cv.prompt != nil
	}
	for i, m := range msgs {
		field := fmt.Sprintf("%s%s[%d].%s", prefix, fMessages, i, fContent)
		t := compileTemplate(p, field, m.Content, in, extra...)
		if t == nil {
			ok = false
			continue
		}
		role := m.Role
		if role == "" {
			role = "user"
		}
		cv.messages = append(cv.messages, t)
		cv.roles = append(cv.roles, role)
		for _, c := range templateColumns(t) {
			if !slices.Contains(cv.cols, c) {
				cv.cols = append(cv.cols, c)
			}
		}
	}
	return cv, ok
}

// Fingerprint adds the model's identity (not its endpoint or key) and the
// source of its replies to the step's fingerprint: another model means
// other replies, and so does switching between a replay file (by its
// content) and a live server, so committed batches are not reused across
// such a switch.
func (g *Generate) Fingerprint() (string, error) {
	if g.plan == nil {
		return "", nil
	}
	src := "live"
	if g.plan.replay != "" {
		f, err := os.Open(g.plan.replay)
		if err != nil {
			return "", fmt.Errorf("replay file: %w", err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return "", fmt.Errorf("replay file %s: %w", g.plan.replay, err)
		}
		src = "replay:" + hex.EncodeToString(h.Sum(nil))
	}
	return "model=" + g.plan.model + " api=" + g.plan.api + " replies=" + src, nil
}
