// Package verify registers the verification operators of the Caco
// pipeline's last filter: `answer` (final-answer extraction), `consistency`
// (does the natural-language answer equal the Code CoT's result?) and
// `vote` (majority answer across a group). The math equivalence they share
// lives in the mathequiv subpackage.
package verify

import (
	"context"
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
)

// ReasonNoAnswer is the reject reason for texts without a final answer.
const ReasonNoAnswer = "no_answer"

// Answer extracts the final answer of a solution text.
type Answer struct {
	Text        string `yaml:"text"`
	Output      string `yaml:"output"`
	KeepMissing bool   `yaml:"keep_missing"`
	Method      string `yaml:"method"`
	Normalize   bool   `yaml:"normalize"`

	textIdx  int
	textJSON bool
	out      *arrow.Schema
}

var _ op.Processor = (*Answer)(nil)

func init() {
	op.Register(op.Spec{
		Name:    "answer",
		Summary: "Extract the final answer of a solution text.",
		Doc: "Looks, in order, for the Minerva form \"final answer is $X$. I hope\"; the content of the last " +
			"\\boxed{...} or \\fbox{...} whose braces balance (or \\boxed X without braces, up to the next $); " +
			"the text after the last \"The answer is\" or \"final answer is\" (or GSM8K's \"#### X\"), up to the end " +
			"of the sentence; and finally the last number in the text (thousands separators removed). The answer " +
			"is then normalised as the Qwen math grader does (\\dfrac → \\frac, \\text{X} → X, units, degrees, " +
			"\"x =\", $ and \\left/\\right removed, thousands separators, \\frac12 → \\frac{1}{2}, ...). " +
			"A row without an answer is rejected with reason \"" + ReasonNoAnswer + "\", or kept with a null " +
			"answer when keep_missing is true.",
		Version: "1",
		Fields: []op.Field{
			{Name: fieldText, Kind: op.String, Required: true, Doc: "Column holding the solution text (string or json).", Example: "solution"},
			{Name: fieldOutput, Kind: op.String, Default: "answer", Doc: "Column to write the answer to (a string column; replaced if it exists)."},
			{Name: fieldKeepMissing, Kind: op.Bool, Default: false, Doc: "Keep rows without an answer, with a null answer, instead of rejecting them."},
			{Name: fieldMethod, Kind: op.String, Doc: "Optional column to record how the answer was found: minerva, boxed, phrase or last_number (null when none).", Example: "answer_method"},
			{Name: fieldNormalize, Kind: op.Bool, Default: true, Doc: "Normalise the extracted answer; false keeps the raw text."},
		},
		Example: "final:\n  op: answer\n  input: solutions\n  text: solution\n  output: answer\n",
		New:     func() op.Planner { return &Answer{Output: "answer", Normalize: true} },
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
	fields := []arrow.Field{op.MustField(a.Output, op.TypeString)}
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
			var raw string
			raw, method = mathequiv.Extract(text)
			ans = raw
			if a.Normalize {
				ans = mathequiv.Normalize(raw)
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
