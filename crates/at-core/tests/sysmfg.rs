//! AT+SYSMFG and `factory_param` on the mock platform (in-memory `mfg_nvs`), and the
//! behaviour when `mfg_nvs` is unreadable.

mod common;

use at_core::Options;
use at_hal::kv::{Kv, MemKv, Unreadable, Value};
use at_hal::storage::Unmounted;
use common::Dev;

fn factory() -> MemKv {
    let mut kv = MemKv::new();
    kv.set("factory_param", "version", Value::I8(4)).unwrap();
    kv.set("factory_param", "module_name", Value::Str(b"WROOM-02")).unwrap();
    kv.set("factory_param", "max_tx_power", Value::I8(78)).unwrap();
    kv.set("factory_param", "uart_baudrate", Value::I32(921_600)).unwrap();
    kv.set("factory_param", "sys_store", Value::U8(0)).unwrap();
    at_certstore::demo::provision(&mut kv).unwrap();
    kv
}

#[test]
fn factory_param_sets_boot_defaults() {
    let mut d = Dev::new(factory(), Options::default());
    let gmr = d.send(b"AT+GMR\r\n");
    assert!(
        gmr.contains(&format!("Bin version:esp-at-rs-v{}(WROOM-02)\r\n", env!("CARGO_PKG_VERSION"))),
        "{gmr}"
    );
    assert_eq!(d.send(b"AT+UART_DEF?\r\n"), "AT+UART_DEF?\r\n+UART_DEF:921600,8,1,0,0\r\n\r\nOK\r\n");
    assert_eq!(d.send(b"AT+SYSSTORE?\r\n"), "AT+SYSSTORE?\r\n+SYSSTORE:0\r\n\r\nOK\r\n");
}

#[test]
fn sysmfg_every_operation() {
    let mut d = Dev::new(factory(), Options::default());
    d.send(b"ATE0\r\n");
    let ns = d.send(b"AT+SYSMFG?\r\n");
    assert!(
        ns.contains("+SYSMFG:\"factory_param\"\r\n") && ns.contains("+SYSMFG:\"server_cert\"\r\n"),
        "{ns}"
    );
    assert_eq!(d.send(b"AT+SYSMFG=1\r\n"), ns);
    let keys = d.send(b"AT+SYSMFG=1,\"factory_param\"\r\n");
    assert!(keys.contains("+SYSMFG:\"factory_param\",\"module_name\",7\r\n"), "{keys}");
    assert!(keys.contains("+SYSMFG:\"factory_param\",\"uart_baudrate\",6\r\n"), "{keys}");
    assert_eq!(
        d.send(b"AT+SYSMFG=1,\"factory_param\",\"module_name\"\r\n"),
        "+SYSMFG:\"factory_param\",\"module_name\",7,8,WROOM-02\r\n\r\nOK\r\n"
    );
    assert_eq!(
        d.send(b"AT+SYSMFG=1,\"factory_param\",\"uart_baudrate\"\r\n"),
        "+SYSMFG:\"factory_param\",\"uart_baudrate\",6,6,921600\r\n\r\nOK\r\n"
    );
    assert_eq!(
        d.send(b"AT+SYSMFG=1,\"factory_param\",\"module_name\",2,3\r\n"),
        "+SYSMFG:\"factory_param\",\"module_name\",7,3,OOM\r\n\r\nOK\r\n"
    );
    assert_eq!(d.send(b"AT+SYSMFG=1,\"factory_param\",\"module_name\",7,3\r\n"), "\r\nERROR\r\n");
    // Numeric writes inline, with range checks per type.
    assert_eq!(d.send(b"AT+SYSMFG=2,\"factory_param\",\"uart_tx_pin\",6,17\r\n"), "\r\nOK\r\n");
    assert_eq!(
        d.send(b"AT+SYSMFG=1,\"factory_param\",\"uart_tx_pin\"\r\n"),
        "+SYSMFG:\"factory_param\",\"uart_tx_pin\",6,2,17\r\n\r\nOK\r\n"
    );
    assert_eq!(d.send(b"AT+SYSMFG=2,\"factory_param\",\"channel_num\",1,256\r\n"), "\r\nERROR\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=2,\"factory_param\",\"max_tx_power\",2,-128\r\n"), "\r\nOK\r\n");
    // Binary write: OK, >, exactly n bytes, OK; then read back.
    let cert = at_certstore::demo::CLIENT_CERT;
    let cmd = format!("AT+SYSMFG=2,\"client_cert\",\"client_cert.0\",8,{}\r\n", cert.len());
    assert_eq!(d.send(cmd.as_bytes()), "\r\nOK\r\n\r\n>");
    let (a, b) = cert.split_at(100);
    assert_eq!(d.send(a), "");
    assert_eq!(d.send(b), "\r\nOK\r\n");
    let got = d.send(b"AT+SYSMFG=1,\"client_cert\",\"client_cert.0\"\r\n");
    let head = format!("+SYSMFG:\"client_cert\",\"client_cert.0\",8,{},", cert.len());
    assert_eq!(got.as_bytes(), [head.as_bytes(), cert, b"\r\n\r\nOK\r\n"].concat());
    // String write.
    assert_eq!(d.send(b"AT+SYSMFG=2,\"factory_param\",\"country_code\",7,2\r\n"), "\r\nOK\r\n\r\n>");
    assert_eq!(d.send(b"US"), "\r\nOK\r\n");
    assert_eq!(
        d.send(b"AT+SYSMFG=1,\"factory_param\",\"country_code\"\r\n"),
        "+SYSMFG:\"factory_param\",\"country_code\",7,2,US\r\n\r\nOK\r\n"
    );
    // Erase a key, then a namespace.
    assert_eq!(d.send(b"AT+SYSMFG=0,\"client_cert\",\"client_cert.0\"\r\n"), "\r\nOK\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=1,\"client_cert\",\"client_cert.0\"\r\n"), "\r\nERROR\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=0,\"factory_param\"\r\n"), "\r\nOK\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=1,\"factory_param\"\r\n"), "\r\nERROR\r\n");
    // Bad names and types.
    assert_eq!(d.send(b"AT+SYSMFG=1,\"sixteen_chars_xx\"\r\n"), "\r\nERROR\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=2,\"ns\",\"k\",9,1\r\n"), "\r\nERROR\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=3\r\n"), "\r\nERROR\r\n");
    assert_eq!(d.send(b"AT\r\n"), "\r\nOK\r\n");
}

#[test]
fn private_keys_are_not_readable_unless_enabled() {
    let mut d = Dev::new(factory(), Options::default());
    d.send(b"ATE0\r\nAT+SYSLOG=1\r\n");
    let out = d.send(b"AT+SYSMFG=1,\"server_key\",\"server_key\"\r\n");
    assert!(
        out.starts_with("+ERRINFO:\"server_key/server_key: private keys are not readable over AT"),
        "{out}"
    );
    assert!(out.ends_with("ERR CODE:0x010a0130\r\n\r\nERROR\r\n"), "{out}");
    assert!(!out.contains("PRIVATE KEY"));
    // Listing names is fine.
    assert!(d.send(b"AT+SYSMFG=1,\"server_key\"\r\n").contains("\"server_key\",\"server_key\",8"));
    let mut d = Dev::new(factory(), Options { allow_key_readback: true, ..Options::default() });
    assert!(d.send(b"AT+SYSMFG=1,\"server_key\",\"server_key\"\r\n").contains("PRIVATE KEY"));
}

#[test]
fn unreadable_mfg_nvs_gives_a_precise_error_and_at_still_works() {
    let mut d = Dev::new(Unmounted(Unreadable::FlashEncryptedReadAsPlain), Options::default());
    assert_eq!(d.send(b"ATE0\r\n"), "ATE0\r\n\r\nOK\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=1,\"server_cert\",\"server_cert\"\r\n"), "\r\nERROR\r\n");
    let e = d.fw.last_error().unwrap();
    assert_eq!(e.code.0, 0x010a_0103);
    assert!(e.reason.contains("flash-encrypted but read as plain"), "{}", e.reason);
    d.send(b"AT+SYSLOG=1\r\n");
    let out = d.send(b"AT+SYSMFG?\r\n");
    assert!(out.starts_with("+ERRINFO:\"mfg_nvs: partition is flash-encrypted but read as plain"), "{out}");
    assert!(out.ends_with("ERR CODE:0x010a0103\r\n\r\nERROR\r\n"), "{out}");
    // A binary write is refused before the host sends its bytes.
    let out = d.send(b"AT+SYSMFG=2,\"client_cert\",\"client_cert.0\",8,10\r\n");
    assert!(out.ends_with("\r\nERROR\r\n") && !out.contains('>'), "{out}");
    assert_eq!(d.send(b"AT\r\n"), "\r\nOK\r\n");
    // Defaults are used for what factory_param would have given.
    assert!(d.send(b"AT+GMR\r\n").contains("(MINI-1)"));
    // No raw partition access on this store.
    assert!(d.send(b"AT+SYSFLASH?\r\n").ends_with("\r\nERROR\r\n"));
}
