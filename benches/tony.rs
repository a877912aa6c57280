//! Parse and wire-encode throughput against serde_json on the same ~10 MB JSON document (25,000 nested user records).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tonystore::tony::{encode_wire, parse};

/// The issue's document: 25,000 nested user records, about 10 MB of JSON text (strings with
/// escapes, integers, floats, booleans, null, arrays of scalars and of objects, nested objects).
fn document() -> String {
    let mut out = String::from("{\"users\":[");
    for i in 0..25_000u64 {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":{i},"name":"User {i}","email":"user{i}@example.com","active":{},"score":{}.{:02},"bio":"Likes \"quotes\", tabs\tand unicode: caf\u00e9 #{i}","manager":null,"tags":["alpha","beta","team-{}"],"address":{{"street":"{} Main Street","city":"Springfield","zip":"{:05}","geo":{{"lat":{}.{:06},"lng":-{}.{:06}}}}},"friends":[{{"id":{},"name":"User {}","since":{}}},{{"id":{},"name":"User {}","since":{}}}],"settings":{{"theme":"dark","notifications":{{"email":true,"push":false,"digest":"weekly"}},"limits":[10,20,40]}}}}"#,
            i.is_multiple_of(2),
            i % 1000,
            i % 100,
            i % 17,
            i % 999 + 1,
            i % 100_000,
            i % 90,
            i * 7 % 1_000_000,
            i % 180,
            i * 13 % 1_000_000,
            (i * 31) % 25_000,
            (i * 31) % 25_000,
            2000 + i % 26,
            (i * 17) % 25_000,
            (i * 17) % 25_000,
            2000 + i % 23,
        ));
    }
    out.push_str("]}");
    out
}

fn bench(c: &mut Criterion) {
    let json = document();
    let mut group = c.benchmark_group("document");
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
