//! Blocks written once: which tiles of an output array have been copied
//! into it (`array_store`). A job delivered twice stores the same tile
//! twice, possibly at once on two threads; the first delivery to claim the
//! tile copies it, and the other skips, so that no block is ever written
//! by two threads or written again once written (other threads may be
//! reading it).

use std::sync::atomic::{AtomicU8, Ordering};

/// The state of each of a grid's tiles, by index.
pub struct WriteOnce {
    states: Vec<AtomicU8>,
}

#[repr(u8)]
enum State {
    Unwritten,
    Writing,
    Written,
}

impl WriteOnce {
    /// `tiles` tiles, none written.
    pub fn new(tiles: usize) -> WriteOnce {
        WriteOnce {
            states: (0..tiles)
                .map(|_| AtomicU8::new(State::Unwritten as u8))
                .collect(),
        }
    }

    /// Runs `write` for tile `index` and marks it written, unless another
    /// call has claimed the tile first (it is written, or being written);
    /// returns whether `write` ran. A claim that finds the tile being
    /// written returns at once: the other call writes the same bits.
    pub fn write(&self, index: usize, write: impl FnOnce()) -> bool {
        let state = &self.states[index];
        let claimed = state.compare_exchange(
            State::Unwritten as u8,
            State::Writing as u8,
            Ordering::Acquire,
            Ordering::Relaxed,
        );
        if claimed.is_ok() {
            write();
            // Release: a reader that sees the tile written sees its bits.
            state.store(State::Written as u8, Ordering::Release);
        }
        claimed.is_ok()
    }

    /// Whether tile `index` is written (and so never written again).
    pub fn is_written(&self, index: usize) -> bool {
        self.states[index].load(Ordering::Acquire) == State::Written as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::AtomicUsize;

    /// A second delivery of a tile, after the first, writes nothing.
    #[test]
    fn a_tile_is_written_by_its_first_delivery_only() {
        let tiles = WriteOnce::new(3);
        let writes = AtomicUsize::new(0);
        let count = || {
            writes.fetch_add(1, Ordering::Relaxed);
        };
        assert!(!tiles.is_written(1));
        assert!(tiles.write(1, count));
        assert!(tiles.is_written(1));
        assert!(!tiles.write(1, count));
        assert_eq!(writes.load(Ordering::Relaxed), 1);
        assert!(!tiles.is_written(0) && !tiles.is_written(2));
    }

    /// Deliveries of every tile on several threads at once, in the same
    /// order from a common start so that their claims collide: each tile
    /// is written exactly once, by one thread, and is written when they
    /// end.
    #[test]
    fn concurrent_deliveries_write_each_tile_once() {
        const TILES: usize = 256;
        const THREADS: usize = 4;
        for _round in 0..200 {
            let tiles = WriteOnce::new(TILES);
            let writes: Vec<AtomicUsize> = (0..TILES).map(|_| AtomicUsize::new(0)).collect();
            let claimed = AtomicUsize::new(0);
            let start = Barrier::new(THREADS);
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| {
                        start.wait();
                        for (index, count) in writes.iter().enumerate() {
                            let ran = tiles.write(index, || {
                                count.fetch_add(1, Ordering::Relaxed);
                            });
                            claimed.fetch_add(ran as usize, Ordering::Relaxed);
                        }
                    });
                }
            });
            let counts: Vec<usize> = writes.iter().map(|w| w.load(Ordering::Relaxed)).collect();
            assert_eq!(counts, vec![1; TILES]);
            assert_eq!(claimed.load(Ordering::Relaxed), TILES);
            assert!((0..TILES).all(|i| tiles.is_written(i)));
        }
    }
}
