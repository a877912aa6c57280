#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tonystore_fuzz::run(data, tonystore_fuzz::shipment));
