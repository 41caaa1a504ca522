//go:build unix

package index

import (
	"syscall"
	"unsafe"
)

// alloc returns n zeroed values in anonymous memory outside the Go heap:
// the index's big pointer-free slabs live there so the garbage collector
// neither scans them nor lets the heap grow to twice their size before it
// collects. Free them with free.
func alloc[T uint16 | uint32 | uint64](n int) []T {
	if n == 0 {
		return nil
	}
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]T, n) // fall back to the heap
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// free releases memory from alloc; heap fallbacks are left to the GC.
func free[T uint16 | uint32 | uint64](s []T) {
	if cap(s) == 0 {
		return
	}
	var zero T
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[:1][0])), cap(s)*int(unsafe.Sizeof(zero)))
	_ = syscall.Munmap(b) // EINVAL for heap memory: nothing to do
}
