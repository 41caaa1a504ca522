//go:build !unix

package index

func alloc[T uint16 | uint32 | uint64](n int) []T { return make([]T, n) }

func free[T uint16 | uint32 | uint64](s []T) {}
