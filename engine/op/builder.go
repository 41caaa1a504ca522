package op

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
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
// fit the column's type exactly: a float with a fraction, or an integer
// beyond int64, for an int column; an integer that no float64 holds exactly
// for a float column; a non-finite float anywhere (a *NonFiniteError).
// Objects in json columns are written with sorted keys.
func (vb *ValueBuilder) Append(v any) error { return vb.AppendOrdered(v, nil) }

// AppendOrdered is Append that writes JSON objects decoded with ko in their
// original key order.
func (vb *ValueBuilder) AppendOrdered(v any, ko *KeyOrder) error {
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
		var err error
		vb.buf, err = EncodeJSONValue(vb.buf[:0], v, ko)
		if err != nil {
			return err
		}
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
			if f, isF := v.(float64); isF && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return &NonFiniteError{f}
			}
			return fmt.Errorf("want an int, got %s", describe(v))
		}
		vb.b.(*array.Int64Builder).Append(n)
		return nil
	case TypeFloat:
		f, ok := asFloat(v)
		if !ok {
			return fmt.Errorf("want a float, got %s", describe(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return &NonFiniteError{f}
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
		// an integral float is the same number; 2^63 itself does not fit
		if t == math.Trunc(t) && t >= -(1<<63) && t < 1<<63 {
			return int64(t), true
		}
	case *big.Int:
		if t.IsInt64() {
			return t.Int64(), true
		}
	case big.Int:
		return asInt(&t)
	case json.Number:
		n, err := t.Int64()
		return n, err == nil
	}
	return 0, false
}

// asFloat converts numbers that a float64 holds exactly.
func asFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case int:
		return exactFloat(int64(t))
	case int64:
		return exactFloat(t)
	case json.Number:
		if NumberIsInt(string(t)) {
			n, err := t.Int64()
			if err != nil {
				return 0, false
			}
			return exactFloat(n)
		}
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

// exactFloat returns n as a float64 when that is the same number.
func exactFloat(n int64) (float64, bool) {
	f := float64(n)
	if f >= 1<<63 || int64(f) != n {
		return 0, false
	}
	return f, true
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
	case *big.Int:
		return "int " + t.String()
	case bool:
		return fmt.Sprintf("bool %v", t)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
