//! Restart, heap figures, entropy and the clock.

use alloc::vec::Vec;

use at_hal::system::{Entropy, HeapStats, System};
use at_hal::time::{Clock, Instant};
use esp_hal::rng::{Trng, TrngSource};

/// `AT+RST` and `AT+SYSRAM` on the chip.
#[derive(Debug, Default)]
pub struct ChipSystem;

impl System for ChipSystem {
    /// A software reset of the whole chip (esp-hal's `system::software_reset`, the ROM's
    /// `software_reset`): the bootloader runs again and the firmware prints `ready` anew.
    fn restart(&mut self) {
        log::info!("AT+RST: software reset");
        esp_hal::system::software_reset()
    }

    /// From esp-alloc: `total` is the heap's size, `free` what is not allocated, `min_free`
    /// the low-water mark since boot (esp-alloc's `internal-heap-stats` high-water mark of use),
    /// and `largest_free_block` the largest single allocation that succeeds now, found by
    /// probing (esp-alloc has no query for it; about 18 allocate/free pairs, only when
    /// `AT+SYSRAM?` asks).
    fn heap(&self) -> HeapStats {
        let s = esp_alloc::HEAP.stats();
        let free = s.size.saturating_sub(s.current_usage);
        let min_free = s.size.saturating_sub(s.max_usage);
        HeapStats {
            free: to_u32(free),
            min_free: to_u32(min_free),
            largest_free_block: to_u32(largest_allocation(free)),
            total: to_u32(s.size),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The largest `n <= limit` for which an `n`-byte allocation succeeds now (binary search with
/// fallible allocations: a failure returns an error, it does not abort).
fn largest_allocation(limit: usize) -> usize {
    let (mut lo, mut hi) = (0usize, limit);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let mut probe: Vec<u8> = Vec::new();
        if probe.try_reserve_exact(mid).is_ok() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Random bytes from the C3's hardware RNG with the SAR ADC as its entropy source
/// (esp-hal's [`TrngSource`] + [`Trng`]).
///
/// The RNG's output is only *true* random while a physical noise source feeds it: the radio
/// (Wi-Fi/BLE on) or the SAR ADC. This milestone has no radio, so it enables the ADC source,
/// which occupies `ADC1` for the firmware's lifetime (no application ADC use). Once the radio is
/// integrated it is a source too; the ADC source can then be dropped if ADC1 is needed.
pub struct HwEntropy {
    trng: Trng,
    // Keeps the ADC entropy source on while `trng` is used (never dropped).
    _source: TrngSource<'static>,
}

impl HwEntropy {
    /// Turn on the ADC entropy source and open the TRNG.
    pub fn new(rng: esp_hal::peripherals::RNG<'static>, adc1: esp_hal::peripherals::ADC1<'static>) -> Self {
        let source = TrngSource::new(rng, adc1);
        match Trng::try_new() {
            Ok(trng) => HwEntropy { trng, _source: source },
            // Unreachable: the source was enabled just above.
            Err(e) => panic!("TRNG unavailable although its ADC source is on: {e:?}"),
        }
    }
}

impl HwEntropy {
    /// Another handle on the same TRNG (MbedTLS's random source); valid while this
    /// `HwEntropy`, which keeps the ADC source on, lives (the firmware's lifetime).
    pub fn trng(&self) -> Trng {
        self.trng.clone()
    }
}

impl Entropy for HwEntropy {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        self.trng.read(buf);
    }
}

/// The monotonic clock: esp-hal's time since boot (SYSTIMER, microseconds).
#[derive(Debug, Default, Clone, Copy)]
pub struct ChipClock;

impl Clock for ChipClock {
    fn now(&self) -> Instant {
        now()
    }
}

/// Microseconds since boot as the core's [`Instant`].
pub fn now() -> Instant {
    Instant::from_micros(esp_hal::time::Instant::now().duration_since_epoch().as_micros())
}
