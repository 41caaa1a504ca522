package mathequiv

import (
	"strings"
	"unicode/utf8"
)

// Normalize turns a final answer into a canonical text, following the rules
// of the widely used Qwen math grader (strip_string) with a few deliberate
// differences (a percent sign is kept, so that the strict percent mode can
// see it; "and"/"or" between items become commas instead of vanishing):
//
//   - surrounding math delimiters ($, \( \), \[ \]), \boxed{...}, \left,
//     \right, \big..., \displaystyle and LaTeX spacing (\! \, \; \: \quad ~)
//     are removed;
//   - degree signs (^\circ, °), a trailing \text{unit} and trailing unit
//     words after a number ("5 cm", "12 dollars"), and a trailing period
//     are removed;
//   - \dfrac and \tfrac become \frac, \text{X} (and \textbf, \mathrm, \mbox...)
//     becomes X, bmatrix and array become pmatrix, \neq \leq \geq become
//     \ne \le \ge, \{ \} become { };
//   - a short left side such as "x =", "k=" or "AB =" is dropped;
//   - \frac12 becomes \frac{1}{2}, \sqrt2 becomes \sqrt{2}, an integer a/b
//     becomes \frac{a}{b}, "3 1/2" becomes 3\frac{1}{2};
//   - thousands separators (1,000,000 and 1{,}000) are removed, .5 becomes
//     0.5 and 2.000 becomes 2;
//   - infinity spellings (inf, infinity, ∞, +\infty) become \infty, and
//     (-\infty,\infty) becomes \mathbb{R};
//   - spaces are removed, except between a LaTeX command and a letter.
//
// Text stays in its case: comparisons are case-insensitive.
func Normalize(s string) string { return normalizeParts(s).full() }

// parts is a normalised answer split into its label ("x", "f(x)",
// "(p,q)"), its value and its unit ("cm", "m/s^2").
type parts struct {
	label, value, unit string
}

// full is the canonical text: label=value\text{ unit}. It parses back to
// the same parts, so normalising twice changes nothing and no label or unit
// is lost between the answer and consistency steps.
func (p parts) full() string {
	s := p.value
	if p.label != "" {
		s = p.label + "=" + s
	}
	if p.unit != "" {
		s += `\text{ ` + p.unit + `}`
	}
	return s
}

func normalizeParts(s string) parts {
	s = strings.TrimSpace(s)
	if s == "" {
		return parts{}
	}
	if isSimpleNumber(s) {
		return parts{value: canonicalNumber(s)}
	}
	s = halveBackslashes(s)
	s = replaceUnicode(s)
	if strings.IndexByte(s, '$') >= 0 {
		s = strings.ReplaceAll(s, `\$`, "")
		s = strings.ReplaceAll(s, "$", "")
	}
	if strings.IndexByte(s, '\\') >= 0 {
		s = latexCommands(s)
	}
	if strings.IndexByte(s, '~') >= 0 {
		s = strings.ReplaceAll(s, "~", " ")
	}
	s = trimTrailing(s)
	s = cutApprox(s)
	var unit string
	if strings.IndexByte(s, '\\') >= 0 {
		s, unit = stripTrailingTextUnit(s)
		if strings.Contains(s, `\text`) || strings.Contains(s, `\m`) || strings.Contains(s, `\b`) ||
			strings.Contains(s, `\operatorname`) || strings.Contains(s, `\hbox`) {
			for _, c := range []string{`\text`, `\textbf`, `\textit`, `\textrm`, `\textsf`, `\texttt`, `\textnormal`, `\mathrm`,
				`\mathbf`, `\mathit`, `\mathsf`, `\mathcal`, `\mbox`, `\operatorname`, `\boldsymbol`, `\bm`, `\hbox`} {
				s = unwrapCmd(s, c)
			}
		}
	}
	s = strings.ReplaceAll(s, "**", "^")
	s = wordsToSymbols(s)
	if unit == "" {
		s, unit = stripUnitWords(s)
	}
	s = trimTrailing(s)
	var label string
	s, label = dropShortLHS(s)
	s = decimalGroups(s)
	s = thousands(s)
	s = mixedNumber(s)
	s = fixFracSqrt(s)
	s = removeSpaces(s)
	s = infinity(s)
	s = intSlash(s)
	s = leadingZero(s)
	s = trailingZeros(s)
	s = singleBraces(s)
	s = stripOuterBraces(s)
	if len(s) > 1 && s[0] == '+' {
		s = s[1:]
	}
	if label != "" {
		label = removeSpaces(label)
	}
	return parts{label: label, value: s, unit: canonicalUnitText(unit)}
}

// halveBackslashes undoes doubled escaping (\\frac, \\left( from JSON
// or Python source): when every run of backslashes has an even length and
// one of them precedes a letter, each pair becomes one backslash.
func halveBackslashes(s string) string {
	if !strings.Contains(s, `\\`) {
		return s
	}
	cmd := false
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '\\' {
			j++
		}
		if (j-i)%2 == 1 {
			return s
		}
		if j-i == 2 && j < len(s) && isLetter(s[j]) {
			cmd = true
		}
		i = j
	}
	if !cmd {
		return s
	}
	return strings.ReplaceAll(s, `\\`, `\`)
}

// cutApprox keeps the exact part of an approximation chain:
// \frac{\sqrt3}{3} \approx 0.577 is \frac{\sqrt3}{3}. When the part
// before \approx is only a name (x \approx 0.577), the value after it is
// kept.
func cutApprox(s string) string {
	i := indexCmd(s, `\approx`)
	if i < 0 {
		return s
	}
	head := strings.TrimSpace(s[:i])
	if head == "" || isLabel(head) {
		return strings.TrimSpace(s[i+len(`\approx`):])
	}
	if eq := strings.LastIndexByte(head, '='); eq >= 0 && isLabel(strings.TrimSpace(head[:eq])) {
		return head
	}
	return head
}

// decimalGroups reads {,} as a thousands separator before exactly three
// digits and as a decimal comma otherwise.
func decimalGroups(s string) string {
	if !strings.Contains(s, "{,}") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "{,}") {
			j := i + 3
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k-j == 3 {
				i += 2
				continue
			}
			b.WriteByte(',')
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// latexCommands applies the normalisation steps about LaTeX commands.
func latexCommands(s string) string {
	s = unwrapCmd(s, `\boxed`)
	s = unwrapCmd(s, `\fbox`)
	s = strings.ReplaceAll(s, `\(`, "")
	s = strings.ReplaceAll(s, `\)`, "")
	s = strings.ReplaceAll(s, `\[`, "")
	s = strings.ReplaceAll(s, `\]`, "")
	s = rewriteCmds(s)
	if strings.Contains(s, "matrix") || strings.Contains(s, "array") {
		s = strings.ReplaceAll(s, "bmatrix", "pmatrix")
		s = strings.ReplaceAll(s, "vmatrix", "pmatrix")
		s = replaceArrayEnv(s)
	}
	// degrees
	for _, c := range []string{`^{\circ}`, `^\circ`, `{}^\circ`, `\circ`} {
		s = strings.ReplaceAll(s, c, "")
	}
	s = strings.ReplaceAll(s, `\%`, "%")
	return s
}

// cmdRewrites maps control words to their replacement.
var cmdRewrites = map[string]string{
	"left": "", "right": "", "bigl": "", "bigr": "", "Bigl": "", "Bigr": "", "biggl": "", "biggr": "",
	"Biggl": "", "Biggr": "", "big": "", "Big": "", "bigg": "", "Bigg": "", "displaystyle": "", "textstyle": "",
	"limits": "", "quad": " ", "qquad": " ",
	"dfrac": `\frac`, "tfrac": `\frac`, "cfrac": `\frac`, "dbinom": `\binom`, "tbinom": `\binom`,
	"neq": `\ne`, "leq": `\le`, "geq": `\ge`, "leqslant": `\le`, "geqslant": `\ge`, "lt": "<", "gt": ">",
	"varnothing": `\emptyset`, "infin": `\infty`, "degree": `\circ`, "lbrace": `\{`, "rbrace": `\}`,
	"dots": "", "ldots": "", "cdots": "",
}

// rewriteCmds applies cmdRewrites in one pass, drops \left. and \right.,
// and handles LaTeX spacing (\! \, \; \: \(space)), leaving \\ alone.
func rewriteCmds(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if !isLetter(s[i+1]) {
			switch s[i+1] {
			case '!':
			case ',':
				// \, between digit groups (1\,000) is a thousands separator
				if !groupAt(s, i+2, b.String()) {
					b.WriteByte(' ')
				}
			case ';', ':', ' ':
				b.WriteByte(' ')
			default:
				b.WriteString(s[i : i+2])
			}
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		word := s[i+1 : j]
		if r, ok := cmdRewrites[word]; ok {
			if (word == "left" || word == "right") && j < len(s) && s[j] == '.' {
				j++ // \left. is an invisible delimiter
			}
			b.WriteString(r)
		} else {
			b.WriteString(s[i:j])
		}
		i = j - 1
	}
	return b.String()
}

// groupAt reports whether a digit group separator sits here: the text
// written so far ends with a digit and s[i:] starts with exactly three
// digits.
func groupAt(s string, i int, written string) bool {
	if written == "" || !isDigit(written[len(written)-1]) {
		return false
	}
	if i+3 > len(s) || !isDigit(s[i]) || !isDigit(s[i+1]) || !isDigit(s[i+2]) {
		return false
	}
	return i+3 == len(s) || !isDigit(s[i+3])
}

// isSimpleNumber reports whether s is [-+]?digits[.digits] or [-+]?.digits.
func isSimpleNumber(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && s[len(s)-1] != '.'
}

// canonicalNumber drops a leading +, adds a leading 0 and removes an
// all-zero fraction.
func canonicalNumber(s string) string {
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s[0] == '.' {
		s = "0" + s
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		if strings.Trim(s[dot+1:], "0") == "" {
			s = s[:dot]
		}
	}
	if neg {
		return "-" + s
	}
	return s
}

var unicodeRepl = strings.NewReplacer(
	"\u2212", "-", "\u2013", "-", "\u00d7", `\times `, "\u00b7", `\cdot `, "\u22c5", `\cdot `,
	"\u00f7", `\div `, "\u03c0", `\pi `, "\u221e", `\infty `, "\u221a", `\sqrt`, "\u00b0", "",
	"\u2264", `\le `, "\u2265", `\ge `, "\u2260", `\ne `, "\u2205", `\emptyset `, "\u00a0", " ",
	"\u2009", `\,`, "\u202f", `\,`, "\u00bd", `\frac{1}{2}`, "\u00bc", `\frac{1}{4}`, "\u00be", `\frac{3}{4}`,
	"\u00b2", "^2", "\u00b3", "^3", "\u222a", `\cup `, "\u2229", `\cap `, "\u00b1", `\pm `,
	"\u2032", "'", "\u2018", "'", "\u2019", "'", "\u201c", `"`, "\u201d", `"`,
	"\n", " ", "\r", " ", "\t", " ", "\f", " ", "\v", " ",
)

func replaceUnicode(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v' {
			return unicodeRepl.Replace(s)
		}
	}
	return s
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// cmdAt reports whether the control word cmd (e.g. `\left`) starts at s[i]
// and is not the prefix of a longer control word.
func cmdAt(s string, i int, cmd string) bool {
	if !strings.HasPrefix(s[i:], cmd) {
		return false
	}
	j := i + len(cmd)
	return j >= len(s) || !isLetter(s[j]) || !isLetter(cmd[len(cmd)-1])
}

// removeCmd replaces each occurrence of the control word cmd with repl.
func removeCmd(s, cmd, repl string) string {
	if !strings.Contains(s, cmd) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' && cmdAt(s, i, cmd) {
			b.WriteString(repl)
			i += len(cmd)
			continue
		}
		if s[i] == '\\' && i+1 < len(s) && !isLetter(s[i+1]) {
			// a control symbol such as \\ or \{: copy both bytes
			b.WriteString(s[i : i+2])
			i += 2
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// matchBrace returns the index of the brace closing the one at s[open], or -1.
func matchBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip escaped characters such as \{ and \}
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// unwrapCmd replaces every \cmd{X} with X, and drops a \cmd written
// without braces (\boxed 5).
func unwrapCmd(s, cmd string) string {
	if !strings.Contains(s, cmd) {
		return s
	}
	for guard := 0; guard < 64; guard++ {
		i := indexCmd(s, cmd)
		if i < 0 {
			return s
		}
		j := i + len(cmd)
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j >= len(s) || s[j] != '{' {
			// \boxed 5 and the like: drop the command
			s = s[:i] + s[i+len(cmd):]
			continue
		}
		end := matchBrace(s, j)
		if end < 0 {
			return s
		}
		s = s[:i] + s[j+1:end] + s[end+1:]
	}
	return s
}

// indexCmd finds the control word cmd in s.
func indexCmd(s, cmd string) int {
	off := 0
	for {
		k := strings.Index(s[off:], cmd)
		if k < 0 {
			return -1
		}
		if cmdAt(s, off+k, cmd) {
			return off + k
		}
		off += k + 1
	}
}

func replaceArrayEnv(s string) string {
	for {
		i := strings.Index(s, `\begin{array}`)
		if i < 0 {
			break
		}
		j := i + len(`\begin{array}`)
		if j < len(s) && s[j] == '{' {
			if e := matchBrace(s, j); e >= 0 {
				j = e + 1
			}
		}
		s = s[:i] + `\begin{pmatrix}` + s[j:]
	}
	return strings.ReplaceAll(s, `\end{array}`, `\end{pmatrix}`)
}

// trimTrailing removes trailing spaces, periods and a trailing \\.
func trimTrailing(s string) string {
	for {
		t := strings.TrimRight(s, " .")
		t = strings.TrimSuffix(t, `\\`)
		if t == s {
			return strings.TrimLeft(s, " ")
		}
		s = t
	}
}

var unitCmds = []string{`\text`, `\mbox`, `\mathrm`, `\textrm`, `\textnormal`}

// stripTrailingTextUnit removes a \text{...} (or \mbox, \mathrm) at the end of
// s, possibly raised to a power, when a value precedes it, and returns the
// unit it removed.
func stripTrailingTextUnit(s string) (string, string) {
	for _, cmd := range unitCmds {
		i := strings.LastIndex(s, cmd+"{")
		if i <= 0 {
			continue
		}
		end := matchBrace(s, i+len(cmd))
		if end < 0 {
			continue
		}
		rest := strings.TrimSpace(s[end+1:])
		if rest != "" && !isPowerSuffix(rest) {
			continue
		}
		inner := s[i+len(cmd)+1 : end]
		if !isUnitText(inner) {
			continue
		}
		head := strings.TrimSpace(s[:i])
		if head == "" || !hasDigitOrValue(head) {
			continue
		}
		// units written in several pieces: \mathrm{m}/\mathrm{s}^2
		unit := inner + rest
		for {
			h, u, ok := unitPieceBefore(head)
			if !ok {
				break
			}
			head, unit = h, u+unit
		}
		return head, unit
	}
	return s, ""
}

// unitPieceBefore splits a trailing "\mathrm{m}/" or "\text{kg}\cdot" off
// head.
func unitPieceBefore(head string) (string, string, bool) {
	sep := ""
	t := strings.TrimSpace(head)
	switch {
	case strings.HasSuffix(t, "/"):
		sep, t = "/", strings.TrimSpace(t[:len(t)-1])
	case strings.HasSuffix(t, `\cdot`):
		sep, t = " ", strings.TrimSpace(t[:len(t)-len(`\cdot`)])
	}
	for _, cmd := range unitCmds {
		i := strings.LastIndex(t, cmd+"{")
		if i <= 0 {
			continue
		}
		end := matchBrace(t, i+len(cmd))
		if end < 0 {
			continue
		}
		rest := strings.TrimSpace(t[end+1:])
		if rest != "" && !isPowerSuffix(rest) {
			continue
		}
		inner := t[i+len(cmd)+1 : end]
		h := strings.TrimSpace(t[:i])
		if !isUnitText(inner) || !hasDigitOrValue(h) {
			continue
		}
		return h, inner + rest + sep, true
	}
	return head, "", false
}

func isPowerSuffix(s string) bool {
	if !strings.HasPrefix(s, "^") {
		return false
	}
	t := strings.Trim(s[1:], "{}")
	t = strings.TrimPrefix(t, "-")
	return t != "" && allDigits(t)
}

// isUnitText reports whether the text inside \text{} looks like a unit:
// letters, spaces, periods, slashes and powers, without digits.
func isUnitText(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	letters := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c):
			letters++
		case c == ' ' || c == '.' || c == '/' || c == '^' || isDigit(c) || c == '-' || c == '\\' || c == '{' || c == '}' || c == '(' || c == ')':
		default:
			if c < utf8.RuneSelf {
				return false
			}
		}
	}
	if !isLetter(s[0]) && s[0] < utf8.RuneSelf && s[0] != '\\' {
		return false
	}
	return letters > 0
}

// hasDigitOrValue reports whether s holds a digit or a constant such as \pi.
func hasDigitOrValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return strings.Contains(s, `\pi`) || strings.Contains(s, `\sqrt`) || strings.Contains(s, `\frac`)
}

// wordsToSymbols turns "percent" into %, and " and "/" or " between items
// into commas.
func wordsToSymbols(s string) string {
	if strings.Contains(s, "percent") {
		s = strings.ReplaceAll(s, " percent", "%")
		s = strings.ReplaceAll(s, "percent", "%")
	}
	if strings.Contains(s, " and ") {
		s = strings.ReplaceAll(s, " and ", ",")
	}
	if strings.Contains(s, " or ") {
		s = strings.ReplaceAll(s, " or ", ",")
	}
	return s
}

// shortUnits are one-letter units accepted after a number ("5 m").
var shortUnits = map[string]bool{"m": true, "g": true, "s": true, "l": true, "L": true, "h": true, "K": true, "J": true, "N": true, "W": true, "V": true, "A": false}

// stripUnitWords removes trailing words after a number: "5 cm", "12 square
// units", "3.5 m^2".
func stripUnitWords(s string) (string, string) {
	if !strings.Contains(s, " ") {
		return s, ""
	}
	words := strings.Fields(s)
	n := len(words)
	for n > 1 && isUnitWord(words[n-1]) {
		n--
	}
	if n == len(words) {
		return s, ""
	}
	head := strings.Join(words[:n], " ")
	if !hasDigitOrValue(head) {
		return s, ""
	}
	last := head[len(head)-1]
	if !isDigit(last) && last != '}' && last != ')' && last != '%' && !isLetter(last) {
		return s, ""
	}
	if isLetter(last) && !strings.HasSuffix(head, `\pi`) {
		return s, ""
	}
	return head, strings.Join(words[n:], " ")
}

func isUnitWord(w string) bool {
	w = strings.TrimSuffix(w, ".")
	if k := strings.IndexByte(w, '^'); k > 0 && isPowerSuffix(w[k:]) {
		w = w[:k]
	}
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !isLetter(w[i]) && w[i] != '/' {
			return false
		}
	}
	switch w {
	case "pi", "e", "i", "inf", "infinity":
		return false
	}
	if len(w) == 1 {
		return shortUnits[w]
	}
	return true
}

// dropShortLHS removes a label before the only "=" ("x =", "f(x) =",
// "(p,q) =", "AB =") and returns it; "x \in" and "n \to" are dropped
// without a label.
func dropShortLHS(s string) (string, string) {
	// x \in S, n \to ...
	if len(s) > 2 && isLetter(s[0]) {
		j := 1
		for j < len(s) && s[j] == ' ' {
			j++
		}
		for _, p := range []string{`\in`, `\to`} {
			if strings.HasPrefix(s[j:], p) && cmdAt(s, j, p) {
				return strings.TrimSpace(s[j+len(p):]), ""
			}
		}
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 || strings.IndexByte(s[eq+1:], '=') >= 0 {
		return s, ""
	}
	lhs := strings.TrimSpace(s[:eq])
	if eq > 0 && (s[eq-1] == '<' || s[eq-1] == '>' || s[eq-1] == '!') {
		return s, ""
	}
	rhs := strings.TrimSpace(s[eq+1:])
	if rhs == "" || strings.ContainsAny(rhs, "<>") {
		return s, ""
	}
	if isLabel(lhs) {
		return rhs, lhs
	}
	return s, ""
}

// isLabel reports whether s names the answer: a short name (x, AB, a_1,
// \theta), a function f(x) of names, or a tuple of names (p,q).
func isLabel(s string) bool {
	s = strings.TrimSpace(s)
	switch s {
	case `\pi`, "e", "i", `\infty`:
		return false // constants, not names
	}
	if isName(s) {
		return true
	}
	if len(s) < 3 || s[len(s)-1] != ')' {
		return false
	}
	open := strings.IndexByte(s, '(')
	if open < 0 || (open > 0 && !isName(strings.TrimSpace(s[:open]))) {
		return false
	}
	for _, a := range strings.Split(s[open+1:len(s)-1], ",") {
		if !isName(strings.TrimSpace(a)) {
			return false
		}
	}
	return true
}

// isName reports whether s is a short name: x, AB, y', a_1, x_{12}, \theta.
func isName(s string) bool {
	if s == "" {
		return false
	}
	if len(s) <= 2 {
		for i := 0; i < len(s); i++ {
			if !isLetter(s[i]) && s[i] != '\'' && !(i > 0 && isDigit(s[i])) {
				return false
			}
		}
		return true
	}
	i := 0
	if s[0] == '\\' {
		i = 1
	}
	start := i
	for i < len(s) && isLetter(s[i]) {
		i++
	}
	if i == start || (start == 0 && i-start > 2) {
		return false
	}
	if i < len(s) && s[i] == '_' {
		i++
		if i < len(s) && s[i] == '{' {
			e := matchBrace(s, i)
			if e < 0 {
				return false
			}
			i = e + 1
		} else if i < len(s) {
			i++
		}
	}
	for i < len(s) && s[i] == '\'' {
		i++
	}
	return i == len(s)
}

// thousands removes thousands separators when the whole answer is a number
// written with them: 1,000,000 and -12,345.5.
func thousands(s string) string {
	if !strings.Contains(s, ",") {
		return s
	}
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		i++
	}
	start := i
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	if i == start || i-start > 3 {
		return s
	}
	groups := 0
	for i < len(t) && t[i] == ',' {
		if i+4 > len(t) || !isDigit(t[i+1]) || !isDigit(t[i+2]) || !isDigit(t[i+3]) || (i+4 < len(t) && isDigit(t[i+4])) {
			return s
		}
		i += 4
		groups++
	}
	if groups == 0 {
		return s
	}
	rest := t[i:]
	if rest != "" && rest != "%" {
		if rest[0] != '.' {
			return s
		}
		for j := 1; j < len(rest); j++ {
			if !isDigit(rest[j]) && !(rest[j] == '%' && j == len(rest)-1) {
				return s
			}
		}
	}
	return strings.ReplaceAll(t, ",", "")
}

// mixedNumber turns "3 1/2" into 3\frac{1}{2}.
func mixedNumber(s string) string {
	if !strings.Contains(s, " ") {
		return s
	}
	f := strings.Fields(s)
	if len(f) == 3 && (f[0] == "+" || f[0] == "-") {
		f = []string{f[0] + f[1], f[2]}
	}
	if len(f) != 2 {
		return s
	}
	whole, frac := f[0], f[1]
	w := whole
	if w[0] == '-' || w[0] == '+' {
		w = w[1:]
	}
	if !allDigits(w) {
		return s
	}
	pct := ""
	if strings.HasSuffix(frac, "%") {
		frac, pct = frac[:len(frac)-1], "%"
	}
	sl := strings.IndexByte(frac, '/')
	if sl <= 0 || !allDigits(frac[:sl]) || !allDigits(frac[sl+1:]) {
		return s
	}
	if pct != "" {
		return "(" + whole + `\frac{` + frac[:sl] + "}{" + frac[sl+1:] + "})%"
	}
	return whole + `\frac{` + frac[:sl] + "}{" + frac[sl+1:] + "}"
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// fixFracSqrt adds braces to \frac and \sqrt arguments written without
// them: \frac12 → \frac{1}{2}, \frac1{72}, \sqrt2 → \sqrt{2}, \sqrt x.
func fixFracSqrt(s string) string {
	if !strings.Contains(s, `\frac`) && !strings.Contains(s, `\sqrt`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\\' && cmdAt(s, i, `\frac`):
			b.WriteString(`\frac`)
			i += len(`\frac`)
			for k := 0; k < 2; k++ {
				i = copyArg(&b, s, i)
			}
		case s[i] == '\\' && cmdAt(s, i, `\sqrt`):
			b.WriteString(`\sqrt`)
			i += len(`\sqrt`)
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i < len(s) && s[i] == '[' {
				e := strings.IndexByte(s[i:], ']')
				if e > 0 {
					b.WriteString(s[i : i+e+1])
					i += e + 1
				}
			}
			i = copyArg(&b, s, i)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// copyArg copies one macro argument starting at s[i] (after spaces), adding
// braces around a single-character argument.
func copyArg(b *strings.Builder, s string, i int) int {
	j := i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j >= len(s) {
		return j
	}
	if s[j] == '{' {
		e := matchBrace(s, j)
		if e < 0 {
			b.WriteString(s[j:])
			return len(s)
		}
		b.WriteString(fixFracSqrt(s[j : e+1]))
		return e + 1
	}
	if s[j] == '\\' {
		// a command argument such as \frac\pi2
		k := j + 1
		for k < len(s) && isLetter(s[k]) {
			k++
		}
		if k == j+1 && k < len(s) {
			k++
		}
		b.WriteByte('{')
		b.WriteString(s[j:k])
		b.WriteByte('}')
		return k
	}
	if isDigit(s[j]) || isLetter(s[j]) {
		b.WriteByte('{')
		b.WriteByte(s[j])
		b.WriteByte('}')
		return j + 1
	}
	return j
}

// removeSpaces drops spaces, except one between a control word and a
// following letter (\pi r).
func removeSpaces(s string) string {
	if !strings.Contains(s, " ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	inCmd := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			j := i
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if inCmd && j < len(s) && isLetter(s[j]) {
				b.WriteByte(' ')
			} else if i > 0 && j < len(s) && isDigit(s[j]) && (isDigit(s[i-1]) || s[i-1] == ',' && i > 1 && isDigit(s[i-2])) {
				// "1 000" is not a number and "32, 349" is a list, not
				// 32349: keep one space between digits
				b.WriteByte(' ')
			}
			i = j - 1
			inCmd = false
			continue
		}
		switch {
		case c == '\\':
			inCmd = i+1 < len(s) && isLetter(s[i+1])
		case isLetter(c):
		default:
			inCmd = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// infinity unifies the spellings of infinity.
func infinity(s string) string {
	if strings.Contains(s, "inf") || strings.Contains(s, "Inf") {
		low := strings.ToLower(s)
		if low == "infinity" || low == "inf" || low == "+infinity" || low == "+inf" {
			return `\infty`
		}
		if low == "-infinity" || low == "-inf" {
			return `-\infty`
		}
		if !strings.Contains(s, `\infty`) {
			s = strings.ReplaceAll(s, "infinity", `\infty`)
			if !strings.Contains(s, `\infty`) {
				s = replaceWord(s, "inf", `\infty`)
			}
		}
	}
	if strings.Contains(s, `\infty`) {
		s = strings.ReplaceAll(s, `+\infty`, `\infty`)
		if strings.Contains(s, `,\infty`) {
			s = strings.ReplaceAll(s, `(-\infty,\infty)`, `\mathbb{R}`)
		}
	}
	return s
}

// replaceWord replaces w where it is not part of a longer word.
func replaceWord(s, w, repl string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], w) && (i == 0 || !isLetter(s[i-1]) && s[i-1] != '\\') &&
			(i+len(w) == len(s) || !isLetter(s[i+len(w)])) {
			b.WriteString(repl)
			i += len(w)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// intSlash turns an answer "a/b" of integers into \frac{a}{b}.
func intSlash(s string) string {
	sl := strings.IndexByte(s, '/')
	if sl <= 0 {
		return s
	}
	a, b := s[:sl], s[sl+1:]
	neg := ""
	if a[0] == '-' {
		neg, a = "-", a[1:]
	}
	if !allDigits(a) || !allDigits(b) {
		return s
	}
	return neg + `\frac{` + a + "}{" + b + "}"
}

// leadingZero turns .5 into 0.5 where the dot does not follow a digit.
func leadingZero(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '.' && i+1 < len(s) && isDigit(s[i+1]) && (i == 0 || !isDigit(s[i-1])) {
			b.WriteByte('0')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// trailingZeros turns 2.000 into 2 where the fraction is all zeros.
func trailingZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '.' && i > 0 && isDigit(s[i-1]) {
			j := i + 1
			for j < len(s) && s[j] == '0' {
				j++
			}
			if j > i+1 && (j == len(s) || !isDigit(s[j])) {
				i = j - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// singleBraces writes ^{2} and _{1} as ^2 and _1: braces around one digit
// or letter change nothing.
func singleBraces(s string) string {
	if !strings.Contains(s, "^{") && !strings.Contains(s, "_{") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if (s[i] == '^' || s[i] == '_') && i+3 < len(s) && s[i+1] == '{' && s[i+3] == '}' && (isDigit(s[i+2]) || isLetter(s[i+2])) &&
			!(i > 0 && s[i-1] == '\\') {
			b.WriteByte(s[i])
			b.WriteByte(s[i+2])
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// stripOuterBraces removes braces around the whole answer: {5} → 5, when the
// inside holds no top-level comma (a set).
func stripOuterBraces(s string) string {
	for len(s) >= 2 && s[0] == '{' && matchBrace(s, 0) == len(s)-1 {
		inner := s[1 : len(s)-1]
		if topLevelIndex(inner, ',') >= 0 {
			return s
		}
		s = inner
	}
	return s
}

// topLevelIndex returns the first index of c outside brackets, or -1.
func topLevelIndex(s string, c byte) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		default:
			if s[i] == c && depth == 0 {
				return i
			}
		}
	}
	return -1
}
