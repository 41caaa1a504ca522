package load

import (
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
)

// supported reports whether caco reads an Arrow type exactly: strings,
// integers, floats (float16 and float32 widened to the float64 holding the
// same value), booleans, and lists, structs and maps with string keys made
// of those (read as json). Timestamps, dates, times, durations, decimals and
// binary are not: load refuses them at validation.
func supported(t arrow.DataType) bool {
	switch tt := t.(type) {
	case *arrow.DictionaryType:
		return supported(tt.ValueType)
	case *arrow.ListType:
		return supported(tt.Elem())
	case *arrow.LargeListType:
		return supported(tt.Elem())
	case *arrow.FixedSizeListType:
		return supported(tt.Elem())
	case *arrow.MapType:
		k := tt.KeyType().ID()
		return (k == arrow.STRING || k == arrow.LARGE_STRING) && supported(tt.ItemType())
	case *arrow.StructType:
		for _, f := range tt.Fields() {
			if !supported(f.Type) {
				return false
			}
		}
		return true
	}
	switch t.ID() {
	case arrow.NULL, arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BOOL,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

// appendArrowJSON appends row i of arr as exact JSON: integers in full,
// floats as floats (float32 widened exactly), lists as lists, structs and
// maps as objects in their order. A non-finite float is a
// *op.NonFiniteError.
func appendArrowJSON(buf []byte, arr arrow.Array, i int) ([]byte, error) {
	if arr.IsNull(i) {
		return append(buf, "null"...), nil
	}
	switch a := arr.(type) {
	case *array.Null:
		return append(buf, "null"...), nil
	case *array.String:
		return op.AppendJSONString(buf, a.Value(i)), nil
	case *array.LargeString:
		return op.AppendJSONString(buf, a.Value(i)), nil
	case *array.StringView:
		return op.AppendJSONString(buf, a.Value(i)), nil
	case *array.Boolean:
		return strconv.AppendBool(buf, a.Value(i)), nil
	case *array.Int8:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.AppendInt(buf, a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.AppendUint(buf, a.Value(i), 10), nil
	case *array.Float16:
		return appendFloat(buf, float64(a.Value(i).Float32()))
	case *array.Float32:
		return appendFloat(buf, float64(a.Value(i)))
	case *array.Float64:
		return appendFloat(buf, a.Value(i))
	case *array.Dictionary:
		return appendArrowJSON(buf, a.Dictionary(), a.GetValueIndex(i))
	case *array.Map:
		start, end := a.ValueOffsets(i)
		keys, items := a.Keys(), a.Items()
		buf = append(buf, '{')
		for k := start; k < end; k++ {
			if k > start {
				buf = append(buf, ',')
			}
			var err error
			if keys.IsNull(int(k)) {
				return buf, fmt.Errorf("a map with a null key")
			}
			if buf, err = appendArrowJSON(buf, keys, int(k)); err != nil {
				return buf, err
			}
			buf = append(buf, ':')
			if buf, err = appendArrowJSON(buf, items, int(k)); err != nil {
				return buf, err
			}
		}
		return append(buf, '}'), nil
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		buf = append(buf, '[')
		for k := start; k < end; k++ {
			if k > start {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendArrowJSON(buf, vals, int(k)); err != nil {
				return buf, err
			}
		}
		return append(buf, ']'), nil
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		buf = append(buf, '{')
		for k := 0; k < a.NumField(); k++ {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf = op.AppendJSONString(buf, st.Field(k).Name)
			buf = append(buf, ':')
			var err error
			if buf, err = appendArrowJSON(buf, a.Field(k), i); err != nil {
				return buf, err
			}
		}
		return append(buf, '}'), nil
	}
	return buf, fmt.Errorf("caco has no column type for %s", arr.DataType())
}

func appendFloat(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, &op.NonFiniteError{F: f}
	}
	return op.AppendJSONFloat(buf, f), nil
}
