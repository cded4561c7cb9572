//! Benchmarks live in this package's `benches/`-style targets: `cargo bench -p at-benches`.
//! Shared inputs are defined here.

/// A realistic mix of AT command lines as a host driver sends them (CR LF terminated): status
/// queries, configuration with quoted and escaped strings, omitted parameters, and errors.
pub const COMMAND_MIX: &[&str] = &[
    "AT",
    "AT+CWMODE?",
    "AT+CWMODE=1",
    "AT+SYSLOG?",
    "AT+CIPSNTPCFG=1,8,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\"",
    "AT+CWRECONNCFG=1,100",
    "AT+CIPSTA?",
    "AT+CWHOSTNAME=\"sensor-node-17\"",
    "AT+UART_CUR?",
    "AT+CWSTATE?",
    "AT+CIPSTAMAC?",
    "AT+SYSMSG=2",
    "AT+CWLAPOPT=1,2047,-100,65535",
    "AT+CWDHCP?",
    "AT+FAKE",
    "AT+CIFSR",
];

/// `repeat` copies of [`COMMAND_MIX`], each line terminated by CR LF.
pub fn session(repeat: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..repeat {
        for c in COMMAND_MIX {
            v.extend_from_slice(c.as_bytes());
            v.extend_from_slice(b"\r\n");
        }
    }
    v
}
