package minhash

import "testing"

func TestOptimalBands(t *testing.T) {
	tests := []struct {
		threshold  float64
		numPerm    int
		wFP        float64
		bands, row int
	}{
		{0.8, 128, 0.5, 9, 13}, // datasketch's choice for the same inputs
		{0.8, 128, 0.2, 12, 10},
		{0.5, 128, 0.5, 25, 5},
		{0.9, 256, 0.5, 9, 28},
	}
	for _, tc := range tests {
		b, r := OptimalBands(tc.threshold, tc.numPerm, tc.wFP, 1-tc.wFP)
		if b != tc.bands || r != tc.row {
			t.Errorf("OptimalBands(%v, %d, %v) = %d x %d, want %d x %d", tc.threshold, tc.numPerm, tc.wFP, b, r, tc.bands, tc.row)
		}
		if b*r > tc.numPerm {
			t.Errorf("%d x %d exceeds %d", b, r, tc.numPerm)
		}
	}
}
