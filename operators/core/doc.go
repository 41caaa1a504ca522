// Package core holds the engine's small row operators, one file each:
// filter (filter.go), map (map.go), limit (limit.go) and sample (sample.go).
package core
