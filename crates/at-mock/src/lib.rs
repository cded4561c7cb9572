//! # at-mock: deterministic test doubles
//!
//! Stackable, seeded, and free of real time: every double here is driven by the test.
//!
//! * [`wifi`] — [`SimWifi`], a Wi-Fi station with simulated access points, join and scan
//!   latencies and faults (an AP can disappear).
//! * [`net`] — [`SimNet`], an IP stack (DHCP, DNS, SNTP, TCP/UDP sockets) whose remote hosts
//!   are scripted by the test, with seeded faults: refused, reset, partial writes, delay, loss.
//! * [`iface`] — [`SimInterface`], the interface's addressing (DHCP, static IP, SNTP), shared
//!   with the PC's real-socket backend.
//! * [`rng`] — a seeded generator and [`SeededEntropy`].
//! * [`uart`] — an in-memory serial line; the device end implements `embedded-io`.
//! * [`platform`] — [`MockPlatform`]: all doubles bundled as an `at_hal::Platform`, settings in
//!   any `Kv` (in memory by default).
//! * [`flash`] — an emulated NOR flash (erase to `0xFF`, writes only clear bits, alignment and
//!   bounds checked) that can cut power at any write or erase, byte-granular.
//!
//! Time is whatever `Instant` the test passes; nothing here reads a clock.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod flash;
pub mod iface;
pub mod net;
pub mod platform;
pub mod rng;
pub mod uart;
pub mod wifi;

pub use iface::SimInterface;
pub use net::{Faults, NetTiming, PeerId, PeerState, SimNet};
pub use platform::{MockPlatform, MockSystem, MockUartControl};
pub use rng::{SeededEntropy, SplitMix64};
pub use uart::{DeviceEnd, HostEnd, uart_pipe};
pub use wifi::{SimAp, SimWifi, Timing};
