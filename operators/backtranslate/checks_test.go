package backtranslate

import (
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/op"
)

func words(t *testing.T) Words {
	t.Helper()
	w, err := LoadWordsCached(DefaultWords)
	if err != nil {
		t.Fatalf("%v (install Debian's wamerican: .ci/deps)", err)
	}
	return w
}

func TestGivens(t *testing.T) {
	cases := []struct {
		name, problem, input, lang string
		scales                     []float64
		numbersOnly                bool
		missing                    string // "" when every given is stated
	}{
		{"digits", "Tom buys 7 muffins at $3 each and 12 cookies at $1.25 each.", `{"muffins": 7, "price": 3, "cookies": 12, "cookie_price": 1.25}`, "", nil, false, ""},
		{"a given missing", "Tom buys 7 muffins at $3 each and some cookies at $1.25 each.", `{"muffins": 7, "price": 3, "cookies": 12, "cookie_price": 1.25}`, "", nil, false, "cookies=12"},
		{"number words", "Seven friends share twenty-five apples and a dozen pears.", `{"friends": 7, "apples": 25, "pears": 12}`, "", nil, false, ""},
		{"hundred and", "A farm has one hundred and twenty cows and two thousand three hundred hens.", `{"cows": 120, "hens": 2300}`, "", nil, false, ""},
		{"thousands separator", "The school has 1,200 students.", `{"students": 1200}`, "", nil, false, ""},
		{"slash fraction", "A recipe needs 3/4 cup of sugar for 12 cookies.", `{"sugar": "3/4", "cookies": 12}`, "", nil, false, ""},
		{"latex fraction", `A recipe needs $\frac{3}{4}$ cup of sugar for 12 cookies.`, `{"sugar": 0.75, "cookies": 12}`, "", nil, false, ""},
		{"half as a decimal", "Half of the 40 students walk.", `{"share": 0.5, "students": 40}`, "", nil, false, ""},
		{"percent of a fraction", "A coat costs $80. It is discounted by 15%.", `{"price": 80, "discount": 0.15}`, "", nil, false, ""},
		{"percent as written", "A coat costs $80. It is discounted by 25 percent.", `{"price": 80, "discount_percent": 25}`, "", nil, false, ""},
		{"fraction as percent", "50% of the 40 students walk.", `{"share": "1/2", "students": 40}`, "", nil, false, ""},
		{"rounded is not stated", "A circle has radius 3.14.", `{"r": 3.14159}`, "", nil, false, "r=3.14159"},
		{"unit change by scale", "A rope is 250 cm long.", `{"length_m": 2.5}`, "", []float64{100}, false, ""},
		{"unit change not asked", "A rope is 250 cm long.", `{"length_m": 2.5}`, "", nil, false, "length_m=2.5"},
		{"list", "The numbers 10, 9, 2, 5 and 3 are given.", `{"seq": [10, 9, 2, 5, 3]}`, "", nil, false, ""},
		{"list element missing", "The numbers 10, 9, 2 and 5 are given.", `{"seq": [10, 9, 2, 5, 3]}`, "", nil, false, "seq[4]=3"},
		{"string", "How many times does the letter s occur in MISSISSIPPI?", `{"word": "Mississippi", "letter": "s"}`, "", nil, false, ""},
		{"string missing", "How many times does the letter s occur in a long river name?", `{"word": "Mississippi", "letter": "s"}`, "", nil, false, `word="Mississippi"`},
		{"negative", "The temperature falls from 5 to -3 degrees.", `{"start": 5, "end": -3}`, "", nil, false, ""},
		{"french words", "Marie achète sept pommes et vingt poires.", `{"apples": 7, "pears": 20}`, "french", nil, true, ""},
		{"french digits", "Marie achète 7 pommes et 20 poires.", `{"apples": 7, "pears": 20}`, "french", nil, true, ""},
		{"french missing", "Marie achète sept pommes et des poires.", `{"apples": 7, "pears": 20}`, "french", nil, true, "pears=20"},
		{"spanish words", "Ana tiene doce lápices y cuarenta hojas.", `{"pencils": 12, "sheets": 40}`, "spanish", nil, true, ""},
		{"german words", "Max hat drei Äpfel und zwölf Birnen.", `{"apples": 3, "pears": 12}`, "german", nil, true, ""},
		{"other language skips strings", "Combien de fois la lettre s apparaît-elle?", `{"letter": "s", "word": "Mississippi"}`, "french", nil, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			miss := missingGivens(tc.problem, op.DecodeJSON(tc.input), tc.lang, tc.scales, tc.numbersOnly)
			if got := strings.Join(miss, ", "); got != tc.missing {
				t.Errorf("missing %q, want %q", got, tc.missing)
			}
		})
	}
}

func TestCodeMentions(t *testing.T) {
	w := words(t)
	code := "input = {\"muffins\": 7, \"muffin_price\": 3}\nmuffins = input[\"muffins\"]\nmuffin_price = input[\"muffin_price\"]\ncnt = 0\ntotalCost = muffins * muffin_price\n# the zzyzx rule\nlabel = \"zzyzx\"\nsubsequence = reorders = 1\n\"\"\"qqxv docstring\"\"\"\noutput = totalCost\n"
	cases := []struct{ name, problem, want string }{
		{"clean", "Tom buys 7 muffins at $3 each. How much does he pay?", ""},
		{"math subscripts are not code", "Let $a_n$ be a sequence with $x_1 = 3$ and $a_{n+1} = 2a_n$. Find $\\frac{a_5}{x_1}$.", ""},
		{"the word code", "The following code computes a price. Tom buys 7 muffins.", "code"},
		{"python", "Write it in Python: Tom buys 7 muffins.", "Python"},
		{"input and output", "Given the input 7, what is the output?", "input, output"},
		{"snake_case from the code", "Tom buys 7 muffins; muffin_price is $3.", "muffin_price"},
		{"snake_case not in the code", "Tom buys 7 muffins at unit_cost $3.", "unit_cost"},
		{"camelCase", "Find totalCost for 7 muffins.", "totalCost"},
		{"identifier that is no word", "Tom buys 7 muffins; let cnt be the count.", "cnt"},
		{"identifier that is a word", "Tom buys 7 muffins; count the muffins.", ""},
		{"latex commands are not code", "Compute $\\binom{7}{2}$ and $\\sqrt{muffins}$.", ""},
		{"comments and strings are not names", "Find the longest subsequence; use the zzyzx rule.", ""},
		{"a list word with a prefix is ordinary", "Tom reorders 7 muffins into a subsequence.", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(codeMentions(tc.problem, code, w), ", "); got != tc.want {
				t.Errorf("found %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAnswerLeak(t *testing.T) {
	cases := []struct {
		name, problem string
		answer        any
		input         string
		leak          bool
	}{
		{"clean", "Tom buys 7 muffins at $3 each and 12 cookies. How much does he pay?", 36, `{"m": 7, "p": 3, "c": 12}`, false},
		{"leaks", "Tom pays $36 for 7 muffins at $3 and 12 cookies. Check the total.", 36, `{"m": 7, "p": 3, "c": 12}`, true},
		{"leak as a word", "Tom pays thirty-six dollars for 7 muffins and 12 cookies.", 36, `{"m": 7, "c": 12}`, true},
		{"small integers are exempt", "Pick 2 of 4 balls; there are 6 ways.", 6, `{"n": 4, "k": 2}`, false},
		{"answer that is a given", "Of 12 eggs, 12 are white. How many are white?", 12, `{"eggs": 12}`, false},
		{"fraction answer leaks", `A tank fills in 6 h and drains in 10 h; it fills in $\frac{15}{1}$ hours.`, "15", `{"f": 6, "d": 10}`, true},
		{"latex answer leaks", `The area of a circle of radius 5 is $25\pi$.`, `25\pi`, `{"r": 5}`, true},
		{"latex answer not there", `Find the area of a circle of radius 5.`, `25\pi`, `{"r": 5}`, false},
		{"float answer", "A rate of 2.5 km per hour for 4 hours gives 10.0 km.", 10.0, `{"rate": 2.5, "h": 4}`, true},
		{"fraction string", `Sugar for 30 cookies: $\frac{15}{8}$ cups.`, `\frac{15}{8}`, `{"sugar": "3/4", "cookies": 12, "target": 30}`, true},
		{"null answer", "Anything 42.", nil, `{}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, leak := answerLeak(tc.problem, tc.answer, op.DecodeJSON(tc.input), "")
			if leak != tc.leak {
				t.Errorf("leak = %v, want %v", leak, tc.leak)
			}
		})
	}
}
