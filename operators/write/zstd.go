package write

import (
	"sync"

	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// pooledZstd is Arrow's zstd codec with encoders reused across pages. Arrow's
// EncodeLevel builds a new encoder for every page it compresses, and the
// Parquet writer calls it with the default level: at 1M rows that was 1.9 GB
// of short-lived allocations, the largest source of garbage in a
// load → filter → write run and of its heap spikes.
type pooledZstd struct {
	compress.Codec
	mu    sync.Mutex
	pools map[int]*sync.Pool
}

func init() {
	base, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		return
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &pooledZstd{Codec: base, pools: map[int]*sync.Pool{}})
}

// Encode compresses one page at the default level.
func (z *pooledZstd) Encode(dst, src []byte) []byte {
	return z.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

func (z *pooledZstd) EncodeLevel(dst, src []byte, level int) []byte {
	z.mu.Lock()
	p, ok := z.pools[level]
	if !ok {
		lvl := zstd.SpeedDefault
		if level != compress.DefaultCompressionLevel {
			lvl = zstd.EncoderLevelFromZstd(level)
		}
		p = &sync.Pool{New: func() any {
			// pages are at most about 1 MiB: a larger window only holds
			// memory (the default keeps 32 MB of history per encoder)
			enc, _ := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(lvl),
				zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
			return enc
		}}
		z.pools[level] = p
	}
	z.mu.Unlock()
	enc := p.Get().(*zstd.Encoder)
	defer p.Put(enc)
	return enc.EncodeAll(src, dst[:0])
}
