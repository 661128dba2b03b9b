package bmp

import (
	"hash/maphash"
	"net/netip"
	"sort"
	"sync"
	"unsafe"

	"github.com/anydiag/anydiag/bmp/wire"
)

// attrRef names an interned attribute set; zero names none.
type attrRef uint32

// internTable stores each distinct canonical attribute set once, for every
// router, peer and table. Routes hold a 4-byte attrRef instead of a pointer,
// and the set is kept as its canonical bytes (usually 40 to 100 bytes),
// smaller than its decoded form; it is decoded on the rare paths that need
// it (API queries, events). Reference counts free a set with its last route.
type internTable struct {
	mu      sync.Mutex
	seed    maphash.Seed
	byHash  map[uint64]attrRef
	entries []internEntry
	free    []attrRef
}

type internEntry struct {
	raw  string
	refs int32
	// next chains entries whose hashes collide.
	next attrRef
}

func newInternTable() *internTable {
	return &internTable{seed: maphash.MakeSeed(), byHash: make(map[uint64]attrRef), entries: make([]internEntry, 1)}
}

// acquire returns the set equal to raw with n more references, creating it
// when missing (created reports that, so the caller validates it once).
func (t *internTable) acquire(raw []byte, n int32) (ref attrRef, created bool) {
	h := maphash.Bytes(t.seed, raw)
	t.mu.Lock()
	defer t.mu.Unlock()
	head := t.byHash[h]
	for r := head; r != 0; r = t.entries[r].next {
		if t.entries[r].raw == string(raw) {
			t.entries[r].refs += n
			return r, false
		}
	}
	e := internEntry{raw: string(raw), refs: n, next: head}
	if k := len(t.free); k > 0 {
		ref = t.free[k-1]
		t.free = t.free[:k-1]
		t.entries[ref] = e
	} else {
		ref = attrRef(len(t.entries))
		t.entries = append(t.entries, e)
	}
	t.byHash[h] = ref
	return ref, true
}

// release drops one reference of every ref (refs may repeat).
func (t *internTable) release(refs []attrRef) {
	if len(refs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range refs {
		t.releaseLocked(r)
	}
}

// pin takes a reference on every row's set, so that an API page can read
// them after the router's lock is left; unpin drops them.
func (t *internTable) pin(rows []posRef) {
	t.mu.Lock()
	for _, r := range rows {
		t.entries[r.ref].refs++
	}
	t.mu.Unlock()
}

func (t *internTable) unpin(rows []posRef) {
	t.mu.Lock()
	for _, r := range rows {
		t.releaseLocked(r.ref)
	}
	t.mu.Unlock()
}

func (t *internTable) releaseLocked(r attrRef) {
	e := &t.entries[r]
	e.refs--
	if e.refs > 0 {
		return
	}
	h := maphash.String(t.seed, e.raw)
	if t.byHash[h] == r {
		if e.next == 0 {
			delete(t.byHash, h)
		} else {
			t.byHash[h] = e.next
		}
	} else {
		for p := t.byHash[h]; p != 0; p = t.entries[p].next {
			if t.entries[p].next == r {
				t.entries[p].next = e.next
				break
			}
		}
	}
	*e = internEntry{}
	t.free = append(t.free, r)
}

// get returns the canonical bytes of ref.
func (t *internTable) get(ref attrRef) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries[ref].raw
}

// stats returns the number of live sets and the bytes they hold, for metrics.
func (t *internTable) stats() (sets int, bytes int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.entries[1:] {
		if e.refs > 0 {
			sets++
			bytes += len(e.raw) + int(unsafe.Sizeof(e))
		}
	}
	return sets, bytes
}

// v4Key and v6Key are compact route keys: a netip.Prefix is 32 bytes, a
// v4Key 12, which matters with a million routes per peer.
type v4Key struct {
	addr   uint32
	pathID uint32
	bits   uint8
}

type v6Key struct {
	hi, lo uint64
	pathID uint32
	bits   uint8
}

func (k v4Key) prefix() netip.Prefix {
	a := [4]byte{byte(k.addr >> 24), byte(k.addr >> 16), byte(k.addr >> 8), byte(k.addr)}
	return netip.PrefixFrom(netip.AddrFrom4(a), int(k.bits))
}

func (k v6Key) prefix() netip.Prefix {
	var a [16]byte
	for i := 0; i < 8; i++ {
		a[i] = byte(k.hi >> (56 - 8*i))
		a[8+i] = byte(k.lo >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), int(k.bits))
}

func keyV4(n wire.NLRI) v4Key {
	a := n.Prefix.Addr().As4()
	return v4Key{addr: uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]), pathID: n.PathID, bits: uint8(n.Prefix.Bits())}
}

func keyV6(n wire.NLRI) v6Key {
	a := n.Prefix.Addr().As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(a[i])
		lo = lo<<8 | uint64(a[8+i])
	}
	return v6Key{hi: hi, lo: lo, pathID: n.PathID, bits: uint8(n.Prefix.Bits())}
}

// ribTable is one (router, peer, table)'s routes. Its owner's lock guards it.
type ribTable struct {
	v4 map[v4Key]attrRef
	v6 map[v6Key]attrRef
	// eor records the End-of-RIB markers seen, by family.
	eor map[wire.Family]bool
	// pathIDs is set once a route with a non-zero path ID is stored: only
	// then must a prefix lookup scan instead of probing path ID zero.
	pathIDs bool
}

func newRIBTable() *ribTable {
	return &ribTable{v4: make(map[v4Key]attrRef), v6: make(map[v6Key]attrRef)}
}

func (t *ribTable) len() int { return len(t.v4) + len(t.v6) }

// set stores ref for n and returns the previous reference (zero if none).
// A route the table does not hold yet is stored only when room is true;
// stored reports whether ref was stored.
func (t *ribTable) set(n wire.NLRI, ref attrRef, room bool) (old attrRef, stored bool) {
	if n.Prefix.Addr().Is4() {
		k := keyV4(n)
		old = t.v4[k]
		if old == 0 && !room {
			return 0, false
		}
		t.v4[k] = ref
	} else {
		k := keyV6(n)
		old = t.v6[k]
		if old == 0 && !room {
			return 0, false
		}
		t.v6[k] = ref
	}
	if n.PathID != 0 {
		t.pathIDs = true
	}
	return old, true
}

// remove deletes n and returns its reference (zero if it was absent).
func (t *ribTable) remove(n wire.NLRI) attrRef {
	if n.Prefix.Addr().Is4() {
		k := keyV4(n)
		old, ok := t.v4[k]
		if ok {
			delete(t.v4, k)
		}
		return old
	}
	k := keyV6(n)
	old, ok := t.v6[k]
	if ok {
		delete(t.v6, k)
	}
	return old
}

// lookup returns the routes for prefix p, every path ID.
func (t *ribTable) lookup(p netip.Prefix, fn func(wire.NLRI, attrRef)) {
	p = p.Masked()
	if !t.pathIDs {
		n := wire.NLRI{Prefix: p}
		if p.Addr().Is4() {
			if r, ok := t.v4[keyV4(n)]; ok {
				fn(n, r)
			}
		} else if r, ok := t.v6[keyV6(n)]; ok {
			fn(n, r)
		}
		return
	}
	if p.Addr().Is4() {
		for k, r := range t.v4 {
			if k.bits == uint8(p.Bits()) && k.prefix() == p {
				fn(wire.NLRI{Prefix: p, PathID: k.pathID}, r)
			}
		}
		return
	}
	for k, r := range t.v6 {
		if k.bits == uint8(p.Bits()) && k.prefix() == p {
			fn(wire.NLRI{Prefix: p, PathID: k.pathID}, r)
		}
	}
}

// each calls fn for every route.
func (t *ribTable) each(fn func(wire.NLRI, attrRef)) {
	for k, r := range t.v4 {
		fn(wire.NLRI{Prefix: k.prefix(), PathID: k.pathID}, r)
	}
	for k, r := range t.v6 {
		fn(wire.NLRI{Prefix: k.prefix(), PathID: k.pathID}, r)
	}
}

// refs appends every route's reference, for releasing on flush.
func (t *ribTable) refs(dst []attrRef) []attrRef {
	for _, r := range t.v4 {
		dst = append(dst, r)
	}
	for _, r := range t.v6 {
		dst = append(dst, r)
	}
	return dst
}

// routePos orders the routes of a table for pagination: IPv4 before IPv6,
// then address, length and path ID.
type routePos struct {
	V6     bool   `json:"6,omitempty"`
	Hi     uint64 `json:"h,omitempty"`
	Lo     uint64 `json:"l"`
	Bits   uint8  `json:"b"`
	PathID uint32 `json:"p,omitempty"`
}

func (k v4Key) pos() routePos {
	return routePos{Lo: uint64(k.addr), Bits: k.bits, PathID: k.pathID}
}

func (k v6Key) pos() routePos {
	return routePos{V6: true, Hi: k.hi, Lo: k.lo, Bits: k.bits, PathID: k.pathID}
}

func posOf(n wire.NLRI) routePos {
	if n.Prefix.Addr().Is4() {
		return keyV4(n).pos()
	}
	return keyV6(n).pos()
}

func (a routePos) less(b routePos) bool {
	switch {
	case a.V6 != b.V6:
		return !a.V6
	case a.Hi != b.Hi:
		return a.Hi < b.Hi
	case a.Lo != b.Lo:
		return a.Lo < b.Lo
	case a.Bits != b.Bits:
		return a.Bits < b.Bits
	}
	return a.PathID < b.PathID
}

func (a routePos) nlri() wire.NLRI {
	if !a.V6 {
		return wire.NLRI{Prefix: v4Key{addr: uint32(a.Lo), bits: a.Bits}.prefix(), PathID: a.PathID}
	}
	return wire.NLRI{Prefix: v6Key{hi: a.Hi, lo: a.Lo, bits: a.Bits}.prefix(), PathID: a.PathID}
}

type posRef struct {
	pos routePos
	ref attrRef
}

// smallestAfter returns, in order, the k first routes of t after from (from
// the start when from is nil), of prefix pfx only when it is valid. It keeps
// a bounded max-heap, so a page of a large table costs O(n log k) time and
// O(k) memory, never a copy of the table.
func (t *ribTable) smallestAfter(from *routePos, pfx netip.Prefix, k int) []posRef {
	if k <= 0 {
		return nil
	}
	h := make(posHeap, 0, min(k, t.len()))
	add := func(p routePos, r attrRef) {
		if from != nil && !from.less(p) {
			return
		}
		if len(h) < k {
			h.push(posRef{p, r})
		} else if p.less(h[0].pos) {
			h[0] = posRef{p, r}
			h.down(0)
		}
	}
	if pfx.IsValid() {
		t.lookup(pfx, func(n wire.NLRI, r attrRef) { add(posOf(n), r) })
	} else {
		if from == nil || !from.V6 {
			for key, r := range t.v4 {
				add(key.pos(), r)
			}
		}
		for key, r := range t.v6 {
			add(key.pos(), r)
		}
	}
	out := []posRef(h)
	sort.Slice(out, func(i, j int) bool { return out[i].pos.less(out[j].pos) })
	return out
}

// posHeap is a max-heap on pos.
type posHeap []posRef

func (h *posHeap) push(x posRef) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[p].pos.less(s[i].pos) {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h posHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[l].pos.less(h[r].pos) {
			m = r
		}
		if !h[i].pos.less(h[m].pos) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
