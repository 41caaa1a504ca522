package dedup_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/caco-dev/caco/operators/dedup/internal/gen"
	"github.com/caco-dev/caco/operators/dedup/internal/minhash"
	"github.com/caco-dev/caco/operators/dedup/internal/norm"
)

// labelled is a row with the variant that made it ("" for a base program).
type labelled struct {
	row
	kind string
}

// qualityCorpus has base programs followed, in a shuffled order, by variants:
// near-duplicates by design (rename, comment, reorder, spacing and their
// combination), non-duplicates by design (changed constants), and edits whose
// similarity falls on either side of the threshold.
func qualityCorpus(nBase int) []labelled {
	g := gen.New(2025)
	var out []labelled
	var variants []labelled
	for i := 0; i < nBase; i++ {
		p := g.Program()
		out = append(out, labelled{row{fmt.Sprintf("p%d", i), str(p.Render())}, ""})
		add := func(kind string, q *gen.Program) {
			variants = append(variants, labelled{row{fmt.Sprintf("p%d-%s", i, kind), str(q.Render())}, kind})
		}
		add("rename", g.Rename(p))
		add("comment", g.Recomment(p))
		add("reorder", g.Reorder(p))
		add("mixed", g.Loosen(g.Reorder(g.Recomment(g.Rename(p)))))
		add("const", g.Reconst(p))
		add("edit", g.Edit(p))
		add("drop", g.Drop(p))
	}
	r := g.Rand()
	r.Shuffle(len(variants), func(i, j int) { variants[i], variants[j] = variants[j], variants[i] })
	// Interleave so that variants also precede some of their bases.
	mixed := append(out[:nBase/2:nBase/2], variants[:len(variants)/2]...)
	mixed = append(mixed, out[nBase/2:]...)
	return append(mixed, variants[len(variants)/2:]...)
}

// shingleSet is the exact shingle set the operator hashes, and its gate.
func shingleSet(z *norm.Normalizer, h *minhash.Hasher, s string) ([]uint64, uint32) {
	b := z.Append(nil, s)
	set := slices.Clone(h.Shingles(b))
	slices.Sort(set)
	return slices.Compact(set), norm.NumbersHash(b)
}

func jaccard(a, b []uint64) float64 {
	inter, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	union := len(a) + len(b) - inter
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// TestQualityAgainstBruteForce compares the operator's decisions with a
// brute-force dedup over exact Jaccard similarities (same first-kept rule,
// same shingles and number gate) on constructed data.
func TestQualityAgainstBruteForce(t *testing.T) {
	rows := qualityCorpus(150)
	plain := make([]row, len(rows))
	for i, r := range rows {
		plain[i] = r.row
	}
	tests := []struct {
		name      string
		mode      norm.Mode
		shingle   minhash.Shingle
		ngram     int
		threshold float64
		cfg       string
	}{
		{"code", norm.Code, minhash.Code, 5, 0.8, "normalize: code\nshingle: code\n"},
		{"text words", norm.Text, minhash.Word, 3, 0.7, "normalize: text\nshingle: word\nngram: 3\n"},
		{"chars", norm.Whitespace, minhash.Char, 5, 0.85, "normalize: whitespace\nshingle: char\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, fmt.Sprintf("key: code\nid: id\nthreshold: %v\n%s", tc.threshold, tc.cfg), plain, 256, 0)
			z := &norm.Normalizer{Mode: tc.mode}
			h := &minhash.Hasher{Perms: minhash.NewPerms(128), Shingle: tc.shingle, NGram: tc.ngram}
			sets := make([][]uint64, len(rows))
			gates := make([]uint32, len(rows))
			for i, r := range rows {
				sets[i], gates[i] = shingleSet(z, h, *r.Code)
			}
			ref := bruteForce(t, rows, sets, gates, tc.threshold)
			tp := 0
			for id := range got.Dropped {
				if ref[id] {
					tp++
				}
			}
			precision := float64(tp) / float64(len(got.Dropped))
			recall := float64(tp) / float64(len(ref))
			t.Logf("rows %d: brute force drops %d, operator drops %d; precision %.3f recall %.3f", len(rows), len(ref), len(got.Dropped), precision, recall)
			if precision < 0.97 || recall < 0.93 {
				t.Errorf("precision %.3f (want >= 0.97), recall %.3f (want >= 0.93)", precision, recall)
			}
			if tc.shingle == minhash.Code {
				checkDesign(t, rows, got)
			}
		})
	}
}

// bruteForce returns the ids a dedup over exact Jaccard drops: a row is a
// duplicate when an earlier kept row has the same numbers and a similarity
// >= threshold.
func bruteForce(t *testing.T, rows []labelled, sets [][]uint64, gates []uint32, threshold float64) map[string]bool {
	ref := map[string]bool{}
	var kept []int
	simByKind := map[string][]float64{}
	base := map[string]int{}
	for i, r := range rows {
		if r.kind == "" {
			base[r.ID] = i
		}
	}
	for i, r := range rows {
		dup := false
		for _, k := range kept {
			if gates[k] == gates[i] && jaccard(sets[k], sets[i]) >= threshold {
				dup = true
				break
			}
		}
		if dup {
			ref[r.ID] = true
		} else {
			kept = append(kept, i)
		}
		if r.kind != "" {
			b := base[strings.SplitN(r.ID, "-", 2)[0]]
			simByKind[r.kind] = append(simByKind[r.kind], jaccard(sets[b], sets[i]))
		}
	}
	for _, kind := range []string{"rename", "comment", "reorder", "mixed", "const", "edit", "drop"} {
		sims := simByKind[kind]
		slices.Sort(sims)
		t.Logf("%-8s exact Jaccard to its base: min %.2f median %.2f max %.2f", kind, sims[0], sims[len(sims)/2], sims[len(sims)-1])
	}
	return ref
}

func checkDesign(t *testing.T, rows []labelled, got outcome) {
	// By design: a variant that only renames, recomments, reorders or
	// respaces a program seen before it is a duplicate (of the program, or of
	// whatever the program duplicated: renames and comment changes have the
	// very same shingles); a changed constant never is.
	pos := map[string]int{}
	for i, r := range rows {
		pos[r.ID] = i
	}
	byKind := map[string][2]int{}
	for i, r := range rows {
		if r.kind == "" || (r.kind != "const" && pos[strings.SplitN(r.ID, "-", 2)[0]] > i) {
			continue
		}
		c := byKind[r.kind]
		c[1]++
		if _, ok := got.Dropped[r.ID]; ok {
			c[0]++
		}
		byKind[r.kind] = c
	}
	for _, kind := range []string{"rename", "comment", "reorder", "mixed", "const", "edit", "drop"} {
		t.Logf("%-8s after their base: dropped %d of %d", kind, byKind[kind][0], byKind[kind][1])
	}
	for _, kind := range []string{"rename", "comment"} {
		if c := byKind[kind]; c[0] != c[1] || c[1] == 0 {
			t.Errorf("%s variants: %d of %d dropped, want all", kind, c[0], c[1])
		}
	}
	for _, kind := range []string{"reorder", "mixed"} {
		if c := byKind[kind]; float64(c[0]) < 0.9*float64(c[1]) {
			t.Errorf("%s variants: %d of %d dropped, want >= 90%%", kind, c[0], c[1])
		}
	}
	if c := byKind["const"]; c[0] != 0 {
		t.Errorf("changed-constant variants: %d of %d dropped, want none", c[0], c[1])
	}
}
