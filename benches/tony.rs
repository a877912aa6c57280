//! Parse and wire-encode throughput against serde_json on the same 10 MB JSON document.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tonystore::tony::{encode_wire, parse};

/// A JSON-compatible document of about 10 MB: records with strings, numbers, arrays, nesting.
fn document() -> String {
    let mut out = String::from("[");
    let mut i = 0u64;
    while out.len() < 10 << 20 {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":{i},"name":"user{i}","email":"user{i}@example.com","active":{},"score":{}.25,"tags":["alpha","beta","gamma"],"address":{{"city":"Springfield","zip":"{:05}"}}}}"#,
            i.is_multiple_of(2),
            i % 1000,
            i % 100000
        ));
        i += 1;
    }
    out.push(']');
    out
}

fn bench(c: &mut Criterion) {
    let json = document();
    let mut group = c.benchmark_group("10MB");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.sample_size(10);
    group.bench_function("parse/tony", |b| b.iter(|| parse(&json).unwrap()));
    group.bench_function("parse/serde_json", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(&json).unwrap())
    });
    let node = parse(&json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    group.bench_function("encode/tony_wire", |b| b.iter(|| encode_wire(&node)));
    group.bench_function("encode/serde_json", |b| {
        b.iter(|| serde_json::to_string(&value).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
