package op

import (
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"
)

func TestAppendJSONFloat(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {-1, "-1.0"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"},
		{0.1, "0.1"}, {1e20, "1e+20"}, {1e16, "1e+16"}, {9999999999999998, "9999999999999998.0"},
		{1e-4, "0.0001"}, {1e-5, "1e-05"}, {1.5e-7, "1.5e-07"}, {5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {123.456, "123.456"},
	}
	for _, c := range cases {
		if got := string(AppendJSONFloat(nil, c.f)); got != c.want {
			t.Errorf("AppendJSONFloat(%v) = %s, want %s", c.f, got, c.want)
		}
	}
	// every finite float reads back as the same float, and as a float
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 20000; i++ {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		s := string(AppendJSONFloat(nil, f))
		back, ok := ParseJSONNumber(s).(float64)
		if !ok || math.Float64bits(back) != math.Float64bits(f) {
			t.Fatalf("%v written %s read back as %#v", f, s, ParseJSONNumber(s))
		}
	}
}

func TestDecodeEncodeJSONExact(t *testing.T) {
	cases := []string{
		`10000000000000000000000001`,
		`-9223372036854775809`,
		`9223372036854775807`,
		`{"b":1,"a":{"z":[1.0,-0.0,2],"y":null},"c":"\u00e9"}`,
		`[1e+20,5e-324,0.1,true,false,null,"x"]`,
		`{}`, `[]`,
	}
	for _, c := range cases {
		var ko KeyOrder
		v := DecodeJSONOrdered(c, &ko)
		got, err := EncodeJSONValue(nil, v, &ko)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		want := strings.ReplaceAll(c, `\u00e9`, "é")
		if string(got) != want {
			t.Errorf("round trip of %s = %s", c, got)
		}
	}
	if _, ok := DecodeJSON(`12345678901234567890123`).(*big.Int); !ok {
		t.Error("a big integer must decode as *big.Int")
	}
	if v := DecodeJSON(`9007199254740993`); v != 9007199254740993 {
		t.Errorf("2^53+1 decoded as %#v", v)
	}
	for _, v := range []any{math.Inf(1), []any{1, math.NaN()}, map[string]any{"a": math.Inf(-1)}} {
		if _, err := EncodeJSONValue(nil, v, nil); err == nil || !strings.Contains(err.Error(), "non-finite") {
			t.Errorf("EncodeJSONValue(%v) err = %v, want non-finite", v, err)
		}
	}
}

func TestLoneSurrogate(t *testing.T) {
	cases := map[string]string{
		`"\ud800"`:             `\ud800`,
		`"a\udc00b"`:           `\udc00`,
		`"\ud83d\ude00"`:       "",
		`"\\ud800"`:            "",
		`"\ud83d\u0041"`:       `\ud83d`,
		`"plain \u0041"`:       "",
		`{"k":"\uDBFF"}`:       `\uDBFF`,
		`"\ud83d\ude00\ud800"`: `\ud800`,
	}
	for in, want := range cases {
		if got := LoneSurrogate([]byte(in)); got != want {
			t.Errorf("LoneSurrogate(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckedIntOps(t *testing.T) {
	const max, min = math.MaxInt64, math.MinInt64
	ops := map[string]struct {
		checked func(a, b int64) (int64, bool)
		exact   func(z, x, y *big.Int) *big.Int
	}{
		"+": {addInt, (*big.Int).Add}, "-": {subInt, (*big.Int).Sub}, "*": {mulInt, (*big.Int).Mul},
	}
	cases := []struct {
		op   string
		a, b int64
	}{
		{"+", max, 1}, {"+", min, -1}, {"+", max, min}, {"+", 5, -7},
		{"-", min, 1}, {"-", max, -1}, {"-", -1, max}, {"-", 0, min},
		{"*", max, 2}, {"*", min, -1}, {"*", -1, min}, {"*", min, 1}, {"*", 1 << 32, 1 << 31},
		{"*", 1 << 32, 1 << 30}, {"*", -3, 7}, {"*", 3037000500, 3037000500}, {"*", -3037000499, 3037000499},
	}
	for _, c := range cases {
		o := ops[c.op]
		r, over := o.checked(c.a, c.b)
		exact := o.exact(new(big.Int), big.NewInt(c.a), big.NewInt(c.b))
		if over != !exact.IsInt64() || (!over && r != exact.Int64()) {
			t.Errorf("%d %s %d = %d, overflow %v; exact %s", c.a, c.op, c.b, r, over, exact)
		}
	}
}
