package write

import (
	"runtime"
	"sync"

	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// pooledZstd is Arrow's zstd codec with encoders reused across pages. Arrow's
// EncodeLevel builds a new encoder for every page it compresses, and the
// Parquet writer calls it with the default level: at 1M rows that was 1.9 GB
// of short-lived allocations, the largest source of garbage in a
// load → filter → write run and of its heap spikes.
//
// The idle encoders are kept in a small free list rather than a sync.Pool:
// a sync.Pool is emptied by every other garbage collection, and rebuilding an
// encoder (its match tables and history, about 2.5 MB) after each one was a
// steady source of garbage. Writers are sequential, so the list rarely holds
// more than one encoder per concurrent writer.
type pooledZstd struct {
	compress.Codec
	mu    sync.Mutex
	pools map[int]*encoderList
}

// encoderList is a bounded free list of encoders of one level.
type encoderList struct {
	idle chan *zstd.Encoder
	lvl  zstd.EncoderLevel
}

func (l *encoderList) get() *zstd.Encoder {
	select {
	case enc := <-l.idle:
		return enc
	default:
	}
	// pages are at most about 1 MiB: a larger window only holds memory (the
	// default keeps 32 MB of history per encoder); EncodeAll runs on the
	// caller's goroutine, so one internal encoder is enough
	enc, _ := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(l.lvl),
		zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1))
	return enc
}

func (l *encoderList) put(enc *zstd.Encoder) {
	select {
	case l.idle <- enc:
	default: // more concurrent writers than slots: let it go
	}
}

func init() {
	base, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		return
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &pooledZstd{Codec: base, pools: map[int]*encoderList{}})
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
		p = &encoderList{idle: make(chan *zstd.Encoder, runtime.GOMAXPROCS(0)), lvl: lvl}
		z.pools[level] = p
	}
	z.mu.Unlock()
	enc := p.get()
	defer p.put(enc)
	return enc.EncodeAll(src, dst[:0])
}
