//! `yibao-torture`: a seeded, randomized torture run of the real broker, shim and
//! simulator. Traffic, platform faults, store locks, a full disk, kills, stalls and
//! restarts happen at once; at quiescence the invariants of design.md §4 are checked from
//! the simulator's applied-log and the store. See docs/reliability.md.

pub mod catalogs;
pub mod chaos;
pub mod check;
pub mod collect;
pub mod ctx;
pub mod disk;
pub mod his;
pub mod ledger;
pub mod plan;
pub mod report;
pub mod run;
pub mod shim;
pub mod traffic;
