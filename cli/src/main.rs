//! The `tonystore` command-line tool.

fn main() {
    println!("tonystore {}", env!("CARGO_PKG_VERSION"));
}
