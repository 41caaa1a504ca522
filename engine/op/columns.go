package op

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Column types as recipes name them (in `columns:` declarations and docs).
const (
	TypeString = "string"
	TypeInt    = "int"
	TypeFloat  = "float"
	TypeBool   = "bool"
	TypeJSON   = "json" // nested values (objects, lists) stored as JSON text
)

// ColumnTypes lists the names accepted in `columns:` declarations.
var ColumnTypes = []string{TypeString, TypeInt, TypeFloat, TypeBool, TypeJSON}

// metaType marks JSON text columns in an Arrow field's metadata.
const metaType = "caco.type"

// NewField makes the Arrow field for a recipe column type.
func NewField(name, typ string) (arrow.Field, error) {
	switch typ {
	case TypeString:
		return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}, nil
	case TypeInt:
		return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64, Nullable: true}, nil
	case TypeFloat:
		return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}, nil
	case TypeBool:
		return arrow.Field{Name: name, Type: arrow.FixedWidthTypes.Boolean, Nullable: true}, nil
	case TypeJSON:
		return JSONField(name), nil
	}
	return arrow.Field{}, fmt.Errorf("unknown column type %q (one of string, int, float, bool, json)", typ)
}

// MustField is NewField for fixed names and types; it panics on an unknown type.
func MustField(name, typ string) arrow.Field {
	f, err := NewField(name, typ)
	if err != nil {
		panic(err)
	}
	return f
}

// JSONField is a nullable string column whose values are JSON text.
func JSONField(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true,
		Metadata: arrow.NewMetadata([]string{metaType}, []string{TypeJSON})}
}

// IsJSON reports whether f holds JSON text.
func IsJSON(f arrow.Field) bool {
	v, ok := f.Metadata.GetValue(metaType)
	return ok && v == TypeJSON
}

// TypeName names a field's type the way recipes do; other Arrow types are
// shown by their Arrow name.
func TypeName(f arrow.Field) string {
	if IsJSON(f) {
		return TypeJSON
	}
	switch f.Type.ID() {
	case arrow.STRING, arrow.LARGE_STRING:
		return TypeString
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return TypeInt
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return TypeFloat
	case arrow.BOOL:
		return TypeBool
	}
	return f.Type.String()
}

// Value returns row i of arr as a plain Go value: string, int, float64, bool,
// nil, or for JSON columns and nested Arrow types the decoded JSON value
// (map[string]any, []any, int, *big.Int, float64, ...; see DecodeJSON).
func Value(f arrow.Field, arr arrow.Array, i int) any {
	return ValueOrdered(f, arr, i, nil)
}

// ValueOrdered is Value that records the key order of decoded JSON objects
// in ko (which may be nil).
func ValueOrdered(f arrow.Field, arr arrow.Array, i int, ko *KeyOrder) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.String:
		s := a.Value(i)
		if IsJSON(f) {
			return DecodeJSONOrdered(s, ko)
		}
		return s
	case *array.LargeString:
		return a.Value(i)
	case *array.Int64:
		return int(a.Value(i))
	case *array.Int32:
		return int(a.Value(i))
	case *array.Int16:
		return int(a.Value(i))
	case *array.Int8:
		return int(a.Value(i))
	case *array.Uint64:
		if v := a.Value(i); v > math.MaxInt64 {
			return new(big.Int).SetUint64(v)
		}
		return int(a.Value(i))
	case *array.Uint32:
		return int(a.Value(i))
	case *array.Uint16:
		return int(a.Value(i))
	case *array.Uint8:
		return int(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Boolean:
		return a.Value(i)
	}
	b, err := json.Marshal(arr.GetOneForMarshal(i))
	if err != nil {
		return arr.ValueStr(i)
	}
	return DecodeJSONOrdered(string(b), ko)
}

// Row returns row i as a map of column name to Value.
func Row(rec arrow.Record, i int) map[string]any {
	m := make(map[string]any, rec.NumCols())
	sc := rec.Schema()
	for c := 0; c < int(rec.NumCols()); c++ {
		m[sc.Field(c).Name] = Value(sc.Field(c), rec.Column(c), i)
	}
	return m
}

// AppendRowJSON appends row i as a JSON object with keys in schema order.
// JSON columns are embedded as JSON values. The encoding is deterministic.
func AppendRowJSON(buf []byte, rec arrow.Record, i int) []byte {
	sc := rec.Schema()
	buf = append(buf, '{')
	for c := 0; c < int(rec.NumCols()); c++ {
		if c > 0 {
			buf = append(buf, ',')
		}
		f := sc.Field(c)
		buf = AppendJSONString(buf, f.Name)
		buf = append(buf, ':')
		buf = AppendCellJSON(buf, f, rec.Column(c), i)
	}
	return append(buf, '}')
}

// AppendCellJSON appends one cell as JSON.
func AppendCellJSON(buf []byte, f arrow.Field, arr arrow.Array, i int) []byte {
	if arr.IsNull(i) {
		return append(buf, "null"...)
	}
	switch a := arr.(type) {
	case *array.String:
		s := a.Value(i)
		if IsJSON(f) && json.Valid([]byte(s)) {
			return append(buf, s...)
		}
		return AppendJSONString(buf, s)
	case *array.LargeString:
		return AppendJSONString(buf, a.Value(i))
	case *array.Int64:
		return strconv.AppendInt(buf, a.Value(i), 10)
	case *array.Int32:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10)
	case *array.Float64:
		return AppendJSONFloat(buf, a.Value(i))
	case *array.Float32:
		return AppendJSONFloat(buf, float64(a.Value(i)))
	case *array.Boolean:
		return strconv.AppendBool(buf, a.Value(i))
	}
	b, err := json.Marshal(arr.GetOneForMarshal(i))
	if err != nil {
		return AppendJSONString(buf, arr.ValueStr(i))
	}
	return append(buf, b...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// RowJSON returns row i as JSON text.
func RowJSON(rec arrow.Record, i int) string {
	return string(AppendRowJSON(nil, rec, i))
}

// Filter returns the rows of rec where keep is true, as a new record. When
// every row is kept it returns rec retained.
func Filter(alloc memory.Allocator, rec arrow.Record, keep []bool) (arrow.Record, error) {
	idx := make([]int, 0, len(keep))
	for i, k := range keep {
		if k {
			idx = append(idx, i)
		}
	}
	if len(idx) == len(keep) {
		rec.Retain()
		return rec, nil
	}
	return takeRecord(alloc, rec, idx)
}

// Take returns the rows of rec at the given indices (repeats allowed), as a
// new record.
func Take(alloc memory.Allocator, rec arrow.Record, indices []int) (arrow.Record, error) {
	return takeRecord(alloc, rec, indices)
}

// WithColumns returns rec with the given columns added (or replaced, when a
// column of the same name exists, in place). The arrays are retained by the
// new record; the caller still owns its references.
func WithColumns(rec arrow.Record, fields []arrow.Field, cols []arrow.Array) arrow.Record {
	sc := rec.Schema()
	outFields := append([]arrow.Field(nil), sc.Fields()...)
	outCols := append([]arrow.Array(nil), rec.Columns()...)
	for k, f := range fields {
		if idx := sc.FieldIndices(f.Name); len(idx) > 0 {
			outFields[idx[0]] = f
			outCols[idx[0]] = cols[k]
			continue
		}
		outFields = append(outFields, f)
		outCols = append(outCols, cols[k])
	}
	md := sc.Metadata()
	return array.NewRecord(arrow.NewSchema(outFields, &md), outCols, rec.NumRows())
}

// SchemaWith returns sc with fields added or replaced, as WithColumns does.
func SchemaWith(sc *arrow.Schema, fields ...arrow.Field) *arrow.Schema {
	out := append([]arrow.Field(nil), sc.Fields()...)
	for _, f := range fields {
		if idx := sc.FieldIndices(f.Name); len(idx) > 0 {
			out[idx[0]] = f
			continue
		}
		out = append(out, f)
	}
	md := sc.Metadata()
	return arrow.NewSchema(out, &md)
}

// EmptyRecord returns a record with no rows.
func EmptyRecord(alloc memory.Allocator, sc *arrow.Schema) arrow.Record {
	b := array.NewRecordBuilder(alloc, sc)
	defer b.Release()
	return b.NewRecord()
}
