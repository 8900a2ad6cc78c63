//! Real `O_DIRECT` I/O through a compio 0.20 runtime (compio-buf 0.9 traits): the cases every
//! compio version passes (`direct_cases`).
#![cfg(all(feature = "compio-buf-09", target_os = "linux"))]

mod direct_cases;
mod scratch;

direct_cases::direct_cases!(compio_20, IoBufExt);
