// Package index is the dedup index of kept rows: exact hashes or LSH band
// tables with 16-bit signatures for confirmation, and each kept row's id.
// Rows are numbered 0, 1, 2, ... in the order they were added, which is the
// stable source order; ties between candidates go to the lower number.
//
// Memory per kept row: exact, ~24 bytes of hash table plus the id; minhash,
// 2*num_perm bytes of signature + 4 bytes of gate + ~8-16 bytes per band of
// table + the id (~20 bytes for seq:row ids).
package index

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Method is exact or minhash.
type Method uint8

const (
	Exact Method = iota + 1
	MinHash
)

// Index holds the kept rows.
type Index struct {
	method  Method
	numPerm int
	bands   int

	exact  hashTable
	tables []multiTable
	gates  []uint32
	sigs   [][]uint16 // chunks of chunkRows signatures

	idData []byte
	idEnds []uint64
}

const chunkRows = 1 << 14

// New makes an empty index. For Exact numPerm and bands are ignored.
func New(m Method, numPerm, bands int) *Index {
	ix := &Index{method: m, numPerm: numPerm, bands: bands}
	if m == MinHash {
		ix.tables = make([]multiTable, bands)
	}
	return ix
}

// Len returns the number of kept rows.
func (ix *Index) Len() int { return len(ix.idEnds) }

// ID returns the id of kept row i.
func (ix *Index) ID(i int) string {
	var start uint64
	if i > 0 {
		start = ix.idEnds[i-1]
	}
	return string(ix.idData[start:ix.idEnds[i]])
}

func (ix *Index) addID(id []byte) uint32 {
	ix.idData = append(ix.idData, id...)
	ix.idEnds = append(ix.idEnds, uint64(len(ix.idData)))
	return uint32(len(ix.idEnds) - 1)
}

// LookupExact returns the kept row with hash h.
func (ix *Index) LookupExact(h uint64) (int, bool) {
	v, ok := ix.exact.get(h)
	return int(v), ok
}

// AddExact adds a kept row.
func (ix *Index) AddExact(id []byte, h uint64) {
	n := ix.addID(id)
	ix.exact.put(h, n)
}

// Best returns the kept row most similar to sig among those sharing a band
// key and the gate, if its estimated similarity is at least threshold; ties
// go to the earliest row. seen is scratch space (reset here).
func (ix *Index) Best(keys []uint32, sig []uint32, gate uint32, threshold float64, seen *[]uint32) (row int, sim float64, ok bool) {
	*seen = (*seen)[:0]
	row = -1
	for b, k := range keys {
		t := &ix.tables[b]
		if len(t.slots) == 0 {
			continue
		}
		mask := uint64(len(t.slots) - 1)
		for pos := t.home(k); ; pos = (pos + 1) & mask {
			e := t.slots[pos]
			if e == 0 {
				break
			}
			if uint32(e>>32) != k {
				continue
			}
			v := uint32(e) - 1
			dup := false
			for _, s := range *seen {
				if s == v {
					dup = true
					break
				}
			}
			if dup {
				continue
			}
			*seen = append(*seen, v)
			if ix.gates[v] != gate {
				continue
			}
			s := similarity(ix.sig(int(v)), sig)
			if row < 0 || s > sim || (s == sim && int(v) < row) {
				row, sim = int(v), s
			}
		}
	}
	if row >= 0 && sim >= threshold {
		return row, sim, true
	}
	return -1, 0, false
}

func (ix *Index) sig(i int) []uint16 {
	c := ix.sigs[i/chunkRows]
	o := (i % chunkRows) * ix.numPerm
	return c[o : o+ix.numPerm]
}

// AddMinHash adds a kept row with its gate, band keys and 16-bit signature.
func (ix *Index) AddMinHash(id []byte, gate uint32, keys []uint32, sig16 []uint16) {
	n := ix.addID(id)
	ix.gates = append(ix.gates, gate)
	if int(n)%chunkRows == 0 {
		ix.sigs = append(ix.sigs, alloc[uint16](chunkRows*ix.numPerm))
	}
	o := (int(n) % chunkRows) * ix.numPerm
	copy(ix.sigs[len(ix.sigs)-1][o:o+ix.numPerm], sig16)
	for b, k := range keys {
		ix.tables[b].put(k, n)
	}
}

func similarity(stored []uint16, sig []uint32) float64 {
	eq := 0
	stored = stored[:len(sig)]
	for j, v := range sig {
		if stored[j] == uint16(v) {
			eq++
		}
	}
	const c = 1.0 / 65536
	s := (float64(eq)/float64(len(sig)) - c) / (1 - c)
	if s < 0 {
		return 0
	}
	return s
}

// Free releases the index's memory; the index is empty afterwards.
func (ix *Index) Free() {
	for _, c := range ix.sigs {
		free(c)
	}
	for i := range ix.tables {
		ix.tables[i].free()
	}
	ix.exact.free()
	*ix = Index{method: ix.method, numPerm: ix.numPerm, bands: ix.bands, tables: make([]multiTable, len(ix.tables))}
}

// MemoryBytes estimates the index's memory.
func (ix *Index) MemoryBytes() int64 {
	n := int64(cap(ix.idData)) + 8*int64(cap(ix.idEnds)) + 4*int64(cap(ix.gates))
	for _, c := range ix.sigs {
		n += 2 * int64(cap(c))
	}
	for i := range ix.tables {
		n += 8 * int64(len(ix.tables[i].slots))
	}
	n += 12 * int64(len(ix.exact.keys))
	return n
}

// Delta encoding: a header, then one entry per kept row.
//
//	"CDD1" method:u8 numPerm:u16 bands:u16 count:uvarint
//	entry: idLen:uvarint id  (exact) hash:u64  (minhash) gate:u32 keys:bands*u32 sig:numPerm*u16
const magic = "CDD1"

// Delta accumulates the entries of one batch.
type Delta struct {
	buf   []byte
	count int
}

// AppendExact records a kept row.
func (d *Delta) AppendExact(id []byte, h uint64) {
	d.buf = binary.AppendUvarint(d.buf, uint64(len(id)))
	d.buf = append(d.buf, id...)
	d.buf = binary.LittleEndian.AppendUint64(d.buf, h)
	d.count++
}

// AppendMinHash records a kept row.
func (d *Delta) AppendMinHash(id []byte, gate uint32, keys []uint32, sig16 []uint16) {
	d.buf = binary.AppendUvarint(d.buf, uint64(len(id)))
	d.buf = append(d.buf, id...)
	d.buf = binary.LittleEndian.AppendUint32(d.buf, gate)
	for _, k := range keys {
		d.buf = binary.LittleEndian.AppendUint32(d.buf, k)
	}
	for _, v := range sig16 {
		d.buf = binary.LittleEndian.AppendUint16(d.buf, v)
	}
	d.count++
}

// Take returns the encoded delta (nil when nothing was added) and resets d.
func (ix *Index) Take(d *Delta) []byte {
	if d.count == 0 {
		d.buf = d.buf[:0]
		return nil
	}
	out := make([]byte, 0, len(magic)+9+len(d.buf))
	out = append(out, magic...)
	out = append(out, byte(ix.method))
	out = binary.LittleEndian.AppendUint16(out, uint16(ix.numPerm))
	out = binary.LittleEndian.AppendUint16(out, uint16(ix.bands))
	out = binary.AppendUvarint(out, uint64(d.count))
	out = append(out, d.buf...)
	d.buf, d.count = d.buf[:0], 0
	return out
}

var errShort = errors.New("truncated entry")

// Apply adds the rows of an encoded delta, without checking for duplicates
// (they were kept when the delta was made).
func (ix *Index) Apply(delta []byte) error {
	if len(delta) == 0 {
		return nil
	}
	if len(delta) < len(magic)+5 || string(delta[:len(magic)]) != magic {
		return errors.New("not a dedup index delta")
	}
	p := delta[len(magic):]
	m, np, nb := Method(p[0]), int(binary.LittleEndian.Uint16(p[1:])), int(binary.LittleEndian.Uint16(p[3:]))
	if m != ix.method || (m == MinHash && (np != ix.numPerm || nb != ix.bands)) {
		return fmt.Errorf("delta made with method %d num_perm %d bands %d; this step has method %d num_perm %d bands %d", m, np, nb, ix.method, ix.numPerm, ix.bands)
	}
	p = p[5:]
	count, k := binary.Uvarint(p)
	if k <= 0 {
		return errShort
	}
	p = p[k:]
	keys := make([]uint32, ix.bands)
	sig := make([]uint16, ix.numPerm)
	for e := uint64(0); e < count; e++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return fmt.Errorf("entry %d: %w", e, errShort)
		}
		id := p[k : k+int(l)]
		p = p[k+int(l):]
		if ix.method == Exact {
			if len(p) < 8 {
				return fmt.Errorf("entry %d: %w", e, errShort)
			}
			ix.AddExact(id, binary.LittleEndian.Uint64(p))
			p = p[8:]
			continue
		}
		need := 4 + 4*ix.bands + 2*ix.numPerm
		if len(p) < need {
			return fmt.Errorf("entry %d: %w", e, errShort)
		}
		gate := binary.LittleEndian.Uint32(p)
		for b := range keys {
			keys[b] = binary.LittleEndian.Uint32(p[4+4*b:])
		}
		o := 4 + 4*ix.bands
		for j := range sig {
			sig[j] = binary.LittleEndian.Uint16(p[o+2*j:])
		}
		ix.AddMinHash(id, gate, keys, sig)
		p = p[need:]
	}
	if len(p) != 0 {
		return fmt.Errorf("%d bytes after the last entry", len(p))
	}
	return nil
}
