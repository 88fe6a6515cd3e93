//! The `bulkhead` binary's global allocator: power-of-two size classes carved from anonymous
//! chunks that are never unmapped, one free list per class.
//!
//! Why not musl's malloc: mallocng hands freed groups back to the kernel at once and maps them
//! again for the next allocation, so one `exec` made ~80 mmap/munmap calls (the munmaps alone
//! were ~12% of its CPU, with page faults on every re-mapped page). A runtime command lives
//! for milliseconds and allocates little: keeping what it freed for reuse costs nothing, and a
//! long-lived one (`run` in the foreground, `events`) reuses its blocks, so its memory stays
//! at the peak of what it held at once.
//!
//! Blocks of up to 128 KiB come from here; larger ones, and alignments over a page, go to the
//! system allocator. A block's class follows from its `Layout` alone, so `dealloc` needs no
//! header and no address lookup.
//! Fresh memory (never handed out) is zero already: `alloc_zeroed` touches only reused blocks.
//!
//! Only the `bulkhead` binary installs it (src/main.rs); bulkhead-bundle and the tests keep
//! the system allocator. The lock is a spin flag: the runtime is single-threaded whenever it
//! forks, so a child never inherits it held.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

const MIN_SHIFT: u32 = 4;
const MAX_SHIFT: u32 = 17;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const PAGE: usize = 4096;
/// Address space taken per mmap; only the pages written become resident.
const CHUNK: usize = 1 << 20;

struct Heap {
    /// Bump pointer into the current chunk, and its end.
    next: usize,
    end: usize,
    /// Head of each class's free list; a free block's first word points to the next one.
    free: [usize; CLASSES],
}

pub struct Classes {
    heap: UnsafeCell<Heap>,
}

/// The heap's lock, one for the process (there is one `Classes`, the global allocator).
static LOCK: AtomicBool = AtomicBool::new(false);

/// True while an allocation or free is under way, or after a process that shared our memory
/// (exec's CLONE_VM child) died inside one: then the free lists may be half-updated and the
/// next allocation would spin forever.
pub fn held() -> bool {
    LOCK.load(Ordering::Acquire)
}

// SAFETY: every access to `heap` holds `LOCK`.
unsafe impl Sync for Classes {}

impl Default for Classes {
    fn default() -> Self {
        Self::new()
    }
}

/// The class index and block size for a layout, or None when the system allocator serves it.
fn class_of(l: Layout) -> Option<(usize, usize)> {
    let want = l.size().max(l.align()).max(1 << MIN_SHIFT);
    if want > 1 << MAX_SHIFT || l.align() > PAGE {
        return None;
    }
    let size = want.next_power_of_two();
    Some(((size.trailing_zeros() - MIN_SHIFT) as usize, size))
}

impl Classes {
    pub const fn new() -> Self {
        Classes { heap: UnsafeCell::new(Heap { next: 0, end: 0, free: [0; CLASSES] }) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Heap) -> R) -> R {
        while LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held.
        let r = f(unsafe { &mut *self.heap.get() });
        LOCK.store(false, Ordering::Release);
        r
    }

    /// A block of class `class` (`size` bytes, aligned to min(size, page)); `fresh` when it was
    /// never handed out (still zero from the kernel). Memory already touched comes first: a
    /// free block of this class, else one of a larger class split in halves (the halves not
    /// used go to their classes' lists), and only then new memory.
    #[inline(never)]
    fn take(&self, class: usize, size: usize) -> (*mut u8, bool) {
        self.with(|h| {
            if let Some(from) = (class..CLASSES).find(|c| h.free[*c] != 0) {
                let head = h.free[from];
                // SAFETY: a free block holds the next free block's address in its first word.
                h.free[from] = unsafe { *(head as *const usize) };
                for c in class..from {
                    let half = head + (1 << (c as u32 + MIN_SHIFT));
                    // SAFETY: the upper half of the block split is free and ours.
                    unsafe { *(half as *mut usize) = h.free[c] };
                    h.free[c] = half;
                }
                return (head as *mut u8, false);
            }
            let align = size.min(PAGE);
            let mut at = (h.next + align - 1) & !(align - 1);
            if h.next == 0 || at + size > h.end {
                let len = CHUNK.max(size);
                // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
                let p = unsafe { libc::mmap(null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
                if p == libc::MAP_FAILED {
                    return (null_mut(), false);
                }
                at = p as usize;
                h.end = at + len;
            }
            h.next = at + size;
            (at as *mut u8, true)
        })
    }

    #[inline(never)]
    fn give(&self, class: usize, p: *mut u8) {
        self.with(|h| {
            // SAFETY: the block is ours again and at least a word long and word aligned.
            unsafe { *(p as *mut usize) = h.free[class] };
            h.free[class] = p as usize;
        })
    }
}

unsafe impl GlobalAlloc for Classes {
    // Not inlined into every allocation site (4.37 -> 4.69 MB of text, +190 KiB resident).
    #[inline(never)]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        match class_of(l) {
            Some((class, size)) => self.take(class, size).0,
            None => unsafe { System.alloc(l) },
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        match class_of(l) {
            Some((class, size)) => {
                let (p, fresh) = self.take(class, size);
                if !p.is_null() && !fresh {
                    unsafe { p.write_bytes(0, l.size()) };
                }
                p
            }
            None => unsafe { System.alloc_zeroed(l) },
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        match class_of(l) {
            Some((class, _)) => self.give(class, p),
            None => unsafe { System.dealloc(p, l) },
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (from_size_align_unchecked): GlobalAlloc's contract keeps new_size valid for l's alignment.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        match (class_of(l), class_of(new)) {
            // Same block size: the block already fits.
            (Some((a, _)), Some((b, _))) if a == b => p,
            (None, None) => unsafe { System.realloc(p, l, new_size) },
            _ => {
                let q = unsafe { self.alloc(new) };
                if !q.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                        self.dealloc(p, l);
                    }
                }
                q
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lay(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes_by_size_and_alignment() {
        assert_eq!(class_of(lay(1, 1)), Some((0, 16)));
        assert_eq!(class_of(lay(17, 8)), Some((1, 32)));
        assert_eq!(class_of(lay(8, 64)), Some((2, 64)));
        assert_eq!(class_of(lay(65_536, 1)), Some((12, 65_536)));
        assert_eq!(class_of(lay(1 << 17, 8)), Some((CLASSES - 1, 1 << 17)));
        assert_eq!(class_of(lay((1 << 17) + 1, 8)), None);
        assert_eq!(class_of(lay(64, 8192)), None);
    }

    #[test]
    fn blocks_are_aligned_distinct_and_reused() {
        let a = Classes::new();
        unsafe {
            let mut seen = Vec::new();
            for (size, align) in [(1, 1), (24, 8), (100, 16), (5000, 8), (4096, 4096), (70_000, 8), (300_000, 8), (64, 8192)] {
                let l = lay(size, align);
                let p = a.alloc(l);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "{size}/{align}");
                p.write_bytes(0xab, size);
                seen.push((p as usize, size, l));
            }
            let mut spans: Vec<_> = seen.iter().map(|(p, s, _)| (*p, *p + s)).collect();
            spans.sort();
            assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlapping blocks: {spans:x?}");
            // A freed block is the next one of its class: nothing goes back to the kernel.
            let (p, _, l) = seen[3];
            a.dealloc(p as *mut u8, l);
            assert_eq!(a.alloc(lay(4500, 8)) as usize, p);
            // An empty class splits a larger free block: 4096 bytes of the 8192 freed above.
            let (p8k, _, l8k) = seen[3];
            a.dealloc(p8k as *mut u8, l8k);
            assert_eq!(a.alloc(lay(4000, 8)) as usize, p8k);
            assert_eq!(a.alloc(lay(4000, 8)) as usize, p8k + 4096);
            // Reused memory is zeroed on request.
            let (p, _, l) = seen[5];
            a.dealloc(p as *mut u8, l);
            let z = a.alloc_zeroed(lay(65_537, 8));
            assert_eq!(z as usize, p);
            assert!(std::slice::from_raw_parts(z, 65_537).iter().all(|b| *b == 0));
        }
    }

    #[test]
    fn realloc_keeps_contents_across_classes_and_the_system_allocator() {
        let a = Classes::new();
        unsafe {
            let l = lay(10, 1);
            let p = a.alloc(l);
            p.copy_from_nonoverlapping(b"0123456789".as_ptr(), 10);
            // Same class (16 bytes): same block.
            assert_eq!(a.realloc(p, l, 16), p);
            let q = a.realloc(p, lay(16, 1), 1000);
            let r = a.realloc(q, lay(1000, 1), 200_000);
            let s = a.realloc(r, lay(200_000, 1), 300_000);
            let t = a.realloc(s, lay(300_000, 1), 20);
            assert_eq!(std::slice::from_raw_parts(t, 10), b"0123456789");
            a.dealloc(t, lay(20, 1));
        }
    }
}
