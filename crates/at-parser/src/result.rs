//! The eight ESP-AT result codes (`esp_at_result_code_string_index`) and their exact bytes.

/// What a handler's final result prints. Values are ESP-AT's `esp_at_rc_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResultCode {
    /// `\r\nOK\r\n`
    Ok = 0x00,
    /// `\r\nERROR\r\n`
    Error = 0x01,
    /// `\r\nERROR\r\n` (ESP-AT prints FAIL as ERROR)
    Fail = 0x02,
    /// `\r\nSEND OK\r\n`
    SendOk = 0x03,
    /// `\r\nSEND FAIL\r\n`
    SendFail = 0x04,
    /// nothing
    Ignore = 0x05,
    /// nothing: the handler has already written its answer
    ProcessDone = 0x06,
    /// `\r\nOK\r\n` then `\r\n>` (enter data mode)
    OkAndInputPrompt = 0x07,
}

impl ResultCode {
    /// The exact bytes ESP-AT writes for this result.
    pub const fn bytes(self) -> &'static [u8] {
        match self {
            ResultCode::Ok => b"\r\nOK\r\n",
            ResultCode::Error | ResultCode::Fail => b"\r\nERROR\r\n",
            ResultCode::SendOk => b"\r\nSEND OK\r\n",
            ResultCode::SendFail => b"\r\nSEND FAIL\r\n",
            ResultCode::Ignore | ResultCode::ProcessDone => b"",
            ResultCode::OkAndInputPrompt => b"\r\nOK\r\n\r\n>",
        }
    }
}

/// `\r\nbusy p...\r\n`: input arrived while a command was still running.
pub const BUSY: &[u8] = b"\r\nbusy p...\r\n";
/// `\r\nready\r\n`: printed at boot and after every restart.
pub const READY: &[u8] = b"\r\nready\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        assert_eq!(ResultCode::Ok.bytes(), b"\r\nOK\r\n");
        assert_eq!(ResultCode::Fail.bytes(), ResultCode::Error.bytes());
        assert_eq!(ResultCode::OkAndInputPrompt.bytes(), b"\r\nOK\r\n\r\n>");
        assert!(ResultCode::ProcessDone.bytes().is_empty());
        assert_eq!(ResultCode::SendFail as u8, 4);
    }
}
