//! ESP-AT error codes (`ERR CODE:0x01SSEEEE`) and the error value every handler returns.
//!
//! Encoding, from ESP-AT's `esp_at_core.h` (`ESP_AT_ERROR_NO(sub, ext)`) and the AT+SYSLOG
//! documentation: `[category 0x01][subcategory: 8 bits][extension: 16 bits]`.

use core::fmt;

/// The subcategory byte of an ESP-AT error code (`esp_at_error_code` in `esp_at_core.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SubCode {
    /// `ESP_AT_SUB_OK`
    Ok = 0x00,
    /// `ESP_AT_SUB_COMMON_ERROR` (reserved)
    Common = 0x01,
    /// `ESP_AT_SUB_NO_TERMINATOR`: terminator not found ("\r\n" expected).
    NoTerminator = 0x02,
    /// `ESP_AT_SUB_NO_AT`: starting "AT" not found (or at, At or aT entered).
    NoAt = 0x03,
    /// `ESP_AT_SUB_PARA_LENGTH_MISMATCH`: parameter length mismatch.
    ParaLength = 0x04,
    /// `ESP_AT_SUB_PARA_TYPE_MISMATCH`: parameter type mismatch.
    ParaType = 0x05,
    /// `ESP_AT_SUB_PARA_NUM_MISMATCH`: parameter number mismatch.
    ParaNum = 0x06,
    /// `ESP_AT_SUB_PARA_INVALID`: parameter invalid.
    ParaInvalid = 0x07,
    /// `ESP_AT_SUB_PARA_PARSE_FAIL`: parse parameter fail.
    ParaParseFail = 0x08,
    /// `ESP_AT_SUB_UNSUPPORT_CMD`: command not supported.
    UnsupportedCmd = 0x09,
    /// `ESP_AT_SUB_CMD_EXEC_FAIL`: command execution failed.
    ExecFail = 0x0A,
    /// `ESP_AT_SUB_CMD_PROCESSING`: previous command is still processing.
    Processing = 0x0B,
    /// `ESP_AT_SUB_CMD_OP_ERROR`: the command operation type is wrong.
    OpError = 0x0C,
}

/// A 32-bit ESP-AT error code as printed by `ERR CODE:0x%08x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// `ESP_AT_MODULE_NUM`: the category byte of every AT core error.
    pub const MODULE: u32 = 0x01;

    /// `ESP_AT_ERROR_NO(sub, ext)`.
    pub const fn new(sub: SubCode, ext: u16) -> Self {
        ErrorCode((Self::MODULE << 24) | ((sub as u32) << 16) | ext as u32)
    }

    /// `0x01090000`: unknown command.
    pub const UNSUPPORTED: ErrorCode = ErrorCode::new(SubCode::UnsupportedCmd, 0);
    /// `0x010b0000`: input while a command runs (`busy p...`).
    pub const BUSY: ErrorCode = ErrorCode::new(SubCode::Processing, 0);
    /// `0x01030000`: line does not start with `AT`.
    pub const NO_AT: ErrorCode = ErrorCode::new(SubCode::NoAt, 0);
    /// `0x01020000`: line not terminated by CR LF.
    pub const NO_TERMINATOR: ErrorCode = ErrorCode::new(SubCode::NoTerminator, 0);
    /// `0x010c0000`: the command exists but not in this form (e.g. `?` on a set-only command).
    pub const OP_ERROR: ErrorCode = ErrorCode::new(SubCode::OpError, 0);

    /// `PARA_LENGTH(which)`: parameter `which` (0-based) has a bad length.
    pub const fn para_length(which: usize) -> Self {
        Self::new(SubCode::ParaLength, which as u16)
    }
    /// `PARA_TYPE(which)`: parameter `which` has the wrong type (string vs. number).
    pub const fn para_type(which: usize) -> Self {
        Self::new(SubCode::ParaType, which as u16)
    }
    /// `PARA_NUM(need, given)`.
    pub const fn para_num(need: usize, given: usize) -> Self {
        let need = if need > 0xff { 0xff } else { need as u16 };
        let given = if given > 0xff { 0xff } else { given as u16 };
        Self::new(SubCode::ParaNum, (need << 8) | given)
    }
    /// `PARA_INVALID(which)`: parameter `which` is out of range or not allowed.
    pub const fn para_invalid(which: usize) -> Self {
        Self::new(SubCode::ParaInvalid, which as u16)
    }
    /// `PARA_PARSE_FAIL(which)`: parameter `which` could not be parsed.
    pub const fn para_parse_fail(which: usize) -> Self {
        Self::new(SubCode::ParaParseFail, which as u16)
    }
    /// `CMD_EXEC_FAIL(result)`: the handler failed with a command-specific `result`.
    pub const fn exec_fail(result: u16) -> Self {
        Self::new(SubCode::ExecFail, result)
    }

    /// The subcategory byte.
    pub const fn sub(self) -> u8 {
        (self.0 >> 16) as u8
    }

    /// The extension half-word.
    pub const fn ext(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for ErrorCode {
    /// `0x%08x`, as ESP-AT prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// Why a command's execution failed (`ESP_AT_SUB_CMD_EXEC_FAIL`, `ERR CODE:0x010aXXXX`): one
/// table for every built-in handler, so each failure has one name, one reason and one code.
///
/// ESP-AT's documentation (Basic_AT_Commands, AT+SYSLOG) defines the subcategory `0x0A`,
/// "command execution failed", and leaves the 16-bit extension to each command. Its shipped
/// core (v4.1.1.0, ESP32-C3) prints an `ERR CODE` line for very few of them — AT+SYSFLASH
/// (`0..3`), AT+CWJAP? without an SSID (`0`) — and a bare `ERROR` for the rest, including a
/// failed AT+CWJAP (which prints `+CWJAP:<code>` instead). [`ExecFail::printed`] follows that
/// firmware exactly; [`ExecFail::code`] is the firmware's number where it prints one, and
/// otherwise a number of this firmware's (never printed, kept in the API). Failures ESP-AT does
/// not report at all — an unreadable `mfg_nvs`, a refused key read — have codes from `0x100`
/// and *are* printed: they are the point of this firmware. `docs/compat.md` has the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExecFail {
    /// `+CWJAP:1`: the join timed out.
    JoinTimeout,
    /// `+CWJAP:2`: wrong password.
    JoinWrongPassword,
    /// `+CWJAP:3`: the AP was not found.
    JoinNoAp,
    /// `+CWJAP:4`: the join failed for another reason.
    JoinFailed,
    /// Station mode is off (AT+CWMODE=0 or 2).
    StationOff,
    /// AT+CWJAP without parameters and no stored AP.
    NoStoredAp,
    /// The Wi-Fi driver refused the operation.
    WifiDriver,
    /// A scan did not finish in time.
    ScanTimeout,
    /// The IP stack refused the setting.
    Network,
    /// `AT+RST=1`: download mode is not available.
    NoDownloadMode,
    /// The wall clock cannot be printed.
    ClockRange,
    /// Writing a setting to flash failed.
    SettingsSave,
    /// Erasing the settings (AT+RESTORE) failed.
    SettingsErase,
    /// AT+SYSFLASH: no such user partition (ESP-AT `0x010a0000`).
    FlashPartitionNotFound,
    /// AT+SYSFLASH: offset or length outside the partition or misaligned (`0x010a0001`).
    FlashRange,
    /// AT+SYSFLASH: erasing failed (`0x010a0002`).
    FlashErase,
    /// AT+SYSFLASH: reading or writing failed (`0x010a0003`).
    FlashIo,
    /// `mfg_nvs`'s partition is missing from ESP-AT's secondary partition table.
    MfgPartitionNotFound,
    /// ESP-AT's secondary partition table is unreadable (flash-encrypted, read plain).
    MfgTableUnreadable,
    /// `mfg_nvs` is flash-encrypted but read as plain (the seed bug).
    MfgFlashEncrypted,
    /// `mfg_nvs` is NVS-encrypted and no keys were given.
    MfgNvsKeysMissing,
    /// The NVS keys do not decrypt `mfg_nvs`.
    MfgNvsKeysWrong,
    /// `mfg_nvs` uses a newer NVS format.
    MfgNvsNewer,
    /// `mfg_nvs` holds nothing recognisable.
    MfgGarbage,
    /// No such namespace or key.
    MfgNotFound,
    /// The value changed while it was read.
    MfgChanged,
    /// `mfg_nvs` is full.
    MfgFull,
    /// `mfg_nvs` is read-only.
    MfgReadOnly,
    /// A stored entry failed its CRC.
    MfgCorrupt,
    /// Authentication failed (wrong key or tampering).
    MfgAuthentication,
    /// Flash I/O error on `mfg_nvs`.
    MfgFlash,
    /// A write was cancelled with `+++`.
    WriteCancelled,
    /// Raw partition access is not available on this platform.
    PartitionsUnsupported,
    /// Private keys are not readable over AT.
    KeyReadRefused,
    /// A certificate or key the SSL link or server needs is not in `mfg_nvs` (ESP-AT's
    /// `NO CERT FOUND` / `NO PRVT_KEY FOUND` / `NO CA FOUND`).
    CertMissing,
    /// The entry exists and is empty (ESP-AT's log: `cert_len=0`).
    CertEmpty,
    /// The entry is not a valid PEM/DER certificate or key of its kind.
    CertInvalid,
    /// The private key does not belong to the certificate.
    KeyMismatch,
    /// The TLS implementation refused the credentials or parameters.
    TlsConfig,
    /// The TLS handshake failed (peer certificate rejected, alert, protocol error, timeout).
    TlsHandshake,
}

impl ExecFail {
    /// The extension half-word of `ERR CODE:0x010aXXXX`.
    pub const fn code(self) -> u16 {
        match self {
            ExecFail::JoinTimeout => 0x01,
            ExecFail::JoinWrongPassword => 0x02,
            ExecFail::JoinNoAp => 0x03,
            ExecFail::JoinFailed => 0x04,
            ExecFail::StationOff => 0x05,
            ExecFail::NoStoredAp => 0x06,
            ExecFail::WifiDriver => 0x07,
            ExecFail::ScanTimeout => 0x08,
            ExecFail::Network => 0x09,
            ExecFail::NoDownloadMode => 0x0a,
            ExecFail::ClockRange => 0x0b,
            ExecFail::SettingsSave => 0x10,
            ExecFail::SettingsErase => 0x11,
            ExecFail::FlashPartitionNotFound => 0x00,
            ExecFail::FlashRange => 0x01,
            ExecFail::FlashErase => 0x02,
            ExecFail::FlashIo => 0x03,
            ExecFail::MfgPartitionNotFound => 0x101,
            ExecFail::MfgTableUnreadable => 0x102,
            ExecFail::MfgFlashEncrypted => 0x103,
            ExecFail::MfgNvsKeysMissing => 0x104,
            ExecFail::MfgNvsKeysWrong => 0x105,
            ExecFail::MfgNvsNewer => 0x106,
            ExecFail::MfgGarbage => 0x107,
            ExecFail::MfgNotFound => 0x110,
            ExecFail::MfgChanged => 0x111,
            ExecFail::MfgFull => 0x112,
            ExecFail::MfgReadOnly => 0x113,
            ExecFail::MfgCorrupt => 0x114,
            ExecFail::MfgAuthentication => 0x115,
            ExecFail::MfgFlash => 0x116,
            ExecFail::WriteCancelled => 0x117,
            ExecFail::PartitionsUnsupported => 0x120,
            ExecFail::KeyReadRefused => 0x130,
            ExecFail::CertMissing => 0x140,
            ExecFail::CertEmpty => 0x141,
            ExecFail::CertInvalid => 0x142,
            ExecFail::KeyMismatch => 0x143,
            ExecFail::TlsConfig => 0x144,
            ExecFail::TlsHandshake => 0x145,
        }
    }

    /// Whether `ERR CODE` is printed for it with AT+SYSLOG=1: where ESP-AT's firmware prints
    /// one, and for this firmware's own diagnoses (codes from `0x100`).
    pub const fn printed(self) -> bool {
        matches!(
            self,
            ExecFail::FlashPartitionNotFound
                | ExecFail::FlashRange
                | ExecFail::FlashErase
                | ExecFail::FlashIo
        ) || self.code() >= 0x100
    }

    /// The reason in words (`+ERRINFO`).
    pub const fn reason(self) -> &'static str {
        match self {
            ExecFail::JoinTimeout => "connection timeout",
            ExecFail::JoinWrongPassword => "wrong password",
            ExecFail::JoinNoAp => "cannot find the target AP",
            ExecFail::JoinFailed => "connection failed",
            ExecFail::StationOff => "station mode is not enabled (AT+CWMODE=1 or 3)",
            ExecFail::NoStoredAp => "no stored AP configuration to connect to",
            ExecFail::WifiDriver => "the Wi-Fi driver refused the operation",
            ExecFail::ScanTimeout => "scan did not finish in time",
            ExecFail::Network => "the IP stack refused the setting",
            ExecFail::NoDownloadMode => "download mode is not available on this platform",
            ExecFail::ClockRange => "clock out of range",
            ExecFail::SettingsSave => "saving the setting to flash failed",
            ExecFail::SettingsErase => "erasing the stored settings failed",
            ExecFail::FlashPartitionNotFound => "no such user partition (see AT+SYSFLASH?)",
            ExecFail::FlashRange => {
                "offset/length outside the partition, or not aligned (erase: 4 KiB sectors, write: 4 bytes)"
            }
            ExecFail::FlashErase => "erasing the partition failed",
            ExecFail::FlashIo => "reading or writing the partition failed",
            ExecFail::MfgPartitionNotFound => {
                "mfg_nvs: partition not found in ESP-AT's secondary partition table (at_customize): \
                 add it (at_customize.csv) and flash at_customize.bin"
            }
            ExecFail::MfgTableUnreadable => {
                "mfg_nvs: ESP-AT's secondary partition table (start of at_customize) is unreadable, \
                 most likely written with flash encryption (idf.py encrypted-flash) but read as plain: \
                 re-flash at_customize.bin in plaintext (idf.py encrypted-app-flash for the app) \
                 or flag at_customize encrypted"
            }
            ExecFail::MfgFlashEncrypted => {
                "mfg_nvs: partition is flash-encrypted but read as plain (written with idf.py \
                 encrypted-flash): re-flash mfg_nvs.bin in plaintext (idf.py encrypted-app-flash); \
                 to keep it confidential use NVS encryption, not flash encryption; nothing was erased"
            }
            ExecFail::MfgNvsKeysMissing => {
                "mfg_nvs: partition is NVS-encrypted and no NVS keys were given: provide the \
                 nvs_keys partition or the eFuse HMAC key it was generated with"
            }
            ExecFail::MfgNvsKeysWrong => {
                "mfg_nvs: the NVS encryption keys do not decrypt the partition: provide the keys \
                 it was generated with"
            }
            ExecFail::MfgNvsNewer => {
                "mfg_nvs: NVS format version is newer than this firmware reads: update the firmware"
            }
            ExecFail::MfgGarbage => {
                "mfg_nvs: partition holds neither NVS nor recognisable ciphertext: erase it \
                 (AT+SYSFLASH=0,\"mfg_nvs\") and write a fresh image"
            }
            ExecFail::MfgNotFound => "no such namespace or key in mfg_nvs",
            ExecFail::MfgChanged => "value changed while being read",
            ExecFail::MfgFull => "mfg_nvs is full",
            ExecFail::MfgReadOnly => "mfg_nvs is read-only",
            ExecFail::MfgCorrupt => "the stored entry failed its integrity check (CRC)",
            ExecFail::MfgAuthentication => "authentication failed: wrong key or tampered entry",
            ExecFail::MfgFlash => "flash I/O error on mfg_nvs",
            ExecFail::WriteCancelled => "write cancelled with +++",
            ExecFail::PartitionsUnsupported => "raw partition access is not available",
            ExecFail::KeyReadRefused => {
                "private keys are not readable over AT (the firmware can enable it: \
                 Options::allow_key_readback)"
            }
            ExecFail::CertMissing => "a certificate or key is not in mfg_nvs (write it with AT+SYSMFG)",
            ExecFail::CertEmpty => "a certificate or key entry is empty (cert_len=0)",
            ExecFail::CertInvalid => "a certificate or key entry is not valid PEM/DER of its kind",
            ExecFail::KeyMismatch => "the private key does not belong to the certificate",
            ExecFail::TlsConfig => "the TLS layer refused the credentials or parameters",
            ExecFail::TlsHandshake => "the TLS handshake failed",
        }
    }
}

impl fmt::Display for ExecFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Capacity of an [`ErrorDetail`], in bytes.
pub const DETAIL_CAP: usize = 64;

/// The context of an error — which certificate entry, which partition and what is wrong with
/// it, which link — held inline, so reporting it needs no allocation.
///
/// Text longer than [`DETAIL_CAP`] is cut at a character boundary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ErrorDetail {
    buf: [u8; DETAIL_CAP],
    len: u8,
}

impl ErrorDetail {
    /// No detail.
    pub const EMPTY: ErrorDetail = ErrorDetail { buf: [0; DETAIL_CAP], len: 0 };

    /// A detail from formatted text (cut to [`DETAIL_CAP`] bytes).
    pub fn new(args: fmt::Arguments<'_>) -> Self {
        let mut d = ErrorDetail::EMPTY;
        let _ = fmt::Write::write_fmt(&mut d, args);
        d
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or_default();
        core::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Whether there is no detail.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Write for ErrorDetail {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let enc = c.encode_utf8(&mut tmp).as_bytes();
            let at = usize::from(self.len);
            let Some(dst) = self.buf.get_mut(at..at + enc.len()) else { return Err(fmt::Error) };
            dst.copy_from_slice(enc);
            self.len += enc.len() as u8;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Default for ErrorDetail {
    fn default() -> Self {
        ErrorDetail::EMPTY
    }
}

/// Why a command failed: the code ESP-AT would print, a reason in words, and optionally the
/// context ([`ErrorDetail`]: the entry, partition or link it concerns).
///
/// The wire shows `ERROR`; with `AT+SYSLOG=1` also `+ERRINFO:"<reason>"` (this firmware's
/// addition) and `ERR CODE:0x...` where ESP-AT's firmware prints one ([`AtError::printed`]).
/// The API keeps everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtError {
    /// The ESP-AT error code.
    pub code: ErrorCode,
    /// A short human-readable reason (printed as `+ERRINFO:"<reason>"` with AT+SYSLOG=1).
    pub reason: &'static str,
    /// What the error concerns (printed before the reason: `+ERRINFO:"<detail>: <reason>"`).
    pub detail: ErrorDetail,
    /// Whether `ERR CODE:` is printed with AT+SYSLOG=1 (ESP-AT prints a bare `ERROR` for most
    /// failures; see `docs/compat.md`).
    pub printed: bool,
    /// The execution failure, for `0x010a____` errors raised through [`AtError::exec`].
    pub fail: Option<ExecFail>,
}

impl AtError {
    /// An error with a code and reason whose code is printed (with AT+SYSLOG=1).
    pub const fn new(code: ErrorCode, reason: &'static str) -> Self {
        AtError { code, reason, detail: ErrorDetail::EMPTY, printed: true, fail: None }
    }

    /// An error for which ESP-AT prints a bare `ERROR` (no `ERR CODE` line).
    pub const fn quiet(code: ErrorCode, reason: &'static str) -> Self {
        AtError { code, reason, detail: ErrorDetail::EMPTY, printed: false, fail: None }
    }

    /// Command execution failed (`0x010a____`) for a reason the [`ExecFail`] table names.
    pub const fn exec(fail: ExecFail) -> Self {
        AtError {
            code: ErrorCode::exec_fail(fail.code()),
            reason: fail.reason(),
            detail: ErrorDetail::EMPTY,
            printed: fail.printed(),
            fail: Some(fail),
        }
    }

    /// Command execution failed (`0x010a____`) with a code of a custom command's own
    /// (built-in commands use [`AtError::exec`] and the [`ExecFail`] table).
    pub const fn custom_exec(code: u16, reason: &'static str) -> Self {
        AtError::new(ErrorCode::exec_fail(code), reason)
    }

    /// Parameter `which` is invalid (out of range, not allowed in this state). Like ESP-AT's
    /// handlers, it prints a bare `ERROR`; see [`AtError::printed_as`] for the few that print.
    pub const fn invalid(which: usize, reason: &'static str) -> Self {
        AtError::quiet(ErrorCode::para_invalid(which), reason)
    }

    /// Wrong number of parameters (a bare `ERROR`, as in ESP-AT).
    pub const fn count(need: usize, given: usize, reason: &'static str) -> Self {
        AtError::quiet(ErrorCode::para_num(need, given), reason)
    }

    /// The same error, printed with `code` instead (for the handlers where ESP-AT's firmware
    /// prints a specific code, e.g. AT+CWMODE's `0x01070001`).
    pub const fn printed_as(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self.printed = true;
        self
    }

    /// The same error, about `what` (an entry, a partition, a link...).
    pub fn with_detail(mut self, what: fmt::Arguments<'_>) -> Self {
        self.detail = ErrorDetail::new(what);
        self
    }
}

impl fmt::Display for AtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.detail.is_empty() {
            write!(f, "{}: ", self.detail.as_str())?;
        }
        write!(f, "{} (ERR CODE:{})", self.reason, self.code)
    }
}

impl core::error::Error for AtError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_esp_at_examples() {
        assert_eq!(ErrorCode::UNSUPPORTED.0, 0x0109_0000);
        assert_eq!(ErrorCode::BUSY.0, 0x010b_0000);
        // "0x01060201 would be need 2, given 1"
        assert_eq!(ErrorCode::para_num(2, 1).0, 0x0106_0201);
        assert_eq!(ErrorCode::para_invalid(3).0, 0x0107_0003);
        extern crate std;
        assert_eq!(std::format!("{}", ErrorCode::UNSUPPORTED), "0x01090000");
        assert_eq!(ErrorCode::para_type(1).sub(), 0x05);
        assert_eq!(ErrorCode::para_type(1).ext(), 1);
    }
}
