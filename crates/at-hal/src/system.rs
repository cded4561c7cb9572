//! System services: restart, heap figures, entropy.

/// What the chip (or the simulator) offers the `AT+RST`, `AT+RESTORE` and `AT+SYSRAM` commands.
pub trait System {
    /// Restart the firmware. On a device this does not return in practice; a host backend
    /// records the request and the runner rebuilds the core (which prints `ready` again).
    fn restart(&mut self);

    /// Heap figures for `AT+SYSRAM?`.
    fn heap(&self) -> HeapStats;
}

/// Heap figures, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapStats {
    /// Bytes free now.
    pub free: u32,
    /// The lowest `free` has been since boot.
    pub min_free: u32,
    /// The largest block that could be allocated now.
    pub largest_free_block: u32,
    /// Total heap size.
    pub total: u32,
}

/// A source of unpredictable bytes (the ESP32-C3 TRNG, the host OS, or a seeded test double).
pub trait Entropy {
    /// Fill `buf` with random bytes.
    fn fill_bytes(&mut self, buf: &mut [u8]);
}
