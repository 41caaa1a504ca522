package index

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func sigOf(seed uint32, n int) ([]uint32, []uint16) {
	s32 := make([]uint32, n)
	s16 := make([]uint16, n)
	for i := range s32 {
		s32[i] = seed*2654435761 + uint32(i)*40503
		s16[i] = uint16(s32[i])
	}
	return s32, s16
}

func TestMinHashBestAndDelta(t *testing.T) {
	const np, nb = 16, 4
	ix := New(MinHash, np, nb)
	defer ix.Free()
	var d Delta
	// 40000 rows so that the tables grow and the signatures span chunks.
	for i := 0; i < 40000; i++ {
		_, s16 := sigOf(uint32(i), np)
		keys := []uint32{uint32(i), uint32(i) ^ 0xffff, 7, uint32(i % 3)} // key 7 is shared by every row
		id := []byte(fmt.Sprintf("r%d", i))
		ix.AddMinHash(id, uint32(i%5), keys, s16)
		d.AppendMinHash(id, uint32(i%5), keys, s16)
	}
	delta := ix.Take(&d)
	if ix.Take(&d) != nil {
		t.Fatal("second Take should be empty")
	}
	re := New(MinHash, np, nb)
	defer re.Free()
	if err := re.Apply(delta); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Index{ix, re} {
		if x.Len() != 40000 || x.ID(12345) != "r12345" {
			t.Fatalf("len %d id %q", x.Len(), x.ID(12345))
		}
		var seen []uint32
		s32, _ := sigOf(30001, np)
		row, sim, ok := x.Best([]uint32{30001, 0, 0, 0}, s32, 30001%5, 0.9, &seen)
		if !ok || row != 30001 || sim != 1 {
			t.Errorf("Best = %d %v %v, want 30001 1 true", row, sim, ok)
		}
		if _, _, ok := x.Best([]uint32{30001, 0, 0, 0}, s32, 2, 0.9, &seen); ok {
			t.Errorf("a different gate must not match")
		}
		// key 7 of band 2 is shared by every row but holds BucketCap of them
		if _, _, ok := x.Best([]uint32{99999, 99999, 7, 99999}, s32, 30001%5, 0.5, &seen); ok || len(seen) != BucketCap {
			t.Errorf("shared key: %d candidates, want %d", len(seen), BucketCap)
		}
		half := append([]uint32(nil), s32...)
		for i := 0; i < np/2; i++ {
			half[i]++
		}
		if _, _, ok := x.Best([]uint32{30001, 0, 0, 0}, half, 30001%5, 0.9, &seen); ok {
			t.Errorf("a half-equal signature must not pass 0.9")
		}
	}
}

func TestExactAndDelta(t *testing.T) {
	ix := New(Exact, 0, 0)
	defer ix.Free()
	var d Delta
	for i := 0; i < 5000; i++ {
		id := []byte(fmt.Sprintf("e%d", i))
		ix.AddExact(id, uint64(i)*0x9e3779b97f4a7c15)
		d.AppendExact(id, uint64(i)*0x9e3779b97f4a7c15)
	}
	re := New(Exact, 0, 0)
	defer re.Free()
	if err := re.Apply(ix.Take(&d)); err != nil {
		t.Fatal(err)
	}
	k := uint64(4321)
	if row, ok := re.LookupExact(k * 0x9e3779b97f4a7c15); !ok || re.ID(row) != "e4321" {
		t.Errorf("lookup = %d %v", row, ok)
	}
	if _, ok := re.LookupExact(1); ok {
		t.Errorf("unknown hash found")
	}
}

func TestApplyErrors(t *testing.T) {
	ix := New(MinHash, 16, 4)
	defer ix.Free()
	var d Delta
	_, s16 := sigOf(1, 16)
	d.AppendMinHash([]byte("a"), 0, []uint32{1, 2, 3, 4}, s16)
	good := ix.Take(&d)
	tests := []struct {
		name  string
		into  *Index
		delta []byte
		want  string
	}{
		{"garbage", New(MinHash, 16, 4), []byte("hello world"), "not a dedup index delta"},
		{"truncated", New(MinHash, 16, 4), good[:len(good)-3], "truncated"},
		{"trailing", New(MinHash, 16, 4), append(bytes.Clone(good), 0), "after the last entry"},
		{"other shape", New(MinHash, 32, 4), good, "num_perm 16"},
		{"other method", New(Exact, 0, 0), good, "method"},
	}
	for _, tc := range tests {
		err := tc.into.Apply(tc.delta)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		tc.into.Free()
	}
	if err := New(MinHash, 16, 4).Apply(nil); err != nil {
		t.Errorf("empty delta: %v", err)
	}
}
