package load

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"
)

// Content hashes of input files, cached by file identity and times.
//
// A cached hash is reused only when the file's device, inode, size,
// modification time and change time (ctime) are all the same as when it was
// hashed. Rewriting a file in place, even with its old modification time
// restored, sets its ctime to now, which no user call can set back. The
// cache lives in memory and, across runs, in a small file:
// $CACO_HASH_CACHE, else caco/content-hashes under the user cache folder
// (~/.cache); CACO_HASH_CACHE=off keeps it in memory only.

// fileKey identifies a version of a file.
type fileKey struct {
	dev, ino         uint64
	size             int64
	mtimeNs, ctimeNs int64
}

func (k fileKey) String() string {
	return fmt.Sprintf("%d %d %d %d %d", k.dev, k.ino, k.size, k.mtimeNs, k.ctimeNs)
}

var (
	hashMu     sync.Mutex
	hashMem    map[fileKey]uint64
	hashLoaded bool
	// hashedBytes counts the bytes read to hash files (for tests).
	hashedBytes atomic.Int64
)

// maxCacheLines bounds the cache file: beyond, it is rewritten with the
// entries of this process only.
const maxCacheLines = 100000

func hashCachePath() string {
	if p := os.Getenv("CACO_HASH_CACHE"); p != "" {
		if p == "off" {
			return ""
		}
		return p
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "caco", "content-hashes")
}

// loadHashCache reads the cache file once; errors leave the cache empty.
func loadHashCache() {
	if hashLoaded {
		return
	}
	hashLoaded = true
	if hashMem == nil {
		hashMem = map[fileKey]uint64{}
	}
	p := hashCachePath()
	if p == "" {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 6 {
			continue
		}
		var nums [5]int64
		ok := true
		for i := 0; i < 5; i++ {
			n, err := strconv.ParseInt(parts[i], 10, 64)
			if err != nil {
				ok = false
				break
			}
			nums[i] = n
		}
		sum, err := strconv.ParseUint(parts[5], 16, 64)
		if !ok || err != nil {
			continue
		}
		hashMem[fileKey{uint64(nums[0]), uint64(nums[1]), nums[2], nums[3], nums[4]}] = sum
	}
}

// saveHash appends one entry to the cache file (best effort: a cache that
// cannot be written only costs a re-read next time).
func saveHash(k fileKey, sum uint64) {
	p := hashCachePath()
	if p == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if len(hashMem) > maxCacheLines {
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		hashMem = map[fileKey]uint64{k: sum}
	}
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %016x\n", k, sum)
}

// contentHash returns a file's size and the xxh3 hash of its bytes,
// from the cache when the file has not changed since it was hashed.
func contentHash(path string) (int64, uint64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	k, cacheable := statKey(st)
	if cacheable {
		hashMu.Lock()
		loadHashCache()
		sum, ok := hashMem[k]
		hashMu.Unlock()
		if ok {
			return k.size, sum, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := xxh3.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	hashedBytes.Add(n)
	if err != nil {
		return 0, 0, err
	}
	sum := h.Sum64()
	if cacheable {
		// the file must not have changed while it was read
		if st2, err := f.Stat(); err == nil {
			if k2, _ := statKey(st2); k2 == k {
				hashMu.Lock()
				hashMem[k] = sum
				saveHash(k, sum)
				hashMu.Unlock()
			}
		}
	}
	return n, sum, nil
}
