// Package dedup registers the `dedup` operator: exact and MinHash-LSH
// near-duplicate removal over one key column, code-aware, deterministic and
// resumable.
//
// # What is a duplicate
//
// The key is normalised (none, whitespace, code, text), then either hashed
// whole (method: exact, a 64-bit xxh3) or cut into shingles (word, char or
// Python-token n-grams) whose MinHash signature (num_perm 32-bit minima of
// the multiply-add-shift family, fixed seed) is split into bands × rows.
// Rows sharing a band key with a kept row are candidates; a candidate is
// confirmed when its estimated Jaccard similarity (over 16-bit signature
// values, corrected for chance collisions) is >= threshold. The most similar
// confirmed kept row (ties: the earliest) is named in the ledger as
// dup_of=<id> similarity=<s>.
//
// Numbers are part of a row's identity: unless replace_numbers is set, the
// multiset of numbers in the normalised key is hashed into a 32-bit gate
// that is mixed into every band key and compared on confirmation, so two
// Code CoTs that differ only in a constant are never duplicates, however
// similar the rest is. With code shingles, identifiers other than keywords,
// common builtins, attribute names and imported names become a placeholder,
// so consistently renamed variables yield the same shingles; comments are
// not tokens; reordered lines change only the shingles that span the moved
// lines.
//
// # Determinism and resume
//
// The operator is op.Sequential: batches arrive in stream order and rows are
// decided one by one against the index of kept rows, so the first row in
// stable source order is kept whatever the batch size or worker count.
// Signatures are computed in parallel over GOMAXPROCS goroutines inside
// Process (they depend only on the row); the band lookup and insert are
// sequential. A band key holds at most index.BucketCap (32) rows, so keys
// shared by many kept rows (boilerplate) cannot make inserts and lookups
// quadratic; rows beyond it stay findable through their other bands.
// After each batch Delta returns the entries that batch added
// (id, gate, band keys and 16-bit signature per kept row, or the exact hash);
// Restore replays them in order, without re-hashing, after the against
// datasets are loaded, so a resumed run has the very index, and the very
// tie-breaks, of an uninterrupted one. Against datasets are re-read and
// re-hashed at every Open; their size and modification time are part of the
// step fingerprint.
//
// Without an id column a row is named SEQ:ROW (its batch seq and index in
// the batch), which depends on batching; the decisions themselves do not.
//
// # Memory per million kept rows
//
// The index keeps only kept rows. Its big slabs (signatures, band tables)
// live in anonymous mmap'd memory outside the Go heap, so the collector
// neither scans them nor lets garbage grow to their size.
//
//   - minhash, num_perm 128, 12 bands (the default at threshold 0.8):
//     signatures 2*num_perm = 256 bytes/row; band tables 8 bytes per slot at
//     a load of 3/8..3/4, 12 tables = 128..256 bytes/row; gate 4 bytes; id
//     8 bytes + its length. About 480 MB per million rows; measured 497
//     bytes/row (index) and 519-526 MiB peak RSS for the whole process at
//     1M input rows of ~640 bytes (cmd/dedupbench).
//   - exact: 12 bytes per slot at a load of 3/8..3/4 (16..32 bytes/row) plus
//     the id: about 40 MB per million rows.
//
// Checkpoint deltas take 4 + 4*bands + 2*num_perm bytes plus the id per kept
// row for minhash (316 bytes at the defaults), 9 bytes plus the id for exact.
//
// # Scale-out (Slurm), as datatrove splits it
//
// Dedup is global, but only its cheap part is sequential. The pieces are
// shaped so that a multi-node run can split it into three jobs:
//
//  1. Signatures, per shard (embarrassingly parallel, `caco run --shard i/n`):
//     every node normalises, shingles and signs its rows with the same fixed
//     permutations (internal/minhash: Sign, BandKeys, Low16 are pure
//     functions of the row) and writes, per band, the records (band key,
//     global order seq:row, id, gate, 16-bit signature) sorted by band key —
//     the same fields a Delta entry carries. This is >95% of the CPU.
//  2. Band join, per band (parallel over bands): merge the shards' sorted
//     files for one band; each run of equal keys is a bucket, and every pair
//     (earlier, later) in global order inside a bucket is a candidate. At
//     threshold 0.8 buckets are tiny, so the pairs are few; a bucket cap
//     bounds pathological keys.
//  3. Decide (one sequential pass, no hashing): walk rows in global order
//     with their candidate lists; a row is dropped when a candidate earlier
//     in order is kept, has the same gate and an estimated similarity >=
//     threshold (from the 16-bit signatures). This reproduces this
//     operator's first-kept rule exactly, so a single-node run and a cluster
//     run agree. (datatrove's third step instead unions candidate pairs into
//     clusters and keeps one row per cluster, which is transitive and drops
//     more.) Its memory is the kept flags and candidate lists, not the
//     signatures, which stay in the shard files.
//
// The output of step 3 is a list of dropped ids with dup_of and similarity,
// which a final per-shard filter applies and writes to the rejects ledger.
package dedup
