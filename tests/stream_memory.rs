//! Peak memory of streaming a generated document of hundreds of megabytes through the event
//! reader, measured with a counting allocator (this test binary's global allocator).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::io::Read;

use tonystore::tony::{Event, EventReader};

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

/// Generates `[item item ...]` of about `target` bytes without holding it.
struct Generator {
    remaining_items: u64,
    buffer: Vec<u8>,
    at: usize,
    state: u8,
}

const ITEM: &str =
    "{id: 42 name: \"streamed item\" tags: [a b c] nested: {x: 1.5 y: [true false null]}} ";

impl Generator {
    fn new(target: u64) -> Self {
        Generator {
            remaining_items: target / ITEM.len() as u64,
            buffer: b"[".to_vec(),
            at: 0,
            state: 0,
        }
    }
}

impl Read for Generator {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buffer.len() {
            self.buffer.clear();
            self.at = 0;
            match self.state {
                0 if self.remaining_items > 0 => {
                    let n = self.remaining_items.min(512);
                    for _ in 0..n {
                        self.buffer.extend_from_slice(ITEM.as_bytes());
                    }
                    self.remaining_items -= n;
                }
                0 => {
                    self.buffer.push(b']');
                    self.state = 1;
                }
                _ => return Ok(0),
            }
        }
        let n = out.len().min(self.buffer.len() - self.at);
        out[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_200_mb_document_streams_in_bounded_memory() {
    let megabytes: u64 = if std::env::var_os("TONYSTORE_HEAVY").is_some() {
        1024
    } else {
        200
    };
    let ((items, scalars, max_depth), peak) = common::peak_during(|| {
        let mut reader = EventReader::new(Generator::new(megabytes << 20));
        let (mut items, mut scalars, mut max_depth) = (0u64, 0u64, 0usize);
        while let Some(event) = reader.next_event().unwrap() {
            max_depth = max_depth.max(reader.depth());
            match event {
                Event::BeginObject(_) if reader.depth() == 2 => items += 1,
                Event::Scalar(_) => scalars += 1,
                _ => {}
            }
        }
        (items, scalars, max_depth)
    });
    let expected_items = (megabytes << 20) / ITEM.len() as u64;
    assert_eq!(items, expected_items);
    assert_eq!(scalars, expected_items * 9);
    assert_eq!(max_depth, 4);
    assert!(
        peak < 32 << 20,
        "peak heap {peak} bytes while streaming {megabytes} MB"
    );
    eprintln!(
        "streamed {megabytes} MB: {items} items, peak heap {} KiB",
        peak >> 10
    );
}
