package pytok

import (
	"strings"
	"testing"
)

func render(src string) string {
	var parts []string
	for _, t := range Tokenize(nil, src) {
		if t.Kind == Newline {
			parts = append(parts, "NL")
			continue
		}
		parts = append(parts, src[t.Start:t.End])
	}
	return strings.Join(parts, " ")
}

func TestTokenize(t *testing.T) {
	tests := []struct{ src, want string }{
		{"x = 1  # one\n", "x = 1 NL"},
		{"\n\n  \n", ""},
		{"a**=2\nb //= 3", "a **= 2 NL b //= 3 NL"},
		{"f(a,\n  b)\n", "f ( a , b ) NL"},
		{"s = 'a # b'", "s = 'a # b' NL"},
		{"s = f\"{x}\" + rb'\\n'", "s = f\"{x}\" + rb'\\n' NL"},
		{"d = '''x\n# not a comment\n'''\n", "d = '''x\n# not a comment\n''' NL"},
		{"x = 1.5e-3 + 0x1F + 2j + .5", "x = 1.5e-3 + 0x1F + 2j + .5 NL"},
		{"if a >= b and c != d:\n    return a->b", "if a >= b and c != d : NL return a -> b NL"},
		{"x = 1 + \\\n    2", "x = 1 + 2 NL"},
		{"s = 'unterminated\ny = 2", "s = 'unterminated NL y = 2 NL"},
		{"café = 1", "café = 1 NL"},
		{"a...", "a ... NL"},
	}
	for _, tc := range tests {
		if got := render(tc.src); got != tc.want {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.src, got, tc.want)
		}
	}
}
