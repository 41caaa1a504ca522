package index

// BucketCap bounds the rows one band key holds. Rows beyond it are not
// added to that band (they stay findable through their other bands), which
// bounds the cost of inserts and lookups when many kept rows share a band
// (boilerplate-heavy keys) instead of letting it grow quadratically.
const BucketCap = 32

// multiTable maps 32-bit band keys to kept rows; a key may map to several
// rows. Open addressing with linear probing; a slot is key<<32 | row+1, 0
// when empty. 8 bytes per slot, load factor between 3/8 and 3/4.
type multiTable struct {
	slots []uint64
	count int
	shift uint
}

func (t *multiTable) home(k uint32) uint64 {
	return (uint64(k) * 0x9e3779b97f4a7c15) >> t.shift
}

// put adds row under k unless k already holds BucketCap rows.
func (t *multiTable) put(k uint32, row uint32) {
	if (t.count+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	pos := t.home(k)
	same := 0
	for ; t.slots[pos] != 0; pos = (pos + 1) & mask {
		if uint32(t.slots[pos]>>32) == k {
			if same++; same >= BucketCap {
				return
			}
		}
	}
	t.slots[pos] = uint64(k)<<32 | uint64(row+1)
	t.count++
}

func (t *multiTable) insert(e uint64) {
	mask := uint64(len(t.slots) - 1)
	pos := t.home(uint32(e >> 32))
	for t.slots[pos] != 0 {
		pos = (pos + 1) & mask
	}
	t.slots[pos] = e
}

func (t *multiTable) grow() {
	old := t.slots
	n := 1024
	if len(old) > 0 {
		n = 2 * len(old)
	}
	t.slots = alloc[uint64](n)
	t.shift = uint(64 - log2(n))
	for _, e := range old {
		if e != 0 {
			t.insert(e)
		}
	}
	free(old)
}

func (t *multiTable) free() {
	free(t.slots)
	*t = multiTable{}
}

func log2(n int) int {
	l := 0
	for 1<<l < n {
		l++
	}
	return l
}

// hashTable maps 64-bit hashes to kept rows (unique keys).
type hashTable struct {
	keys  []uint64
	rows  []uint32 // row+1; 0 when empty
	count int
	shift uint
}

func (t *hashTable) home(k uint64) uint64 {
	return (k * 0x9e3779b97f4a7c15) >> t.shift
}

func (t *hashTable) get(k uint64) (uint32, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	mask := uint64(len(t.keys) - 1)
	for pos := t.home(k); t.rows[pos] != 0; pos = (pos + 1) & mask {
		if t.keys[pos] == k {
			return t.rows[pos] - 1, true
		}
	}
	return 0, false
}

// put adds k unless present.
func (t *hashTable) put(k uint64, row uint32) {
	if (t.count+1)*4 > len(t.keys)*3 {
		t.grow()
	}
	if t.insert(k, row+1) {
		t.count++
	}
}

func (t *hashTable) insert(k uint64, v uint32) bool {
	mask := uint64(len(t.keys) - 1)
	pos := t.home(k)
	for t.rows[pos] != 0 {
		if t.keys[pos] == k {
			return false
		}
		pos = (pos + 1) & mask
	}
	t.keys[pos], t.rows[pos] = k, v
	return true
}

func (t *hashTable) grow() {
	ok, or := t.keys, t.rows
	n := 1024
	if len(ok) > 0 {
		n = 2 * len(ok)
	}
	t.keys, t.rows = alloc[uint64](n), alloc[uint32](n)
	t.shift = uint(64 - log2(n))
	for i, v := range or {
		if v != 0 {
			t.insert(ok[i], v)
		}
	}
	free(ok)
	free(or)
}

func (t *hashTable) free() {
	free(t.keys)
	free(t.rows)
	*t = hashTable{}
}
