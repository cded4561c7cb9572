//! [`UartPipe`]: an in-memory serial line. The device end implements `embedded-io`; the
//! host end is a plain API for tests. Optional transmit capacity models a slow host.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;

use embedded_io::{ErrorType, Read, ReadReady, Write, WriteReady};

#[derive(Debug, Default)]
struct Shared {
    to_device: VecDeque<u8>,
    to_host: VecDeque<u8>,
    /// Bytes the host end accepts before it must be drained (`None`: unlimited).
    host_capacity: Option<usize>,
}

/// The device end (what the firmware's runner reads and writes).
#[derive(Debug, Clone)]
pub struct DeviceEnd(Rc<RefCell<Shared>>);

/// The host end (what a test types and reads).
#[derive(Debug, Clone)]
pub struct HostEnd(Rc<RefCell<Shared>>);

/// A new serial line.
pub fn uart_pipe() -> (HostEnd, DeviceEnd) {
    let s = Rc::new(RefCell::new(Shared::default()));
    (HostEnd(s.clone()), DeviceEnd(s))
}

/// Alias for documentation: the pair returned by [`uart_pipe`].
pub type UartPipe = (HostEnd, DeviceEnd);

impl HostEnd {
    /// Send bytes to the device.
    pub fn send(&self, bytes: &[u8]) {
        self.0.borrow_mut().to_device.extend(bytes);
    }

    /// Take everything the device has written.
    pub fn recv(&self) -> Vec<u8> {
        self.0.borrow_mut().to_host.drain(..).collect()
    }

    /// Limit how many unread bytes the line holds toward the host.
    pub fn set_capacity(&self, cap: Option<usize>) {
        self.0.borrow_mut().host_capacity = cap;
    }
}

impl ErrorType for DeviceEnd {
    type Error = Infallible;
}

impl Read for DeviceEnd {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut s = self.0.borrow_mut();
        let n = buf.len().min(s.to_device.len());
        for (dst, src) in buf.iter_mut().zip(s.to_device.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl ReadReady for DeviceEnd {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.0.borrow().to_device.is_empty())
    }
}

impl Write for DeviceEnd {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let mut s = self.0.borrow_mut();
        let room = s.host_capacity.map_or(usize::MAX, |c| c.saturating_sub(s.to_host.len()));
        let n = buf.len().min(room);
        s.to_host.extend(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl WriteReady for DeviceEnd {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        let s = self.0.borrow();
        Ok(s.host_capacity.is_none_or(|c| s.to_host.len() < c))
    }
}
