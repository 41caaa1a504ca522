package norm

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct {
		mode    Mode
		replace bool
		in      string
		want    string
	}{
		{None, false, " a  b ", " a  b "},
		{None, true, "x1 = 10 + 2.5", "x1 = 0 + 0"},
		{Whitespace, false, "  a \t b\n\nc  ", "a b c"},
		{Whitespace, false, "a\u00a0\u2003b", "a b"},
		{Whitespace, true, "cost 3,000 and 4.5e3 units", "cost 0 and 0 units"},
		{Text, false, "Hello,   World! It's 3.5.", "hello world it s 3 5"},
		{Text, true, "Hello, World! It's 3.5.", "hello world it s 0"},
		{Text, false, "ÉTÉ — «chaud»", "été chaud"},
		{Code, false, "def f(x):  # doc\n\n    return x+1   \n", "def f ( x ) :\nreturn x + 1"},
		{Code, true, "y = 2.5 * x1  # 3\n", "y = 0 * x1"},
		{Code, false, "s = 'a  # b'  # c", "s = 'a  # b'"},
		{Code, false, "", ""},
	}
	for _, tc := range tests {
		z := Normalizer{Mode: tc.mode, ReplaceNumbers: tc.replace}
		if got := string(z.Append(nil, tc.in)); got != tc.want {
			t.Errorf("mode %d replace %v: %q -> %q, want %q", tc.mode, tc.replace, tc.in, got, tc.want)
		}
	}
}

func TestNumbersHash(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"x = 1\ny = 2", "y = 2\nx = 1", true},
		{"a = 1", "b = 1", true},
		{"x = 1", "x = 2", false},
		{"x = 1, 1", "x = 1", false},
		{"x1 = y2", "x3 = y4", true},
		{"", "no numbers", true},
		{"v = 3.14", "v = 3.15", false},
	}
	for _, tc := range tests {
		if got := NumbersHash([]byte(tc.a)) == NumbersHash([]byte(tc.b)); got != tc.same {
			t.Errorf("NumbersHash(%q) == NumbersHash(%q): %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
