//! A small seeded generator for the doubles' faults and for [`SeededEntropy`]. Not
//! cryptographic: tests want the same run for the same seed.

use at_hal::system::Entropy;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and every seed gives a full-period
/// sequence.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// `true` with probability `p` (clamped to `0.0..=1.0`).
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits → [0, 1).
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

/// Deterministic "random" bytes for tests (a [`SplitMix64`] stream).
#[derive(Debug, Clone)]
pub struct SeededEntropy(SplitMix64);

impl SeededEntropy {
    /// Entropy from `seed`.
    pub fn new(seed: u64) -> Self {
        SeededEntropy(SplitMix64::new(seed))
    }
}

impl Entropy for SeededEntropy {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.0.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut e = SeededEntropy::new(1);
        let mut buf = [0u8; 13];
        e.fill_bytes(&mut buf);
        assert_ne!(buf, [0u8; 13]);
        assert!((0..1000).all(|_| a.below(10) < 10));
        assert!(!a.chance(0.0) && a.chance(1.0));
    }
}
