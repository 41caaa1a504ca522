package minhash

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEstimateAccuracy checks that the fraction of equal signature values
// estimates the Jaccard similarity of random sets without bias.
func TestEstimateAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := NewPerms(128)
	a, b := make([]uint32, 128), make([]uint32, 128)
	for _, j := range []float64{0.2, 0.5, 0.8, 0.9, 1} {
		var sumErr, sumAbs float64
		const trials = 200
		for k := 0; k < trials; k++ {
			// |A∩B| = j*|A∪B| with |A∪B| = 200
			union := 200
			inter := int(j * float64(union))
			common := make([]uint64, inter)
			for i := range common {
				common[i] = r.Uint64()
			}
			sa, sb := slices.Clone(common), slices.Clone(common)
			for i := 0; i < union-inter; i++ {
				if i%2 == 0 {
					sa = append(sa, r.Uint64())
				} else {
					sb = append(sb, r.Uint64())
				}
			}
			Sign(p, a, sa)
			Sign(p, b, sb)
			eq := 0
			for i := range a {
				if a[i] == b[i] {
					eq++
				}
			}
			est := float64(eq) / 128
			sumErr += est - j
			sumAbs += math.Abs(est - j)
		}
		bias, mae := sumErr/trials, sumAbs/trials
		t.Logf("J=%.1f bias %+.4f mean abs error %.4f", j, bias, mae)
		if math.Abs(bias) > 0.01 || mae > 0.05 {
			t.Errorf("J=%.1f: bias %.4f, mean abs error %.4f", j, bias, mae)
		}
	}
}

// TestStable pins the permutations and shingling: a change invalidates
// every checkpointed index and against-file expectation, so it must be
// deliberate (bump the operator's Version).
func TestStable(t *testing.T) {
	h := Hasher{Perms: NewPerms(8), Shingle: Word, NGram: 2}
	sig := make([]uint32, 8)
	h.Sign(sig, h.Shingles([]byte("the quick brown fox")))
	keys := make([]uint32, 2)
	BandKeys(keys, sig, 4, 7)
	t.Logf("sig %v keys %v", sig, keys)
	if got := [...]uint32{sig[0], sig[7], keys[0], keys[1]}; got != stableWant {
		t.Errorf("signature changed: %v, pinned %v", got, stableWant)
	}
}

var stableWant = [4]uint32{1301090976, 39379748, 648809427, 3146001645}

func TestCodeShingles(t *testing.T) {
	h := Hasher{Perms: NewPerms(8), Shingle: Code, NGram: 3}
	set := func(s string) []uint64 {
		out := slices.Clone(h.Shingles([]byte(s)))
		slices.Sort(out)
		return out
	}
	tests := []struct {
		a, b string
		same bool
	}{
		{"total = a * b\nprint(total)", "s = x * y\nprint(s)", true},
		{"r = math.sqrt(x)", "r = math.log(x)", false},
		{"from math import sqrt\nr = sqrt(x)", "from math import log\nr = log(x)", false},
		{"r = len(x)", "r = abs(x)", false},
		{"x = 1  # one", "x = 1  # two", true},
		{"x = 1", "x = 2", false},
		{"r = a + b", "r = a - b", false},
	}
	for _, tc := range tests {
		if got := slices.Equal(set(tc.a), set(tc.b)); got != tc.same {
			t.Errorf("%q vs %q: same shingles %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestShortAndEmpty(t *testing.T) {
	for _, sh := range []Shingle{Word, Char, Code} {
		h := Hasher{Perms: NewPerms(8), Shingle: sh, NGram: 5}
		if n := len(h.Shingles(nil)); n != 0 {
			t.Errorf("shingle %d: %d shingles of empty text", sh, n)
		}
		if n := len(h.Shingles([]byte("ab"))); n != 1 {
			t.Errorf("shingle %d: %d shingles of a short text, want 1", sh, n)
		}
	}
	h := Hasher{Perms: NewPerms(8), Shingle: Char, NGram: 3}
	if n := len(h.Shingles([]byte("héllo"))); n != 3 {
		t.Errorf("char shingles of héllo: %d, want 3 (runes, not bytes)", n)
	}
}
