//! [`DriverDevice`]: a smoltcp [`Device`] over an embassy-net-driver 0.2 [`Driver`].
//!
//! esp-radio's Wi-Fi `Interface` implements `embassy_net_driver::Driver` (its smoltcp
//! `Device` implementation is gone since esp-wifi became esp-radio). The driver's methods take
//! a task [`Context`] to register wakers; this adapter polls with a no-op waker, because the
//! caller polls the stack from its main loop anyway (its deadline says when).

use core::task::{Context, Waker};

use embassy_net_driver::{Driver, LinkState};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;

/// A smoltcp device over an embassy-net-driver [`Driver`] (Ethernet medium). See the module
/// docs.
#[derive(Debug)]
pub struct DriverDevice<D: Driver> {
    driver: D,
}

impl<D: Driver> DriverDevice<D> {
    /// Wrap `driver`.
    pub fn new(driver: D) -> Self {
        DriverDevice { driver }
    }

    /// The wrapped driver.
    pub fn driver_mut(&mut self) -> &mut D {
        &mut self.driver
    }

    /// The driver's link state (for Wi-Fi: associated with an AP or not).
    pub fn link_up(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.driver.link_state(&mut cx) == LinkState::Up
    }

    /// The driver's Ethernet (MAC) address, as smoltcp spells it; `None` for a driver of
    /// another medium (this crate's smoltcp is built for Ethernet only).
    pub fn hardware_address(&self) -> Option<smoltcp::wire::HardwareAddress> {
        match self.driver.hardware_address() {
            embassy_net_driver::HardwareAddress::Ethernet(mac) => {
                Some(smoltcp::wire::HardwareAddress::Ethernet(smoltcp::wire::EthernetAddress(mac)))
            }
            _ => None,
        }
    }
}

/// A received frame (and the transmit token smoltcp may answer with).
pub struct Rx<T>(T);
/// Room for one frame to send.
pub struct Tx<T>(T);

impl<T: embassy_net_driver::RxToken> RxToken for Rx<T> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        self.0.consume(|buf| f(buf))
    }
}

impl<T: embassy_net_driver::TxToken> TxToken for Tx<T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.0.consume(len, f)
    }
}

impl<D: Driver> Device for DriverDevice<D> {
    type RxToken<'a>
        = Rx<D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let mut cx = Context::from_waker(Waker::noop());
        self.driver.receive(&mut cx).map(|(rx, tx)| (Rx(rx), Tx(tx)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let mut cx = Context::from_waker(Waker::noop());
        self.driver.transmit(&mut cx).map(Tx)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let caps = self.driver.capabilities();
        let mut out = DeviceCapabilities::default();
        // The only medium compiled into this crate's smoltcp (see `hardware_address`).
        out.medium = Medium::Ethernet;
        out.max_transmission_unit = caps.max_transmission_unit;
        out.max_burst_size = caps.max_burst_size;
        out
    }
}
