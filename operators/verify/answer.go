// Package verify registers the verification operators of the Caco
// pipeline's last filter: `answer` (final-answer extraction), `consistency`
// (does the natural-language answer equal the Code CoT's result?) and
// `vote` (majority answer across a group). The math equivalence they share
// lives in the mathequiv subpackage.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/verify/mathequiv"
)

// Field names of the answer operator.
const (
	fieldText        = "text"
	fieldOutput      = "output"
	fieldKeepMissing = "keep_missing"
	fieldMethod      = "method"
	fieldNormalize   = "normalize"
	fieldBoxed       = "boxed"
)

// Boxed modes of the answer operator.
const (
	BoxedLast = "last"
	BoxedAll  = "all"
)

// ReasonNoAnswer is the reject reason for texts without a final answer.
const ReasonNoAnswer = "no_answer"

// answerDoc documents every extraction rule with an example; it is what
// `caco ops answer` prints.
const answerDoc = "Finds the final answer of a solution text, trying in order:\n" +
	"1. the Minerva form: \"Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.\" gives \\frac{1}{2};\n" +
	"2. the last \\boxed{...} or \\fbox{...} whose braces balance (\"first $\\boxed{3}$, then correcting: " +
	"$\\boxed{\\frac{\\sqrt3}{2}}$\" gives \\frac{\\sqrt3}{2}; \\boxed 5 without braces up to the next $); with " +
	"boxed: all every box is a candidate ({\"any_of\": [\"3\", \"\\frac{\\sqrt{3}}{2}\"]}) and the answer matches " +
	"when any one of them does;\n" +
	"3. the text after the last \"The answer is\", \"final answer is\", \"Final Answer:\" or GSM8K's \"#### \" (case " +
	"insensitive), up to the end of the sentence or line, or the math span right after it: \"The answer is $(9+1)$.\" " +
	"gives (9+1), \"Final Answer: 17\" gives 17;\n" +
	"4. the last math span ($...$, $$...$$, \\(...\\), \\[...\\]); in a chain the part after the last = " +
	"(\"so $2+3=5$\" gives 5) but a label stays (\"$x = 4$\" gives x = 4), and a matrix stays whole " +
	"($\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}$);\n" +
	"5. the last number: -3.5, 1,234,567 (thousands separators removed), 3/8; never part of a mixed number " +
	"(\"3 1/2 cups\" gives 3 1/2, not 1/2) and a parenthesised expression whole (\"it equals (9+1)\" gives (9+1), not 1).\n" +
	"The answer is then normalised as consistency does (\\dfrac → \\frac, \\text{} and $ removed, \\frac12 → " +
	"\\frac{1}{2}, 1,000 → 1000, ...), keeping its label and unit so that consistency can still apply the label and " +
	"unit rules: \"x = 4\" stays x=4 and \"24\\text{ cm}^2\" stays 24\\text{ cm^2}. A row without an answer is " +
	"rejected with reason \"" + ReasonNoAnswer + "\", or kept with a null answer when keep_missing is true."

// Answer extracts the final answer of a solution text.
type Answer struct {
	Text        string `yaml:"text"`
	Output      string `yaml:"output"`
	KeepMissing bool   `yaml:"keep_missing"`
	Method      string `yaml:"method"`
	Normalize   bool   `yaml:"normalize"`
	Boxed       string `yaml:"boxed"`

	textIdx  int
	textJSON bool
	out      *arrow.Schema
}

var _ op.Processor = (*Answer)(nil)

func init() {
	op.Register(op.Spec{
		Name:    "answer",
		Summary: "Extract the final answer of a solution text.",
		Doc:     answerDoc,
		Version: "1",
		Fields: []op.Field{
			{Name: fieldText, Kind: op.String, Required: true, Doc: "Column holding the solution text (string or json).", Example: "solution"},
			{Name: fieldOutput, Kind: op.String, Default: "answer", Doc: "Column to write the answer to (a string column; replaced if it exists)."},
			{Name: fieldKeepMissing, Kind: op.Bool, Default: false, Doc: "Keep rows without an answer, with a null answer, instead of rejecting them."},
			{Name: fieldMethod, Kind: op.String, Doc: "Optional column to record how the answer was found: minerva, boxed, phrase, math or last_number (null when none).", Example: "answer_method"},
			{Name: fieldNormalize, Kind: op.Bool, Default: true, Doc: "Normalise the extracted answer; false keeps the raw text."},
			{Name: fieldBoxed, Kind: op.Enum, Enum: []string{BoxedLast, BoxedAll}, Default: BoxedLast,
				Doc: "last: the last \\boxed{} of a text is its answer. all: every \\boxed{} is a candidate; the output " +
					"column is then json, {\"any_of\": [\"3\", \"-2\"]}, and consistency and vote count it equal to the other " +
					"side when any one candidate is (a text with one box gives a one-candidate list; one without boxes " +
					"falls back to the other rules and gives a JSON string)."},
		},
		Example: "final:\n  op: answer\n  input: solutions\n  text: solution\n  output: answer\n",
		New:     func() op.Planner { return &Answer{Output: "answer", Normalize: true, Boxed: BoxedLast} },

		// row-local: sharded runs split it between shards
		RowLocal: true,
	})
}

func (a *Answer) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	idx, ok := columnIndex(p, fieldText, a.Text, in)
	if !ok {
		return nil
	}
	f := in.Field(idx)
	switch op.TypeName(f) {
	case op.TypeString, op.TypeJSON:
	default:
		p.Errorf(fieldText, "column %q is %s; answer reads text (a string or json column)", a.Text, op.TypeName(f))
		return nil
	}
	if a.Output == "" {
		p.Errorf(fieldOutput, "empty column name")
		return nil
	}
	if a.Method != "" && a.Method == a.Output {
		p.Errorf(fieldMethod, "method column %q is also the output column", a.Method)
		return nil
	}
	a.textIdx, a.textJSON = idx, op.IsJSON(f)
	outType := op.TypeString
	switch a.Boxed {
	case BoxedLast, "":
	case BoxedAll:
		outType = op.TypeJSON
	default:
		p.Errorf(fieldBoxed, "boxed must be last or all, not %q", a.Boxed)
		return nil
	}
	fields := []arrow.Field{op.MustField(a.Output, outType)}
	if a.Method != "" {
		fields = append(fields, op.MustField(a.Method, op.TypeString))
	}
	a.out = op.SchemaWith(in, fields...)
	return a.out
}

func (a *Answer) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	rec := b.Record
	n := int(rec.NumRows())
	col := rec.Column(a.textIdx)
	ab := array.NewStringBuilder(b.Alloc)
	defer ab.Release()
	var mb *array.StringBuilder
	if a.Method != "" {
		mb = array.NewStringBuilder(b.Alloc)
		defer mb.Release()
	}
	keep := make([]bool, n)
	var rejects []op.Reject
	for i := 0; i < n; i++ {
		text, ok := textAt(rec.Schema().Field(a.textIdx), col, i)
		var ans string
		method := mathequiv.MethodNone
		if ok {
			if a.Boxed == BoxedAll {
				ans, method = a.allBoxed(text)
			} else {
				var raw string
				raw, method = mathequiv.Extract(text)
				ans = raw
				if a.Normalize {
					ans = mathequiv.Normalize(raw)
				}
			}
		}
		if ans == "" {
			if !a.KeepMissing {
				detail := "no boxed answer, answer phrase or number in the text"
				if !ok {
					detail = "text is null"
				} else if method != mathequiv.MethodNone {
					detail = fmt.Sprintf("%s answer is empty after normalisation", method)
				}
				rejects = append(rejects, op.Reject{Row: i, Reason: ReasonNoAnswer, Detail: detail})
			} else {
				keep[i] = true
			}
			ab.AppendNull()
			if mb != nil {
				mb.AppendNull()
			}
			continue
		}
		keep[i] = true
		ab.Append(ans)
		if mb != nil {
			mb.Append(string(method))
		}
	}
	cols := []arrow.Array{ab.NewArray()}
	defer cols[0].Release()
	fields := []arrow.Field{a.out.Field(a.out.FieldIndices(a.Output)[0])}
	if mb != nil {
		cols = append(cols, mb.NewArray())
		defer cols[1].Release()
		fields = append(fields, a.out.Field(a.out.FieldIndices(a.Method)[0]))
	}
	full := op.WithColumns(rec, fields, cols)
	defer full.Release()
	out, err := op.Filter(b.Alloc, full, keep)
	if err != nil {
		return op.Result{}, fmt.Errorf("answer: %w", err)
	}
	return op.Result{Record: out, Rejects: rejects}, nil
}

// allBoxed returns the JSON answer of boxed: all: {"any_of": [...]} of
// every box, or the other rules' answer as a JSON string.
func (a *Answer) allBoxed(text string) (string, mathequiv.Method) {
	norm := func(s string) string {
		if a.Normalize {
			return mathequiv.Normalize(s)
		}
		return s
	}
	var list []string
	for _, b := range mathequiv.ExtractBoxed(text) {
		if n := norm(b); n != "" {
			list = append(list, n)
		}
	}
	if len(list) > 0 {
		buf, _ := json.Marshal(map[string][]string{"any_of": list})
		return string(buf), mathequiv.MethodBoxed
	}
	raw, method := mathequiv.Extract(text)
	if n := norm(raw); n != "" {
		buf, _ := json.Marshal(n)
		return string(buf), method
	}
	return "", method
}

// columnIndex finds a column named by a field, reporting a missing one.
func columnIndex(p op.PlanContext, field, name string, in *arrow.Schema) (int, bool) {
	if name == "" {
		p.Errorf(field, "empty column name")
		return 0, false
	}
	if in == nil {
		p.Errorf(field, "this step needs an input")
		return 0, false
	}
	idx := in.FieldIndices(name)
	if len(idx) == 0 {
		var names []string
		for _, f := range in.Fields() {
			names = append(names, f.Name)
		}
		p.Errorf(field, "no column %q in the input of this step (columns: %v)", name, names)
		return 0, false
	}
	return idx[0], true
}

// textAt returns the text of a string cell; a json cell holding a string
// gives the string, other json values their JSON text.
func textAt(f arrow.Field, arr arrow.Array, i int) (string, bool) {
	if arr.IsNull(i) {
		return "", false
	}
	switch c := arr.(type) {
	case *array.String:
		s := c.Value(i)
		if op.IsJSON(f) {
			if v, ok := op.DecodeJSON(s).(string); ok {
				return v, true
			}
		}
		return s, true
	case *array.LargeString:
		return c.Value(i), true
	}
	return arr.ValueStr(i), true
}

// answerAt parses a cell as an answer, by column type: json columns as JSON
// (numbers exactly, strings as their text, lists as tuples), floats as
// inexact values, ints exactly, strings as LaTeX.
func answerAt(f arrow.Field, arr arrow.Array, i int) *mathequiv.Answer {
	if arr.IsNull(i) {
		return mathequiv.Parse("")
	}
	switch c := arr.(type) {
	case *array.String:
		if op.IsJSON(f) {
			return mathequiv.ParseJSON(c.Value(i))
		}
		return mathequiv.Parse(c.Value(i))
	case *array.LargeString:
		return mathequiv.Parse(c.Value(i))
	case *array.Int64:
		return mathequiv.Parse(strconv.FormatInt(c.Value(i), 10))
	case *array.Int32:
		return mathequiv.Parse(strconv.FormatInt(int64(c.Value(i)), 10))
	case *array.Float64:
		return mathequiv.ParseFloat(c.Value(i))
	case *array.Float32:
		return mathequiv.ParseFloat(float64(c.Value(i)))
	case *array.Boolean:
		return mathequiv.Parse(strconv.FormatBool(c.Value(i)))
	}
	return mathequiv.FromValue(op.Value(f, arr, i))
}
