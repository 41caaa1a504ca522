package generate

import (
	"errors"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
)

// Template values of json columns. A json column's object or list reaches
// templates as a jsonMap or jsonList: field access, index and range work
// as on the decoded value, and printing it ({{.j}}) writes it as JSON, as
// the json function does: exact numbers, keys sorted (as encoding/json
// writes them, which the recorded prompts of replay files follow) —
// instead of Go's map[a:1] syntax.
type (
	jsonMap  map[string]any
	jsonList []any
)

func (m jsonMap) String() string  { return encodeTemplateJSON(m) }
func (l jsonList) String() string { return encodeTemplateJSON(l) }

// errNull is what json returns for a null: a null in a prompt is a reject
// (null_in_prompt) unless the template gives a default.
var errNull = errors.New("null value")

// encodeTemplateJSON writes v as JSON (a value with no exact JSON form, such
// as a non-finite float, as op.AppendJSONValue does).
func encodeTemplateJSON(v any) string {
	s, err := templateJSON(v)
	if err != nil {
		return string(op.AppendJSONValue(nil, unwrapJSON(v)))
	}
	return s
}

// templateJSON is the templates' json function.
func templateJSON(v any) (string, error) {
	if v == nil {
		return "", errNull
	}
	b, err := op.EncodeJSONValue(nil, unwrapJSON(v), nil)
	return string(b), err
}

func unwrapJSON(v any) any {
	switch t := v.(type) {
	case jsonMap:
		return map[string]any(t)
	case jsonList:
		return []any(t)
	}
	return v
}

// templateRow returns row i as template values: json objects and lists
// wrapped (see jsonMap), nulls kept as nil.
func templateRow(rec arrow.Record, i int) map[string]any {
	sc := rec.Schema()
	row := make(map[string]any, rec.NumCols()+2)
	for c := 0; c < int(rec.NumCols()); c++ {
		f := sc.Field(c)
		v := op.Value(f, rec.Column(c), i)
		if op.IsJSON(f) {
			switch t := v.(type) {
			case map[string]any:
				v = jsonMap(t)
			case []any:
				v = jsonList(t)
			}
		}
		row[f.Name] = v
	}
	return row
}
