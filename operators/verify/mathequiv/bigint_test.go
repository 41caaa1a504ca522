package mathequiv

import (
	"math/big"
	"testing"
)

// Integers beyond int64 reach the checker as *big.Int (json columns decode
// them exactly): they compare exactly, never through a float.
func TestFromValueBigInt(t *testing.T) {
	b, _ := new(big.Int).SetString("10000000000000000000000001", 10)
	cases := []struct {
		other any
		equal bool
	}{
		{"10000000000000000000000001", true},
		{"10000000000000000000000000", false},
	}
	for _, c := range cases {
		if got, _ := Compare(FromValue(b), FromValue(c.other), Options{}); got != c.equal {
			t.Errorf("%v vs %v: equal %v, want %v", b, c.other, got, c.equal)
		}
	}
}
