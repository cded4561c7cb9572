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

/// Why a command failed: the code ESP-AT would print, and a reason in words.
///
/// The wire shows `ERROR` (and with `AT+SYSLOG=1` the reason and the code); the API keeps both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtError {
    /// The ESP-AT error code.
    pub code: ErrorCode,
    /// A short human-readable reason (printed as `+ERRINFO:"<reason>"` with AT+SYSLOG=1).
    pub reason: &'static str,
}

impl AtError {
    /// An error with a code and reason.
    pub const fn new(code: ErrorCode, reason: &'static str) -> Self {
        AtError { code, reason }
    }

    /// Command execution failed for a handler-specific reason (`0x010a00xx`).
    pub const fn exec(result: u16, reason: &'static str) -> Self {
        AtError::new(ErrorCode::exec_fail(result), reason)
    }

    /// Parameter `which` is invalid (out of range, not allowed in this state).
    pub const fn invalid(which: usize, reason: &'static str) -> Self {
        AtError::new(ErrorCode::para_invalid(which), reason)
    }

    /// Wrong number of parameters.
    pub const fn count(need: usize, given: usize, reason: &'static str) -> Self {
        AtError::new(ErrorCode::para_num(need, given), reason)
    }
}

impl fmt::Display for AtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
