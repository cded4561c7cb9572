//! Printing a [`Report`](crate::report::Report): as words for a person ([`human`]) or as one
//! JSON document ([`json`]). Neither judges anything: every decision is in the report.

pub mod human;
pub mod json;
