package op

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/valyala/fastjson"
)

// Exact JSON values.
//
// JSON text (json columns, nested Arrow values) is decoded for expressions
// and templates into plain Go values without losing anything:
//
//   - an integer (a number without '.', 'e' or 'E') is an int when it fits in
//     int64 and a *big.Int beyond, never a float;
//   - any other number is a float64 ("1.0" stays a float, "-0.0" keeps its
//     sign); a number beyond the float64 range is kept as its json.Number text;
//   - an object is a map[string]any whose key order is remembered in a
//     KeyOrder, so an object passed through an expression is written back
//     with its keys in their original order (objects built by expressions
//     are written with sorted keys).
//
// Encoding is the reverse: integers and big integers are written exactly,
// floats always look like floats (1.0, -0.0, 1e+20, as Python writes them),
// and a non-finite float (NaN, ±Inf) anywhere in a value is an error: caco
// keeps no non-finite float in any column.

// KeyOrder remembers the key order of decoded JSON objects by the identity
// of their maps. It is not safe for concurrent use. The zero value is ready.
type KeyOrder struct {
	m map[uintptr][]string
}

// Reset forgets every object (call it when the decoded values are dropped:
// a map's address may be reused by a later one).
func (k *KeyOrder) Reset() {
	if k != nil && len(k.m) > 0 {
		clear(k.m)
	}
}

func (k *KeyOrder) put(m map[string]any, keys []string) {
	if k.m == nil {
		k.m = map[uintptr][]string{}
	}
	k.m[reflect.ValueOf(m).Pointer()] = keys
}

// keys returns m's keys: in their decoded order when m is a decoded object
// that still holds exactly those keys, else sorted.
func (k *KeyOrder) keys(m map[string]any) []string {
	if k != nil && k.m != nil {
		if ks, ok := k.m[reflect.ValueOf(m).Pointer()]; ok && len(ks) == len(m) {
			all := true
			for _, key := range ks {
				if _, ok := m[key]; !ok {
					all = false
					break
				}
			}
			if all {
				return ks
			}
		}
	}
	ks := make([]string, 0, len(m))
	for key := range m {
		ks = append(ks, key)
	}
	sort.Strings(ks)
	return ks
}

var jsonParsers fastjson.ParserPool

// DecodeJSON decodes JSON text exactly (see above); text that is not JSON is
// returned as the string itself.
func DecodeJSON(s string) any { return DecodeJSONOrdered(s, nil) }

// DecodeJSONOrdered is DecodeJSON that records the key order of objects in
// ko (which may be nil).
func DecodeJSONOrdered(s string, ko *KeyOrder) any {
	p := jsonParsers.Get()
	defer jsonParsers.Put(p)
	v, err := p.Parse(s)
	if err != nil {
		return s
	}
	return fromFastJSON(v, ko)
}

func fromFastJSON(v *fastjson.Value, ko *KeyOrder) any {
	switch v.Type() {
	case fastjson.TypeNull:
		return nil
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNumber:
		return ParseJSONNumber(string(v.MarshalTo(nil)))
	case fastjson.TypeArray:
		items := v.GetArray()
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = fromFastJSON(it, ko)
		}
		return out
	case fastjson.TypeObject:
		obj := v.GetObject()
		m := make(map[string]any, obj.Len())
		var keys []string
		if ko != nil {
			keys = make([]string, 0, obj.Len())
		}
		obj.Visit(func(k []byte, it *fastjson.Value) {
			key := string(k)
			if _, dup := m[key]; !dup && ko != nil {
				keys = append(keys, key)
			}
			m[key] = fromFastJSON(it, ko)
		})
		if ko != nil {
			ko.put(m, keys)
		}
		return m
	}
	return nil
}

// NumberIsInt reports whether JSON number text is an integer (no fraction
// or exponent), whatever its size.
func NumberIsInt(text string) bool { return !strings.ContainsAny(text, ".eE") }

// ParseJSONNumber turns JSON number text into an int (integers that fit in
// int64), a *big.Int (larger integers), a float64, or, for a number beyond
// the float64 range, the json.Number itself.
func ParseJSONNumber(text string) any {
	if NumberIsInt(text) {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return int(n)
		}
		if b, ok := new(big.Int).SetString(text, 10); ok {
			return b
		}
		return json.Number(text)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return json.Number(text)
	}
	return f
}

// NonFiniteError is returned when a NaN or an infinity would be stored.
type NonFiniteError struct{ F float64 }

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("non-finite float %s (caco stores only finite floats: NaN and ±Inf are rejected)", FormatFloat(e.F))
}

// FormatFloat formats f the way AppendJSONFloat does, with NaN, +Inf and
// -Inf by those names.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return string(AppendJSONFloat(nil, f))
}

// EncodeJSONValue appends v as exact JSON: objects in the order ko recorded
// (sorted when it does not know them), big integers in full, floats as
// floats. A non-finite float anywhere in v is a *NonFiniteError; a value
// with no JSON form is an error too.
func EncodeJSONValue(buf []byte, v any, ko *KeyOrder) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return AppendJSONString(buf, t), nil
	case bool:
		return strconv.AppendBool(buf, t), nil
	case int:
		return strconv.AppendInt(buf, int64(t), 10), nil
	case int64:
		return strconv.AppendInt(buf, t, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(t), 10), nil
	case uint64:
		return strconv.AppendUint(buf, t, 10), nil
	case *big.Int:
		if t == nil {
			return append(buf, "null"...), nil
		}
		return t.Append(buf, 10), nil
	case big.Int:
		return t.Append(buf, 10), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return buf, &NonFiniteError{t}
		}
		return AppendJSONFloat(buf, t), nil
	case float32:
		return EncodeJSONValue(buf, float64(t), ko)
	case json.Number:
		return append(buf, t...), nil
	case json.RawMessage:
		return append(buf, t...), nil
	case []any:
		buf = append(buf, '[')
		for i, it := range t {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = EncodeJSONValue(buf, it, ko); err != nil {
				return buf, err
			}
		}
		return append(buf, ']'), nil
	case map[string]any:
		buf = append(buf, '{')
		for i, k := range ko.keys(t) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendJSONString(buf, k)
			buf = append(buf, ':')
			var err error
			if buf, err = EncodeJSONValue(buf, t[k], ko); err != nil {
				return buf, err
			}
		}
		return append(buf, '}'), nil
	}
	// Other Go values (typed slices and maps from expr builtins, times,
	// durations): through reflection for containers, encoding/json else.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			break // []byte: encoding/json's base64
		}
		buf = append(buf, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = EncodeJSONValue(buf, rv.Index(i).Interface(), ko); err != nil {
				return buf, err
			}
		}
		return append(buf, ']'), nil
	case reflect.Float32, reflect.Float64:
		return EncodeJSONValue(buf, rv.Float(), ko)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, ok := v.(fmt.Stringer); !ok { // time.Duration and the like: as encoding/json does
			return strconv.AppendInt(buf, rv.Int(), 10), nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return buf, fmt.Errorf("%T has no JSON form: %w", v, err)
	}
	return append(buf, b...), nil
}

// AppendJSONValue appends a Go value (as produced by Value or DecodeJSON) as
// JSON; object keys are sorted. It is EncodeJSONValue for callers that cannot
// fail: a non-finite float becomes null and a value with no JSON form its
// text.
func AppendJSONValue(buf []byte, v any) []byte {
	start := len(buf)
	out, err := EncodeJSONValue(buf, v, nil)
	if err == nil {
		return out
	}
	if _, ok := err.(*NonFiniteError); ok {
		return appendJSONLenient(buf[:start], v)
	}
	return AppendJSONString(buf[:start], fmt.Sprint(v))
}

// appendJSONLenient is EncodeJSONValue with non-finite floats as null.
func appendJSONLenient(buf []byte, v any) []byte {
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return append(buf, "null"...)
		}
	case []any:
		buf = append(buf, '[')
		for i, it := range t {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONLenient(buf, it)
		}
		return append(buf, ']')
	case map[string]any:
		buf = append(buf, '{')
		for i, k := range (*KeyOrder)(nil).keys(t) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendJSONString(buf, k)
			buf = append(buf, ':')
			buf = appendJSONLenient(buf, t[k])
		}
		return append(buf, '}')
	}
	out, err := EncodeJSONValue(buf, v, nil)
	if err != nil {
		return append(buf, "null"...)
	}
	return out
}

// AppendJSONFloat appends a finite float so that it reads back as the same
// float, and as a float: the shortest text that round-trips, written as
// Python's repr writes it (1.0, -0.0, 0.1, 1e+16, 1.5e-07). NaN and
// infinities, which JSON cannot hold, become null.
func AppendJSONFloat(buf []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(buf, "null"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(buf, "-0.0"...)
		}
		return append(buf, "0.0"...)
	}
	abs := math.Abs(f)
	if abs >= 1e16 || abs < 1e-4 {
		return strconv.AppendFloat(buf, f, 'e', -1, 64) // 1e+20, 1.5e-07
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'f', -1, 64)
	for _, c := range buf[start:] {
		if c == '.' {
			return buf
		}
	}
	return append(buf, '.', '0')
}

// LoneSurrogate returns the first \uXXXX escape in JSON text that is a
// surrogate without its pair (which has no UTF-8 form), or "".
func LoneSurrogate(raw []byte) string {
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' || i+6 > len(raw) {
			i++ // skip the escaped character
			continue
		}
		x, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		if err != nil || !utf16.IsSurrogate(rune(x)) {
			i += 5
			continue
		}
		if x < 0xdc00 && i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
			if y, err := strconv.ParseUint(string(raw[i+8:i+12]), 16, 16); err == nil && y >= 0xdc00 && y <= 0xdfff {
				i += 11
				continue
			}
		}
		return string(raw[i : i+6])
	}
	return ""
}
