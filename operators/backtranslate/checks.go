package backtranslate

// The checks of a back-translated problem: it states every given value, it
// does not mention the program, and it does not give the answer away.

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// mention is a number found in a problem's text.
type mention struct {
	v       float64
	percent bool // written with % (or "percent"): v is the number before it
}

var (
	// LaTeX fractions: \frac{3}{4}, \dfrac34, \tfrac{1}{2}
	reLatexFrac = regexp.MustCompile(`\\[dt]?frac\s*\{\s*(-?[0-9]+(?:\.[0-9]+)?)\s*\}\s*\{\s*(-?[0-9]+(?:\.[0-9]+)?)\s*\}|\\[dt]?frac([0-9])([0-9])`)
	// numbers: 1,234.5 or 1234 or .5, optionally a/b, optionally followed by % or percent
	reNumber = regexp.MustCompile(`(?i)(^|[^0-9A-Za-z_.])(-?)((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)(?:\s*/\s*([0-9]+(?:\.[0-9]+)?))?(\s*(?:\\?%|percent\b|per\s+cent\b|pour\s+cent\b|por\s+ciento\b|prozent\b))?`)
	reWord   = regexp.MustCompile(`[\p{L}]+`)
)

// numbersIn finds every number the text writes: digits (with thousands
// separators, decimals, signs), fractions a/b and \frac{a}{b}, percentages
// and number words of lang ("" or "english" for English).
func numbersIn(text, lang string) []mention {
	var out []mention
	for _, m := range reLatexFrac.FindAllStringSubmatch(text, -1) {
		a, b := m[1], m[2]
		if a == "" {
			a, b = m[3], m[4]
		}
		x, _ := strconv.ParseFloat(a, 64)
		y, _ := strconv.ParseFloat(b, 64)
		if y != 0 {
			out = append(out, mention{v: x / y}, mention{v: x}, mention{v: y})
		}
	}
	for _, m := range reNumber.FindAllStringSubmatch(text, -1) {
		s := strings.ReplaceAll(m[3], ",", "")
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue
		}
		if m[2] == "-" {
			x = -x
		}
		pct := m[5] != ""
		if m[4] != "" {
			y, _ := strconv.ParseFloat(m[4], 64)
			out = append(out, mention{v: x}, mention{v: y})
			if y != 0 {
				out = append(out, mention{v: x / y, percent: pct})
			}
			continue
		}
		out = append(out, mention{v: x, percent: pct})
	}
	out = append(out, numberWords(text, lang)...)
	return out
}

// numberWords reads number words: "three", "twenty-five", "one hundred and
// twenty", "a dozen", "half"; and for other languages their words for 0–20,
// the tens and hundred/thousand.
func numberWords(text, lang string) []mention {
	table := englishNumbers
	if t, ok := languageNumbers[strings.ToLower(lang)]; ok {
		table = t
	}
	words := reWord.FindAllString(strings.ToLower(text), -1)
	var out []mention
	cur, total, have := 0.0, 0.0, false
	flush := func() {
		if have {
			out = append(out, mention{v: total + cur})
		}
		cur, total, have = 0, 0, false
	}
	for _, w := range words {
		if f, ok := table.fractions[w]; ok {
			out = append(out, mention{v: f})
			if have && cur > 0 {
				// "three quarters": 3 × 1/4
				out = append(out, mention{v: cur * f})
			}
			continue
		}
		if v, ok := table.units[w]; ok {
			cur += v
			have = true
			continue
		}
		if v, ok := table.scales[w]; ok {
			if !have {
				cur = 1
			}
			if v >= 1000 {
				total += cur * v
				cur = 0
			} else {
				cur *= v
			}
			have = true
			continue
		}
		if table.joiners[w] && have {
			continue
		}
		flush()
	}
	flush()
	return out
}

type numberTable struct {
	units     map[string]float64
	scales    map[string]float64
	fractions map[string]float64
	joiners   map[string]bool
}

var englishNumbers = numberTable{
	units: map[string]float64{
		"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
		"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
		"seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
		"sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
		"dozen": 12, "twice": 2, "double": 2, "triple": 3, "thrice": 3, "quadruple": 4, "pair": 2,
	},
	scales:    map[string]float64{"hundred": 100, "thousand": 1000, "million": 1e6, "billion": 1e9},
	fractions: map[string]float64{"half": 0.5, "halves": 0.5, "third": 1.0 / 3, "thirds": 1.0 / 3, "quarter": 0.25, "quarters": 0.25, "fourth": 0.25, "fourths": 0.25, "fifth": 0.2, "fifths": 0.2},
	joiners:   map[string]bool{"and": true, "a": true},
}

var languageNumbers = map[string]numberTable{
	"french": {
		units: map[string]float64{"zéro": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "neuf": 9,
			"dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16, "vingt": 20, "vingts": 20, "trente": 30,
			"quarante": 40, "cinquante": 50, "soixante": 60, "douzaine": 12},
		scales:    map[string]float64{"cent": 100, "cents": 100, "mille": 1000, "million": 1e6, "millions": 1e6},
		fractions: map[string]float64{"moitié": 0.5, "demi": 0.5, "demie": 0.5, "tiers": 1.0 / 3, "quart": 0.25, "quarts": 0.25},
		joiners:   map[string]bool{"et": true},
	},
	"spanish": {
		units: map[string]float64{"cero": 0, "uno": 1, "una": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
			"nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15, "dieciséis": 16, "diecisiete": 17,
			"dieciocho": 18, "diecinueve": 19, "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70,
			"ochenta": 80, "noventa": 90, "docena": 12},
		scales:    map[string]float64{"cien": 100, "ciento": 100, "mil": 1000, "millón": 1e6},
		fractions: map[string]float64{"mitad": 0.5, "medio": 0.5, "media": 0.5, "tercio": 1.0 / 3, "cuarto": 0.25},
		joiners:   map[string]bool{"y": true},
	},
	"german": {
		units: map[string]float64{"null": 0, "eins": 1, "ein": 1, "eine": 1, "einen": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6,
			"sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "zwanzig": 20, "dreißig": 30, "vierzig": 40,
			"fünfzig": 50, "sechzig": 60, "siebzig": 70, "achtzig": 80, "neunzig": 90, "dutzend": 12},
		scales:    map[string]float64{"hundert": 100, "tausend": 1000},
		fractions: map[string]float64{"halb": 0.5, "halbe": 0.5, "hälfte": 0.5, "drittel": 1.0 / 3, "viertel": 0.25},
		joiners:   map[string]bool{"und": true},
	},
}

// Languages lists the languages whose number words other_language checks
// know (besides English); digits are accepted in every language.
func Languages() []string {
	var out []string
	for k := range languageNumbers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func near(a, b float64) bool {
	if a == b {
		return true
	}
	d := math.Abs(a - b)
	return d <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) || d < 1e-12
}

// states reports whether the mentions include v: as itself (sign aside),
// as a percentage of it (0.15 as 15%), as v written with % (50% for 50),
// or scaled by one of scales (a unit change the style asked for).
func states(ms []mention, v float64, scales []float64) bool {
	av := math.Abs(v)
	for _, m := range ms {
		x := math.Abs(m.v)
		if near(x, av) || near(x, av*100) && m.percent || m.percent && near(x/100, av) {
			return true
		}
		for _, s := range scales {
			if near(x, av*s) {
				return true
			}
		}
	}
	return false
}

// given is a value of the program's input.
type given struct {
	path string // key.sub[2]
	num  *float64
	text string // a non-numeric string value
}

// givens flattens the input dict into its numeric and string leaves.
func givens(v any, path string, out []given) []given {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = givens(t[k], p, out)
		}
	case []any:
		for i, e := range t {
			out = givens(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	case int:
		f := float64(t)
		out = append(out, given{path: path, num: &f})
	case int64:
		f := float64(t)
		out = append(out, given{path: path, num: &f})
	case float64:
		out = append(out, given{path: path, num: &t})
	case string:
		if f, ok := parseNumber(t); ok {
			out = append(out, given{path: path, num: &f})
		} else if strings.TrimSpace(t) != "" {
			out = append(out, given{path: path, text: t})
		}
	}
	return out
}

var reFracStr = regexp.MustCompile(`^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*/\s*([0-9]+(?:\.[0-9]+)?)\s*$`)

// parseNumber reads "12", "-0.5", "3/4", "\frac{3}{4}", "1,200", "15%".
func parseNumber(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "$")
	t = strings.TrimSuffix(t, "$")
	pct := false
	if strings.HasSuffix(t, "%") {
		pct = true
		t = strings.TrimSuffix(strings.TrimSuffix(t, "%"), `\`)
	}
	scale := 1.0
	if pct {
		scale = 0.01
	}
	if f, err := strconv.ParseFloat(strings.ReplaceAll(t, ",", ""), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f * scale, true
	}
	if m := reFracStr.FindStringSubmatch(t); m != nil {
		a, _ := strconv.ParseFloat(m[1], 64)
		b, _ := strconv.ParseFloat(m[2], 64)
		if b != 0 {
			return a / b * scale, true
		}
	}
	if m := reLatexFrac.FindStringSubmatch(t); m != nil && m[0] == t {
		a, b := m[1], m[2]
		if a == "" {
			a, b = m[3], m[4]
		}
		x, _ := strconv.ParseFloat(a, 64)
		y, _ := strconv.ParseFloat(b, 64)
		if y != 0 {
			return x / y * scale, true
		}
	}
	return 0, false
}

// missingGivens returns the paths of the input values the problem does not
// state. Strings must appear (case-insensitively) unless numbersOnly.
func missingGivens(problem string, input any, lang string, scales []float64, numbersOnly bool) []string {
	ms := numbersIn(problem, lang)
	low := strings.ToLower(problem)
	var miss []string
	for _, g := range givens(input, "", nil) {
		switch {
		case g.num != nil:
			if !states(ms, *g.num, scales) {
				miss = append(miss, fmt.Sprintf("%s=%s", g.path, strconv.FormatFloat(*g.num, 'g', -1, 64)))
			}
		case !numbersOnly:
			if !strings.Contains(low, strings.ToLower(strings.TrimSpace(g.text))) {
				miss = append(miss, fmt.Sprintf("%s=%q", g.path, clip(g.text, 40)))
			}
		}
	}
	return miss
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// codeWords are words that name the program itself.
var codeWords = []string{"code", "python", "input", "output"}

var (
	reIdent     = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	reCodeToken = regexp.MustCompile(`(^|[^\\A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)`)
	reCamel     = regexp.MustCompile(`^[a-z]+[0-9]*[A-Z][A-Za-z0-9]*$`)
)

// isSnake: an underscore joins at least two parts with two or more letters
// (total_cost, max_len; not x_1 or a_n, which are math).
func isSnake(id string) bool {
	if !strings.Contains(strings.Trim(id, "_"), "_") {
		return false
	}
	long := 0
	for _, part := range strings.Split(id, "_") {
		letters := 0
		for _, r := range part {
			if unicode.IsLetter(r) {
				letters++
			}
		}
		if letters >= 2 {
			long++
		}
	}
	return long >= 2
}

func isCodeShaped(id string) bool { return isSnake(id) || reCamel.MatchString(id) }

// Words is an English word list (lower case).
type Words map[string]bool

// LoadWords reads a word list, one word a line (Debian's wamerican:
// /usr/share/dict/words).
func LoadWords(path string) (Words, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := Words{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s := strings.ToLower(strings.TrimSpace(sc.Text()))
		s = strings.TrimSuffix(s, "'s")
		if s != "" {
			w[s] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(w) < 1000 {
		return nil, fmt.Errorf("%s has only %d words: not a word list", path, len(w))
	}
	return w, nil
}

var (
	reTripleString = regexp.MustCompile(`(?s)""".*?"""|'''.*?'''`)
	reString       = regexp.MustCompile(`"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'`)
	reComment      = regexp.MustCompile(`#[^\n]*`)
)

// stripCommentsAndStrings removes docstrings, string literals and comments
// from Python code, so that only its identifiers remain as names.
func stripCommentsAndStrings(code string) string {
	code = reTripleString.ReplaceAllString(code, " ")
	code = reString.ReplaceAllString(code, " ")
	return reComment.ReplaceAllString(code, " ")
}

var (
	wordPrefixes = []string{"sub", "super", "re", "un", "non", "pre", "inter", "over", "under", "multi", "semi"}
	wordSuffixes = []string{"s", "es", "ed", "ing", "er", "ers", "ly"}
)

// ordinary reports whether id is an English word: in the list, or a word of
// the list with a common prefix or suffix (subsequence, reorders).
func (w Words) ordinary(id string) bool {
	low := strings.ToLower(id)
	if w[low] {
		return true
	}
	for _, p := range wordPrefixes {
		if rest, ok := strings.CutPrefix(low, p); ok && len(rest) >= 3 && (w[rest] || w.suffixed(rest)) {
			return true
		}
	}
	return w.suffixed(low)
}

func (w Words) suffixed(s string) bool {
	for _, x := range wordSuffixes {
		if rest, ok := strings.CutSuffix(s, x); ok && len(rest) >= 3 && w[rest] {
			return true
		}
	}
	return false
}

// codeMentions returns what in the problem names the program: the words
// code, Python, input and output; snake_case or camelCase tokens; and
// identifiers of the code that are not ordinary words (three letters or
// more: short names such as x, n or dp are how mathematics names things).
func codeMentions(problem, code string, words Words) []string {
	codeIDs := map[string]bool{}
	for _, id := range reIdent.FindAllString(stripCommentsAndStrings(code), -1) {
		if len(id) < 3 && !isCodeShaped(id) {
			continue
		}
		if isCodeShaped(id) || !words.ordinary(id) {
			codeIDs[id] = true
		}
	}
	var found []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			found = append(found, s)
		}
	}
	for _, m := range reCodeToken.FindAllStringSubmatch(problem, -1) {
		tok := m[2]
		low := strings.ToLower(tok)
		for _, w := range codeWords {
			if low == w {
				add(tok)
			}
		}
		switch {
		case isCodeShaped(tok):
			add(tok)
		case codeIDs[tok]:
			add(tok)
		}
	}
	return found
}

// answerLeak reports whether the problem contains the answer: a numeric
// answer among its numbers (integers below 10 exempt, and answers that are
// also a given), a non-numeric one as text (spaces ignored).
func answerLeak(problem string, answer any, input any, lang string) (string, bool) {
	var s string
	switch t := answer.(type) {
	case nil:
		return "", false
	case string:
		s = t
	case float64:
		s = strconv.FormatFloat(t, 'g', -1, 64)
	case int:
		s = strconv.Itoa(t)
	case int64:
		s = strconv.FormatInt(t, 10)
	case bool:
		return "", false
	default:
		s = fmt.Sprint(t)
	}
	gs := givens(input, "", nil)
	if v, ok := parseNumber(s); ok {
		if v == math.Trunc(v) && math.Abs(v) < 10 {
			return "", false
		}
		for _, g := range gs {
			if g.num != nil && near(math.Abs(*g.num), math.Abs(v)) {
				return "", false
			}
		}
		for _, m := range numbersIn(problem, lang) {
			if near(math.Abs(m.v), math.Abs(v)) || m.percent && near(m.v/100, v) {
				return s, true
			}
		}
		return "", false
	}
	compact := func(x string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, x)
	}
	a := compact(s)
	if len([]rune(a)) < 3 {
		return "", false
	}
	for _, g := range gs {
		if g.text != "" && compact(g.text) == a {
			return "", false
		}
	}
	if strings.Contains(compact(problem), a) {
		return s, true
	}
	return "", false
}
