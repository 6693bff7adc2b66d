//! Arbitrary bytes as deploy.json and as a catalog: findings, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lane::model::check::{parse_catalog, parse_intent};

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_intent(data, "fuzz.json", None) {
        assert!(!e.findings().is_empty());
    }
    if let Err(e) = parse_catalog(data, "fuzz.json", None) {
        assert!(!e.findings().is_empty());
    }
});
