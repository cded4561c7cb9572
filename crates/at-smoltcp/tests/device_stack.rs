//! The ESP32-C3 firmware's whole stack on the host — `at_core::Firmware`, at-links,
//! `SmolNet` over smoltcp's `Loopback` and the device's TLS (`at_tls_mbedtls`, MbedTLS) —
//! through the AT port: five links, four TCP and one SSL (an MbedTLS server peer), every byte
//! checked as `+IPD` and at the peers. It is `examples/device_heap.rs`, which `ram-budget.sh`
//! also runs under valgrind to measure the heap: a TCP echo and an SSL handshake through the
//! same code the chip runs.

#[allow(dead_code)]
#[path = "../examples/device_heap.rs"]
mod device_heap;

#[test]
fn five_links_one_ssl_through_the_device_stack() {
    device_heap::main();
}
