//! [`FileFlash`]: a NOR flash image in a file, for settings and partitions that must survive
//! restarts of the simulator.
//!
//! It follows NOR rules like the chip: erase sets a 4 KiB sector to `0xFF`, programming can
//! only clear bits (the stored byte becomes `old & new`). Every operation reaches the file
//! before it returns (`sync_data`), so killing the simulator is a power cut.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
};

/// Errors of [`FileFlash`].
#[derive(Debug)]
pub enum FileFlashError {
    /// Misaligned or out of bounds.
    Nor(NorFlashErrorKind),
    /// The file failed.
    Io(io::Error),
}

impl NorFlashError for FileFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FileFlashError::Nor(k) => *k,
            FileFlashError::Io(_) => NorFlashErrorKind::Other,
        }
    }
}

impl std::fmt::Display for FileFlashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileFlashError::Nor(k) => write!(f, "flash access error: {k:?}"),
            FileFlashError::Io(e) => write!(f, "flash file: {e}"),
        }
    }
}

/// A flash image of fixed size in a file.
#[derive(Debug)]
pub struct FileFlash {
    file: File,
    size: u32,
}

impl FileFlash {
    /// Open `path`; create it erased (all `0xFF`) with `size` bytes if it does not exist.
    /// An existing file must have exactly `size` bytes.
    pub fn open(path: &Path, size: u32) -> io::Result<FileFlash> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            let blank = vec![0xffu8; size as usize];
            file.write_all_at(&blank, 0)?;
            file.sync_data()?;
        } else if len != u64::from(size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {len} bytes, expected a {size}-byte flash image", path.display()),
            ));
        }
        Ok(FileFlash { file, size })
    }

    /// Open an existing image read-only... for inspection: writes fail.
    pub fn open_existing(path: &Path) -> io::Result<FileFlash> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let size = u32::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "flash image larger than 4 GiB"))?;
        Ok(FileFlash { file, size })
    }
}

impl ErrorType for FileFlash {
    type Error = FileFlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FileFlashError> {
        check_read(self, offset, bytes.len()).map_err(FileFlashError::Nor)?;
        self.file.read_exact_at(bytes, u64::from(offset)).map_err(FileFlashError::Io)
    }

    fn capacity(&self) -> usize {
        self.size as usize
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FileFlashError> {
        check_erase(self, from, to).map_err(FileFlashError::Nor)?;
        let blank = vec![0xffu8; (to - from) as usize];
        self.file.write_all_at(&blank, u64::from(from)).map_err(FileFlashError::Io)?;
        self.file.sync_data().map_err(FileFlashError::Io)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FileFlashError> {
        check_write(self, offset, bytes.len()).map_err(FileFlashError::Nor)?;
        let mut old = vec![0u8; bytes.len()];
        self.file.read_exact_at(&mut old, u64::from(offset)).map_err(FileFlashError::Io)?;
        for (o, n) in old.iter_mut().zip(bytes) {
            *o &= n;
        }
        self.file.write_all_at(&old, u64::from(offset)).map_err(FileFlashError::Io)?;
        self.file.sync_data().map_err(FileFlashError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nor_rules_and_persistence() {
        let dir = std::env::temp_dir().join(format!("at-host-flash-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let mut f = FileFlash::open(&dir, 8192).unwrap();
        let mut b = [0u8; 4];
        f.read(4096, &mut b).unwrap();
        assert_eq!(b, [0xff; 4]);
        f.write(4096, &[0x0f, 0xf0, 0x00, 0xff]).unwrap();
        f.write(4096, &[0xff, 0xff, 0xff, 0x0f]).unwrap();
        drop(f);
        let mut f = FileFlash::open(&dir, 8192).unwrap();
        f.read(4096, &mut b).unwrap();
        assert_eq!(b, [0x0f, 0xf0, 0x00, 0x0f]);
        assert!(f.write(4097, &[0; 4]).is_err(), "misaligned");
        assert!(f.erase(0, 100).is_err(), "partial sector");
        f.erase(4096, 8192).unwrap();
        f.read(4096, &mut b).unwrap();
        assert_eq!(b, [0xff; 4]);
        assert!(FileFlash::open(&dir, 4096).is_err(), "size mismatch");
        std::fs::remove_file(&dir).unwrap();
    }
}
