//! Command-line definitions and their implementations.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tonystore::engine::{Options, Store, TransactionBuffer};
use tonystore::kpath::{KPath, Segment};
use tonystore::patch::{diff, matches, patch};
use tonystore::storage::FsDir;
use tonystore::tony::{
    check_storable, encode_block_annotated, encode_wire, parse, parse_documents,
    parse_documents_annotated, Node, NotStorable, ParseError, ParseOptions,
};

/// A versioned document store for the Tony format.
#[derive(Parser)]
#[command(name = "tonystore", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tony documents: format, patch, diff, match.
    #[command(subcommand)]
    Tony(TonyCommand),
    /// Kinded paths.
    #[command(subcommand)]
    Path(PathCommand),
    /// Transactions.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Creates an empty store in DIR.
    Init {
        /// The store directory.
        dir: PathBuf,
    },
    /// Commits PATCH at PATH; prints the new commit number.
    Commit {
        /// The store directory.
        dir: PathBuf,
        /// Where the patch applies (`""` for the root).
        #[arg(allow_hyphen_values = true)]
        path: String,
        /// The patch as Tony text (`-5` is a number), `@FILE` to read it from a file, or `-`
        /// for stdin.
        #[arg(allow_hyphen_values = true)]
        patch: String,
    },
    /// Prints the value at PATH (the root by default) at the head or at --at COMMIT. Never
    /// changes the store.
    Read {
        /// The store directory.
        dir: PathBuf,
        /// The path.
        path: Option<String>,
        /// The commit to read at.
        #[arg(long)]
        at: Option<u64>,
    },
    /// Lists the commits: number, transaction, time (ms since the epoch), and the paths each
    /// one wrote — with PATH, only the commits that changed the value at PATH, and the paths
    /// they changed there. Never changes the store.
    Log {
        /// The store directory.
        dir: PathBuf,
        /// Only the commits that changed this path.
        path: Option<String>,
        /// The first commit listed.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// The last commit listed (the head by default).
        #[arg(long)]
        to: Option<u64>,
    },
    /// Prints the patch (wire form) turning the value at PATH as of FROM into its value as of
    /// TO (the head by default); `null` when they are equal. Never changes the store.
    Diff {
        /// The store directory.
        dir: PathBuf,
        /// The path (`""` for the root).
        path: String,
        /// The earlier commit.
        from: u64,
        /// The later commit.
        to: Option<u64>,
    },
    /// Writes a shipment of the commits after --after (all by default) to stdout or --out, for
    /// `import` into a replica. Never changes the store.
    Export {
        /// The store directory.
        dir: PathBuf,
        /// The last commit the receiving store already has.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Where to write the shipment (stdout by default).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Imports a shipment (`export`'s output; `-` for stdin) into DIR (created if missing):
    /// commits it lacks are added under their numbers; prints what was skipped and added.
    Import {
        /// The store directory.
        dir: PathBuf,
        /// The shipment file (`-` for stdin).
        file: String,
    },
    /// Checks every frame and that the index agrees with a replay of the log. Never changes
    /// the store.
    Verify {
        /// The store directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TxCommand {
    /// Merges a Tony list of `{path, data}` into one root patch (wire form).
    Merge {
        /// The list (`-` for stdin).
        file: String,
    },
}

#[derive(Subcommand)]
enum TonyCommand {
    /// Re-encodes every document of a file: block form with `---` between documents, or
    /// with --wire one document per line. Reads `---`-separated documents and streams of
    /// bracketed documents one per line.
    Fmt {
        /// Write the one-line wire form.
        #[arg(long)]
        wire: bool,
        /// The document (`-` or nothing for stdin).
        file: Option<String>,
    },
    /// Applies PATCH to DOC and prints the result in wire form. DOC and PATCH each hold one
    /// document (several are refused: say which one you mean).
    Patch {
        /// The document file (`-` for stdin).
        doc: String,
        /// The patch file (`-` for stdin).
        patch: String,
    },
    /// Prints the diff taking FROM to TO in wire form (`null` when equal). One document each.
    Diff {
        /// The original document (`-` for stdin).
        from: String,
        /// The changed document (`-` for stdin).
        to: String,
    },
    /// Prints whether DOC matches PATTERN (`true` or `false`). One document each.
    Match {
        /// The document (`-` for stdin).
        doc: String,
        /// The pattern (`-` for stdin).
        pattern: String,
    },
}

#[derive(Subcommand)]
enum PathCommand {
    /// Parses a kinded path and prints its canonical form (or its segments as JSON).
    Parse {
        /// The path.
        path: String,
        /// Print the segments as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Reads a file, or stdin for `-`.
fn read_input(name: &str) -> Result<String, String> {
    if name == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading stdin: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(name).map_err(|e| format!("{name}: {e}"))
    }
}

/// Reads and parses a Tony document; errors name the input and the position.
fn read_tony(name: &str) -> Result<Node, String> {
    let text = read_input(name)?;
    parse_one(&text).map_err(|e| match e {
        OneDocument::Parse(e) => parse_failure(name, e),
        OneDocument::Several(n) => format!("{}: {}", display_name(name), several(n)),
    })
}

/// Why text is not one document.
enum OneDocument {
    Parse(ParseError),
    /// It holds this many documents.
    Several(usize),
}

/// Parses text that must hold one document; a stream of several is refused (never silently
/// cut to its first document).
fn parse_one(text: &str) -> Result<Node, OneDocument> {
    match parse(text) {
        Ok(node) => Ok(node),
        Err(e) => match parse_documents(text) {
            Ok(docs) if docs.len() > 1 => Err(OneDocument::Several(docs.len())),
            _ => Err(OneDocument::Parse(e)),
        },
    }
}

fn several(n: usize) -> String {
    format!(
        "holds {n} documents, but one is expected here (`tonystore tony fmt` lists them; \
         give one at a time)"
    )
}

fn display_name(name: &str) -> &str {
    if name == "-" {
        "<stdin>"
    } else {
        name
    }
}

fn parse_failure(name: &str, e: ParseError) -> String {
    format!("{}: {e}", display_name(name))
}

fn print(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| e.to_string())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Tony(TonyCommand::Fmt { wire, file }) => {
            let name = file.as_deref().unwrap_or("-");
            // A formatter keeps what the file holds, repeated keys included (the original
            // keeps them too); it says so, as a store would refuse them.
            let mut docs = parse_documents_annotated(
                &read_input(name)?,
                ParseOptions::keeping_duplicate_keys(),
            )
            .map_err(|e| parse_failure(name, e))?;
            for (doc, _) in &docs {
                if let Err(e @ NotStorable::Invalid { .. }) = check_storable(doc, usize::MAX) {
                    eprintln!(
                        "tonystore: {}: note: {e} (kept; a store refuses it)",
                        display_name(name)
                    );
                }
            }
            if docs.is_empty() {
                // An empty file is one null document.
                docs.push((Node::null(), Default::default()));
            }
            let texts: Vec<String> = docs
                .iter()
                .map(|(doc, notes)| {
                    if wire {
                        // The wire form carries values only.
                        encode_wire(doc)
                    } else {
                        encode_block_annotated(doc, notes)
                            .trim_end_matches('\n')
                            .to_owned()
                    }
                })
                .collect();
            print(&texts.join(if wire { "\n" } else { "\n---\n" }))
        }
        Command::Tony(TonyCommand::Patch { doc, patch: p }) => {
            let (doc, p) = (read_tony(&doc)?, read_tony(&p)?);
            print(&encode_wire(&patch(&doc, &p).map_err(|e| e.to_string())?))
        }
        Command::Tony(TonyCommand::Diff { from, to }) => {
            let (from, to) = (read_tony(&from)?, read_tony(&to)?);
            print(&diff(&from, &to).map_or_else(|| "null".to_owned(), |d| encode_wire(&d)))
        }
        Command::Tony(TonyCommand::Match { doc, pattern }) => {
            let (doc, pattern) = (read_tony(&doc)?, read_tony(&pattern)?);
            print(if matches(&doc, &pattern) {
                "true"
            } else {
                "false"
            })
        }
        Command::Tx(TxCommand::Merge { file }) => {
            let list = read_tony(&file)?;
            let items = list.as_array().ok_or("expected a list of {path, data}")?;
            let mut buffer = TransactionBuffer::new();
            for item in items {
                let path = item
                    .get_field(&"path".into())
                    .and_then(Node::as_str)
                    .ok_or("an item has no path")?;
                let data = item
                    .get_field(&"data".into())
                    .ok_or("an item has no data")?;
                // `data` may be Tony text (as in the conformance files) or a value.
                let data = match data.as_str() {
                    Some(text) => parse(text).map_err(|e| format!("data at {path}: {e}"))?,
                    None => data.clone(),
                };
                buffer.add(KPath::parse(path).map_err(|e| e.to_string())?, data);
            }
            let merged = buffer.merge().map_err(|e| e.to_string())?;
            print(&merged.map_or_else(|| "null".to_owned(), |m| encode_wire(&m)))
        }
        Command::Init { dir } => {
            let store = open_store(&dir)?;
            print(&format!(
                "initialized {} (head {})",
                dir.display(),
                store.head()
            ))
        }
        Command::Commit {
            dir,
            path,
            patch: text,
        } => {
            let source = match text.strip_prefix('@') {
                Some(file) => file.to_owned(),
                None if text == "-" => "<stdin>".to_owned(),
                None => "the patch text".to_owned(),
            };
            let text = match text.strip_prefix('@') {
                Some(file) => read_input(file)?,
                None if text == "-" => read_input("-")?,
                None => text,
            };
            let patch_node = parse_one(&text).map_err(|e| match e {
                OneDocument::Parse(e) => format!("patch: {e}"),
                OneDocument::Several(n) => {
                    format!("patch: {source} {}; nothing committed", several(n))
                }
            })?;
            let path = KPath::parse(&path).map_err(|e| e.to_string())?;
            let mut store = open_store(&dir)?;
            let commit = store
                .commit(vec![(path, patch_node)])
                .map_err(|e| e.to_string())?;
            // Durable now: report it before the index is saved, which may fail harmlessly.
            print(&commit.to_string())?;
            if let Err(e) = store.close() {
                eprintln!(
                    "tonystore: warning: commit {commit} is durable, but saving the index \
                     failed ({e}); the next open rebuilds it"
                );
            }
            Ok(())
        }
        Command::Read { dir, path, at } => {
            let path = KPath::parse(path.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let mut store = open_store_read_only(&dir)?;
            let at = at.unwrap_or(store.head());
            // Streams: a large sub-document is copied from the log, never built in memory.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let found = store
                .read_stream(&path, at, &mut out)
                .map_err(|e| e.to_string())?;
            if !found {
                write!(out, "null").map_err(|e| e.to_string())?;
            }
            writeln!(out)
                .and_then(|()| out.flush())
                .map_err(|e| e.to_string())
        }
        Command::Log {
            dir,
            path,
            from,
            to,
        } => {
            let store = open_store_read_only(&dir)?;
            let to = to.unwrap_or(store.head());
            let shown = |p: &KPath| {
                if p.is_root() {
                    "\"\"".to_owned()
                } else {
                    p.to_string()
                }
            };
            let listed: Vec<(u64, Vec<String>)> = match path {
                Some(path) => {
                    let path = KPath::parse(&path).map_err(|e| e.to_string())?;
                    store
                        .changes(&path, from.saturating_sub(1), to)
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .map(|c| (c.commit, c.paths.iter().map(shown).collect()))
                        .collect()
                }
                None => {
                    if to > store.head() {
                        return Err(format!("no commit {to}: the head is {}", store.head()));
                    }
                    let mut listed = Vec::new();
                    for commit in from.max(1)..=to {
                        let entry = store.entry(commit).map_err(|e| e.to_string())?;
                        listed.push((commit, entry.ends.iter().map(|e| shown(&e.path)).collect()));
                    }
                    listed
                }
            };
            for (commit, paths) in listed {
                let entry = store.entry(commit).map_err(|e| e.to_string())?;
                print(&format!(
                    "{commit}\ttx {}\t{}\t{}",
                    entry.tx,
                    entry.timestamp,
                    paths.join(" ")
                ))?;
            }
            Ok(())
        }
        Command::Diff {
            dir,
            path,
            from,
            to,
        } => {
            let store = open_store_read_only(&dir)?;
            let path = KPath::parse(&path).map_err(|e| e.to_string())?;
            let to = to.unwrap_or(store.head());
            let patch = store.diff(&path, from, to).map_err(|e| e.to_string())?;
            print(&patch.map_or_else(|| "null".to_owned(), |p| encode_wire(&p)))
        }
        Command::Export { dir, after, out } => {
            let store = open_store_read_only(&dir)?;
            let shipment = store.export(after, usize::MAX).map_err(|e| e.to_string())?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &shipment).map_err(|e| format!("{}: {e}", path.display()))
                }
                None => std::io::stdout()
                    .lock()
                    .write_all(&shipment)
                    .map_err(|e| e.to_string()),
            }
        }
        Command::Import { dir, file } => {
            let bytes = if file == "-" {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                bytes
            } else {
                std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?
            };
            let mut store = open_store(&dir)?;
            let imported = store.import(&bytes).map_err(|e| e.to_string())?;
            store.close().map_err(|e| e.to_string())?;
            print(&format!(
                "skipped {}, added {}, head {}",
                imported.skipped, imported.added, imported.head
            ))
        }
        Command::Verify { dir } => {
            let mut store = open_store_read_only(&dir)?;
            let commits = store.verify().map_err(|e| e.to_string())?;
            let stats = store.stats();
            print(&format!(
                "ok: {commits} commits, level0.log {} bytes, compact.log {} bytes",
                stats.level0_bytes, stats.compact_bytes
            ))
        }
        Command::Path(PathCommand::Parse { path, json }) => {
            let parsed = KPath::parse(&path).map_err(|e| e.to_string())?;
            if json {
                print(&segments_json(&parsed))
            } else {
                print(&parsed.to_string())
            }
        }
    }
}

/// Opens the store in `dir` (creating it) for writing.
fn open_store(dir: &std::path::Path) -> Result<Store, String> {
    let fs = FsDir::create(dir).map_err(|e| e.to_string())?;
    Store::open(&fs, options(false)).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Opens the existing store in `dir` without ever writing to it (a torn tail is ignored, a
/// lost index rebuilt in memory only); works on read-only files.
fn open_store_read_only(dir: &std::path::Path) -> Result<Store, String> {
    let fs = FsDir::existing(dir).map_err(|e| format!("no store at {}: {e}", dir.display()))?;
    Store::open(&fs, options(true)).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Store options that report index rebuild progress on stderr.
fn options(read_only: bool) -> Options {
    Options {
        on_progress: Some(Box::new(|p| {
            if p.total > 1 << 20 {
                eprint!("\rindexing: {} of {} bytes", p.done, p.total);
                if p.done == p.total {
                    eprintln!();
                }
            }
        })),
        read_only,
        ..Options::default()
    }
}

/// The segments as JSON: `[{"field":"a"},{"index":0},{"sparse":42},{"key":"jane"}]`.
fn segments_json(path: &KPath) -> String {
    let items: Vec<String> = path
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Field(f) => format!("{{\"field\":{}}}", json_string(f)),
            Segment::FieldAll => "{\"field_all\":true}".to_owned(),
            Segment::Index(i) => format!("{{\"index\":{i}}}"),
            Segment::IndexAll => "{\"index_all\":true}".to_owned(),
            Segment::Sparse(i) => format!("{{\"sparse\":{i}}}"),
            Segment::SparseAll => "{\"sparse_all\":true}".to_owned(),
            Segment::Key(k) => format!("{{\"key\":{}}}", json_string(k)),
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
