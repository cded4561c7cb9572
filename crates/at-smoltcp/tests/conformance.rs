//! [`at_smoltcp::SmolNet`] against the at-hal network conformance suite, over smoltcp's
//! `Loopback` device.

mod common;

use at_hal::net::conformance;
use common::LoopbackHarness;

#[test]
fn smolnet_conforms() {
    conformance::run_all(LoopbackHarness::new);
}
