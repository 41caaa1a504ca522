package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CacheFile is the name of the response cache inside its folder.
const CacheFile = "llm-cache.db"

var cacheBucket = []byte("responses")

// cacheLockTimeout bounds the wait for a cache file locked by another process.
var cacheLockTimeout = 2 * time.Second

// Cache is the content-addressed response store: request Key → Response
// as JSON, in a bbolt file. Writes are committed in the background in
// groups (bbolt's DB.Batch coalesces concurrent writers into one synced
// transaction at most 10 ms apart), so a request does not wait for the
// fsync; Put's wait func tells when a reply is durable, and generate waits
// for every reply of a batch before the batch's rows are used.
type Cache struct {
	path string
	db   *bolt.DB

	mu      sync.Mutex
	closed  bool
	err     error            // first background write error
	pending map[Key]Response // written but maybe not committed yet
	wg      sync.WaitGroup
}

// OpenCache opens (creating) the cache in dir.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("opening response cache: %w", err)
	}
	path := filepath.Join(dir, CacheFile)
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: cacheLockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening response cache %s: it is locked by another process (another run using the same --cache?)", path)
		}
		return nil, fmt.Errorf("opening response cache %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(cacheBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening response cache %s: %w", path, err)
	}
	return &Cache{path: path, db: db, pending: map[Key]Response{}}, nil
}

// Path is the cache file.
func (c *Cache) Path() string { return c.path }

// Get looks a request up.
func (c *Cache) Get(k Key) (Response, bool, error) {
	c.mu.Lock()
	pr, ok := c.pending[k]
	c.mu.Unlock()
	if ok {
		return pr, true, nil
	}
	var val []byte
	err := c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(cacheBucket).Get(k[:]); v != nil {
			val = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return Response{}, false, fmt.Errorf("reading response cache %s: %w", c.path, err)
	}
	if val == nil {
		return Response{}, false, nil
	}
	var r Response
	if err := json.Unmarshal(val, &r); err != nil {
		// A damaged entry is a miss: the request is sent again and the
		// entry overwritten.
		return Response{}, false, nil
	}
	return r, true, nil
}

// Put stores a response in the background. It returns the error of an
// earlier background write, if any, and a wait func that returns once this
// response is durable (committed and synced: bbolt's Batch groups
// concurrent writers into one transaction, at most MaxBatchDelay (10 ms)
// apart) or its write failed.
func (c *Cache) Put(k Key, r Response) (wait func() error, err error) {
	val, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("writing response cache: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if c.closed {
		return nil, fmt.Errorf("writing response cache %s: closed", c.path)
	}
	c.pending[k] = r
	c.wg.Add(1)
	done := make(chan error, 1)
	go func() {
		defer c.wg.Done()
		err := c.db.Batch(func(tx *bolt.Tx) error {
			return tx.Bucket(cacheBucket).Put(k[:], val)
		})
		c.mu.Lock()
		delete(c.pending, k)
		if err != nil {
			err = fmt.Errorf("writing response cache %s: %w", c.path, err)
			if c.err == nil {
				c.err = err
			}
		}
		c.mu.Unlock()
		done <- err
	}()
	return func() error { return <-done }, nil
}

// Flush waits for the background writes started so far.
func (c *Cache) Flush() error {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Len counts the stored responses.
func (c *Cache) Len() (int, error) {
	var n int
	err := c.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(cacheBucket).Stats().KeyN
		return nil
	})
	return n, err
}

// Close waits for pending writes and closes the file.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	err := c.db.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if err != nil {
		return fmt.Errorf("closing response cache %s: %w", c.path, err)
	}
	return nil
}
