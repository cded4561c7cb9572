//! Link with esp-hal's linker script (`linkall.x` pulls in the chip's memory map, the runtime
//! and the ROM symbol tables).
fn main() {
    println!("cargo:rustc-link-arg=-Tlinkall.x");
    println!("cargo:rerun-if-changed=build.rs");
}
