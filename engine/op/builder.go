package op

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ValueBuilder appends plain Go values to a column of a recipe type,
// converting where that loses nothing (an integral float to int, an int to
// float) and refusing otherwise.
type ValueBuilder struct {
	field arrow.Field
	typ   string
	b     array.Builder
	buf   []byte
}

// NewValueBuilder makes a builder for f, which must be one of the recipe
// column types.
func NewValueBuilder(alloc memory.Allocator, f arrow.Field) *ValueBuilder {
	return &ValueBuilder{field: f, typ: TypeName(f), b: array.NewBuilder(alloc, f.Type)}
}

// Field returns the column's field.
func (vb *ValueBuilder) Field() arrow.Field { return vb.field }

// Len returns the number of values appended so far.
func (vb *ValueBuilder) Len() int { return vb.b.Len() }

// AppendNull appends a null.
func (vb *ValueBuilder) AppendNull() { vb.b.AppendNull() }

// Append appends v; it returns an error (and appends nothing) when v does not
// fit the column's type.
func (vb *ValueBuilder) Append(v any) error {
	if v == nil {
		vb.b.AppendNull()
		return nil
	}
	switch vb.typ {
	case TypeJSON:
		if s, ok := v.(json.RawMessage); ok {
			vb.b.(*array.StringBuilder).Append(string(s))
			return nil
		}
		vb.buf = AppendJSONValue(vb.buf[:0], v)
		vb.b.(*array.StringBuilder).Append(string(vb.buf))
		return nil
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", describe(v))
		}
		vb.b.(*array.StringBuilder).Append(s)
		return nil
	case TypeInt:
		n, ok := asInt(v)
		if !ok {
			return fmt.Errorf("want an int, got %s", describe(v))
		}
		vb.b.(*array.Int64Builder).Append(n)
		return nil
	case TypeFloat:
		f, ok := asFloat(v)
		if !ok {
			return fmt.Errorf("want a float, got %s", describe(v))
		}
		vb.b.(*array.Float64Builder).Append(f)
		return nil
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want a bool, got %s", describe(v))
		}
		vb.b.(*array.BooleanBuilder).Append(b)
		return nil
	}
	return fmt.Errorf("column %q of type %s cannot be built from values", vb.field.Name, vb.field.Type)
}

// NewArray returns the built column and resets the builder.
func (vb *ValueBuilder) NewArray() arrow.Array { return vb.b.NewArray() }

// Release releases the builder.
func (vb *ValueBuilder) Release() { vb.b.Release() }

func asInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int64:
		return t, true
	case int32:
		return int64(t), true
	case uint32:
		return int64(t), true
	case uint64:
		if t > math.MaxInt64 {
			return 0, false
		}
		return int64(t), true
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<63 {
			return int64(t), true
		}
	case json.Number:
		n, err := t.Int64()
		return n, err == nil
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

func describe(v any) string {
	switch t := v.(type) {
	case string:
		if len(t) > 40 {
			t = t[:40] + "..."
		}
		return fmt.Sprintf("string %q", t)
	case float64:
		return "float " + strconv.FormatFloat(t, 'g', -1, 64)
	case int, int64:
		return fmt.Sprintf("int %d", t)
	case bool:
		return fmt.Sprintf("bool %v", t)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// AppendJSONValue appends a Go value (as produced by Value or json.Unmarshal)
// as JSON. Map keys are sorted, as encoding/json does.
func AppendJSONValue(buf []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(buf, "null"...)
	case string:
		return AppendJSONString(buf, t)
	case bool:
		return strconv.AppendBool(buf, t)
	case int:
		return strconv.AppendInt(buf, int64(t), 10)
	case int64:
		return strconv.AppendInt(buf, t, 10)
	case float64:
		return AppendJSONFloat(buf, t)
	case json.Number:
		return append(buf, t...)
	case json.RawMessage:
		return append(buf, t...)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return AppendJSONString(buf, fmt.Sprint(v))
	}
	return append(buf, b...)
}
