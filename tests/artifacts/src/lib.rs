//! Paths of the test fixtures built from `tests/fixtures`, and `foreach_fixture!`.

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
