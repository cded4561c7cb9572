//! [`ReadOnlyFlash`]: lets a flash that only implements `ReadNorFlash` back a [`Kv`] store.
//!
//! [`Kv`]: at_hal::kv::Kv

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

/// Wraps a [`ReadNorFlash`] as a [`NorFlash`] whose `write` and `erase` always fail, so that
/// `Nvs::mount_read_only(ReadOnlyFlash(flash), keys)` implements [`Kv`](at_hal::kv::Kv) (all
/// writes answer [`KvError::ReadOnly`](at_hal::kv::KvError::ReadOnly) before reaching the flash).
#[derive(Debug)]
pub struct ReadOnlyFlash<F>(pub F);

/// Errors of [`ReadOnlyFlash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOnlyFlashError<E> {
    /// The wrapped flash failed.
    Inner(E),
    /// A write or erase was attempted.
    WriteAttempted,
}

impl<E: NorFlashError> NorFlashError for ReadOnlyFlashError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            ReadOnlyFlashError::Inner(e) => e.kind(),
            ReadOnlyFlashError::WriteAttempted => NorFlashErrorKind::Other,
        }
    }
}

impl<F: ReadNorFlash> ErrorType for ReadOnlyFlash<F> {
    type Error = ReadOnlyFlashError<F::Error>;
}

impl<F: ReadNorFlash> ReadNorFlash for ReadOnlyFlash<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes).map_err(ReadOnlyFlashError::Inner)
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<F: ReadNorFlash> NorFlash for ReadOnlyFlash<F> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, _from: u32, _to: u32) -> Result<(), Self::Error> {
        Err(ReadOnlyFlashError::WriteAttempted)
    }

    fn write(&mut self, _offset: u32, _bytes: &[u8]) -> Result<(), Self::Error> {
        Err(ReadOnlyFlashError::WriteAttempted)
    }
}
