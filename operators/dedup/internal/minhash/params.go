package minhash

import "math"

// OptimalBands returns the bands b and rows per band r (b*r <= numPerm) that
// minimise wFP*FP + wFN*FN, where FP is the area under the LSH collision
// probability curve 1-(1-s^r)^b below threshold (pairs that become
// candidates though they are less similar) and FN the area above it under
// its complement (similar pairs that never meet).
func OptimalBands(threshold float64, numPerm int, wFP, wFN float64) (bands, rows int) {
	best := math.Inf(1)
	for b := 1; b <= numPerm; b++ {
		for r := 1; b*r <= numPerm; r++ {
			fp := integrate(func(s float64) float64 { return 1 - math.Pow(1-math.Pow(s, float64(r)), float64(b)) }, 0, threshold)
			fn := integrate(func(s float64) float64 { return math.Pow(1-math.Pow(s, float64(r)), float64(b)) }, threshold, 1)
			if e := wFP*fp + wFN*fn; e < best {
				best, bands, rows = e, b, r
			}
		}
	}
	return bands, rows
}

// integrate is composite Simpson's rule, accurate enough for smooth curves.
func integrate(f func(float64) float64, a, b float64) float64 {
	const n = 200
	if b <= a {
		return 0
	}
	h := (b - a) / n
	sum := f(a) + f(b)
	for i := 1; i < n; i++ {
		x := a + float64(i)*h
		if i%2 == 1 {
			sum += 4 * f(x)
		} else {
			sum += 2 * f(x)
		}
	}
	return sum * h / 3
}

// CandidateProbability is the chance that a pair with Jaccard similarity s
// shares at least one band.
func CandidateProbability(s float64, bands, rows int) float64 {
	return 1 - math.Pow(1-math.Pow(s, float64(rows)), float64(bands))
}
