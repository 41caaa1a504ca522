package mathequiv

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updatePairs = flag.Bool("update-pairs", false, "rewrite testdata/pairs232.json from pairCases")

// testdata/pairs232.json holds the (a, b) pairs of the 232-pair table of
// commit 7e8d7ab, the workload of `cacobench verify` (which builds the old
// and the new checker side by side). It must stay the same pairs.
func TestPairs232File(t *testing.T) {
	pairs := make([][2]string, len(pairCases))
	for i, c := range pairCases {
		pairs[i] = [2]string{c.a, c.b}
	}
	path := filepath.Join("testdata", "pairs232.json")
	if *updatePairs {
		buf, _ := json.MarshalIndent(pairs, "", " ")
		if err := os.WriteFile(path, append(buf, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the benchmark pairs: %v", err)
	}
	var got [][2]string
	if err := json.Unmarshal(buf, &got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(got) != 232 || len(got) != len(pairs) {
		t.Fatalf("%s has %d pairs, the table %d; want 232", path, len(got), len(pairs))
	}
	for i := range pairs {
		if got[i] != pairs[i] {
			t.Errorf("%s pair %d = %q, table %q (go test -run TestPairs232File -update-pairs)", path, i, got[i], pairs[i])
		}
	}
}
