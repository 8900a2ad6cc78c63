//! Real `O_DIRECT` I/O through a compio 0.19 runtime (compio-buf 0.8 traits): the cases every
//! compio version passes (`direct_cases`).
#![cfg(all(feature = "compio-buf-08", target_os = "linux"))]

mod direct_cases;
mod scratch;

direct_cases::direct_cases!(compio_19);
