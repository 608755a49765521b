package backend

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// entryCache keeps decoded storage entries (roles, bounds) so a mint does
// not read and decode storage every time. Writes, deletes and invalidations
// drop entries.
type entryCache[T any] struct {
	kind   string // "role", "bound": for errors
	prefix string // storage prefix, e.g. "roles/"

	mu      sync.RWMutex
	gen     uint64 // bumped by every drop
	entries map[string]*T
}

func newEntryCache[T any](kind, prefix string) entryCache[T] {
	return entryCache[T]{kind: kind, prefix: prefix, entries: map[string]*T{}}
}

// peek returns the cached entry, if any.
func (c *entryCache[T]) peek(name string) (*T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.entries[name]
	return v, ok
}

// load returns the entry from the cache, or from storage (caching it); nil
// if there is none. A read that raced with a drop is not cached: it may be
// stale.
func (c *entryCache[T]) load(ctx context.Context, s logical.Storage, name string) (*T, error) {
	c.mu.RLock()
	v, ok := c.entries[name]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	entry, err := s.Get(ctx, c.prefix+name)
	if err != nil {
		return nil, fmt.Errorf("reading %s %q: %w", c.kind, name, err)
	}
	if entry == nil {
		return nil, nil
	}
	v = new(T)
	if err := entry.DecodeJSON(v); err != nil {
		return nil, fmt.Errorf("decoding %s %q: %w", c.kind, name, err)
	}
	c.mu.Lock()
	if c.gen == gen {
		c.entries[name] = v
	}
	c.mu.Unlock()
	return v, nil
}

// where lists, in storage order, the stored entries for which keep is true.
func (c *entryCache[T]) where(ctx context.Context, s logical.Storage, keep func(*T) bool) ([]string, error) {
	names, err := s.List(ctx, c.prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %ss: %w", c.kind, err)
	}
	var out []string
	for _, n := range names {
		v, err := c.load(ctx, s, n)
		if err != nil {
			return nil, err
		}
		if v != nil && keep(v) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (c *entryCache[T]) drop(name string) {
	c.mu.Lock()
	c.gen++
	delete(c.entries, name)
	c.mu.Unlock()
}

// installCache maps an owner or repository to its installation id, with a
// TTL. Concurrent lookups of one key share a single call to GitHub.
//
// A cache belongs to one client (app.go makes it with the App's client and
// drops it with it), so a lookup and its answer belong to the host and App
// that made it: after a config change, new requests use a new client and a
// new cache, and never join a lookup still running against the old host.
// Its methods take a nil cache as one that keeps nothing: a request whose
// client is no longer the App's looks up alone and caches nothing.
type installCache struct {
	ttl time.Duration

	mu       sync.Mutex
	gen      uint64 // bumped by drop; a lookup from an older generation is not stored
	entries  map[string]installEntry
	inflight map[string]*lookup
}

type installEntry struct {
	resolved
	expires time.Time
}

// resolved is what a lookup found: the installation id and the login of
// its account (shown on role reads).
type resolved struct {
	id      int64
	account string
}

type lookup struct {
	done chan struct{}
	res  resolved
	err  error
}

func newInstallCache(ttl time.Duration) *installCache {
	return &installCache{ttl: ttl, entries: map[string]installEntry{}, inflight: map[string]*lookup{}}
}

// lookupTimeout bounds a shared installation lookup, which runs detached
// from the requests waiting on it.
const lookupTimeout = 30 * time.Second

// get returns the id for key, calling find at most once at a time per key
// when it is missing or stale. hit reports whether it came from the cache.
//
// The lookup is shared by every request that needs the key meanwhile, so it
// does not run on any one caller's context: a caller that gives up (its
// client disconnected) returns at once with its own context's error, and the
// lookup goes on, under its own timeout, for the others. A nil cache calls
// find on the caller's context and keeps nothing.
func (c *installCache) get(ctx context.Context, key string, now time.Time, find func(context.Context) (resolved, error)) (id int64, hit bool, err error) {
	if c == nil {
		res, err := find(ctx)
		return res.id, false, err
	}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return e.id, true, nil
	}
	l, ok := c.inflight[key]
	if !ok {
		l = &lookup{done: make(chan struct{})}
		c.inflight[key] = l
		go c.run(context.WithoutCancel(ctx), key, l, c.gen, now, find)
	}
	c.mu.Unlock()
	select {
	case <-l.done:
		return l.res.id, false, l.err
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
}

// run performs one shared lookup and stores its result unless an entry was
// dropped meanwhile (generation gen is stale).
func (c *installCache) run(ctx context.Context, key string, l *lookup, gen uint64, now time.Time, find func(context.Context) (resolved, error)) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	l.res, l.err = find(ctx)

	c.mu.Lock()
	if c.inflight[key] == l {
		delete(c.inflight, key)
	}
	if l.err == nil && gen == c.gen {
		c.entries[key] = installEntry{resolved: l.res, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	close(l.done)
}

// peek returns the cached lookup of key, if it is fresh at now; it never
// asks GitHub.
func (c *installCache) peek(key string, now time.Time) (resolved, bool) {
	if c == nil {
		return resolved{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && now.Before(e.expires) {
		return e.resolved, true
	}
	return resolved{}, false
}

// drop forgets key and detaches its lookup in flight, if any: the requests
// already waiting on it get its answer, the next ones start a new lookup,
// and no lookup that started before the drop is stored.
func (c *installCache) drop(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	delete(c.entries, key)
	delete(c.inflight, key)
	c.mu.Unlock()
}
