//! # at-flash
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod csv;
pub mod table;
pub mod xts;
pub mod view;
pub mod classify;
pub mod nvs_probe;
