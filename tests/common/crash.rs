//! A crash-simulating, fault-injecting storage backend (in the style of SQLite's `test6.c` crash
//! VFS and redb's `CrashBackend`).
//!
//! Every file keeps a *durable* image and a list of *pending* mutations (writes and length
//! changes) made since its last `sync`. Reads see the live bytes (durable + pending, in order).
//! A power cut ([`SimDisk::power_cut`]) turns pending mutations into one of many possible disk
//! images: each is dropped, kept, or torn at sector granularity (the torn sectors dropped or
//! filled with garbage), independently per mutation and per file, which also models writes
//! reaching the disk out of order within a file and across files.
//!
//! Faults: the disk counts mutating calls (`write_all_at`, `set_len`, `sync`); a planned fault
//! makes one call (or every call from one on, a crash) fail with an I/O error. A failing write
//! may leave a prefix of its bytes behind, as a real one can.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tonystore::storage::{BlockFile, StorageError, StoreDir};

/// Sector size of the simulated device: the unit of tearing.
pub const SECTOR: u64 = 512;

/// A small deterministic random number generator (SplitMix64), so every failure replays from its
/// seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

#[derive(Clone, Debug)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct SimFile {
    durable: Vec<u8>,
    live: Vec<u8>,
    pending: Vec<Pending>,
    held: bool,
}

fn apply(bytes: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write { offset, data } => {
            let start = *offset as usize;
            let end = start + data.len();
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[start..end].copy_from_slice(data);
        }
        Pending::SetLen(len) => bytes.resize(*len as usize, 0),
    }
}

/// When the disk makes calls fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No faults.
    None,
    /// Mutating call number `n` (counting from 1) fails; later ones succeed.
    Once(u64),
    /// Mutating call number `n` and every call after it fails: the process "dies" there. The
    /// state just before call `n` is kept for [`SimDisk::power_cut`].
    CrashAt(u64),
}

#[derive(Debug)]
struct DiskState {
    files: BTreeMap<String, SimFile>,
    calls: u64,
    fault: Fault,
    crashed: bool,
    rng: Rng,
    /// How many faults fired.
    fired: u64,
    /// What the files answer to [`BlockFile::preallocation`].
    preallocation: u64,
}

/// A simulated disk: a set of files shared by every [`StoreDir`] handle on it.
#[derive(Clone, Debug)]
pub struct SimDisk(Arc<Mutex<DiskState>>);

impl SimDisk {
    /// An empty disk; `seed` drives partial writes of failing calls.
    pub fn new(seed: u64) -> Self {
        SimDisk(Arc::new(Mutex::new(DiskState {
            files: BTreeMap::new(),
            calls: 0,
            fault: Fault::None,
            crashed: false,
            rng: Rng::new(seed),
            fired: 0,
            preallocation: 0,
        })))
    }

    /// Has the files ask to be extended `bytes` ahead of a log's end (see
    /// [`BlockFile::preallocation`]); images taken from this disk keep the setting.
    pub fn set_preallocation(&self, bytes: u64) {
        self.state().preallocation = bytes;
    }

    fn state(&self) -> MutexGuard<'_, DiskState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Plans the next fault; the call counter restarts.
    pub fn set_fault(&self, fault: Fault) {
        let mut s = self.state();
        s.fault = fault;
        s.calls = 0;
        s.crashed = false;
    }

    /// Mutating calls since the last [`set_fault`](Self::set_fault).
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Whether a planned fault has fired.
    pub fn fired(&self) -> bool {
        self.state().fired > 0
    }

    /// Whether a [`Fault::CrashAt`] has fired (every call fails from then on).
    pub fn crashed(&self) -> bool {
        self.state().crashed
    }

    /// A disk holding what survives a power cut now: each pending mutation dropped, kept or torn.
    /// `garbage` fills torn sectors with random bytes instead of leaving them as they were.
    pub fn power_cut(&self, rng: &mut Rng, garbage: bool) -> SimDisk {
        let s = self.state();
        let disk = SimDisk::new(rng.next_u64());
        disk.set_preallocation(s.preallocation);
        {
            let mut out = disk.state();
            for (name, file) in &s.files {
                let mut bytes = file.durable.clone();
                // One of: nothing lands, everything lands, or each mutation on its own.
                let style = rng.below(4);
                for op in &file.pending {
                    match style {
                        0 => {}
                        1 => apply(&mut bytes, op),
                        _ => cut_op(&mut bytes, op, rng, garbage),
                    }
                }
                out.files.insert(
                    name.clone(),
                    SimFile {
                        durable: bytes.clone(),
                        live: bytes,
                        pending: Vec::new(),
                        held: false,
                    },
                );
            }
        }
        disk
    }

    /// A disk with the live bytes of this one made durable (a clean shutdown of the OS).
    pub fn settled(&self) -> SimDisk {
        let s = self.state();
        let disk = SimDisk::new(s.rng.clone().next_u64());
        disk.set_preallocation(s.preallocation);
        {
            let mut out = disk.state();
            for (name, file) in &s.files {
                out.files.insert(
                    name.clone(),
                    SimFile {
                        durable: file.live.clone(),
                        live: file.live.clone(),
                        pending: Vec::new(),
                        held: false,
                    },
                );
            }
        }
        disk
    }

    /// The live bytes of `name` (empty if missing).
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        self.state()
            .files
            .get(name)
            .map(|f| f.live.clone())
            .unwrap_or_default()
    }

    /// Replaces the bytes of `name` (durably).
    pub fn put(&self, name: &str, bytes: Vec<u8>) {
        let mut s = self.state();
        let file = s.files.entry(name.to_owned()).or_default();
        file.durable = bytes.clone();
        file.live = bytes;
        file.pending.clear();
    }

    /// Releases every file hold (a process that died holds no locks).
    pub fn release_all(&self) {
        for file in self.state().files.values_mut() {
            file.held = false;
        }
    }

    /// Counts one mutating call and says whether it fails. With `CRASH_TRACE` set, prints it.
    fn tick(&self, file: &str, op: std::fmt::Arguments<'_>) -> Tick {
        let mut s = self.state();
        if std::env::var_os("CRASH_TRACE").is_some() {
            eprintln!("call {} {file}: {op}", s.calls + 1);
        }
        if s.crashed {
            return Tick::Dead;
        }
        s.calls += 1;
        let fails = match s.fault {
            Fault::None => false,
            Fault::Once(n) => s.calls == n,
            Fault::CrashAt(n) => {
                if s.calls >= n {
                    s.crashed = true;
                }
                s.calls >= n
            }
        };
        if fails {
            s.fired += 1;
            Tick::Fail
        } else {
            Tick::Ok
        }
    }
}

/// What the disk does with one mutating call.
#[derive(PartialEq, Eq)]
enum Tick {
    /// It succeeds.
    Ok,
    /// It fails (a write may leave part of its bytes).
    Fail,
    /// The process has crashed: it fails and changes nothing.
    Dead,
}

/// Applies one pending mutation partially: a length change lands or not; a write lands sector
/// by sector, each torn sector dropped or (with `garbage`) overwritten with random bytes.
fn cut_op(bytes: &mut Vec<u8>, op: &Pending, rng: &mut Rng, garbage: bool) {
    match op {
        Pending::SetLen(_) => {
            if rng.one_in(2) {
                apply(bytes, op);
            }
        }
        Pending::Write { offset, data } => {
            let end = offset + data.len() as u64;
            let mut sector_start = offset - offset % SECTOR;
            while sector_start < end {
                let lo = sector_start.max(*offset);
                let hi = (sector_start + SECTOR).min(end);
                let piece = &data[(lo - offset) as usize..(hi - offset) as usize];
                match rng.below(3) {
                    0 => {}
                    1 => apply(
                        bytes,
                        &Pending::Write {
                            offset: lo,
                            data: piece.to_vec(),
                        },
                    ),
                    _ if garbage => {
                        let noise: Vec<u8> =
                            (0..piece.len()).map(|_| rng.next_u64() as u8).collect();
                        apply(
                            bytes,
                            &Pending::Write {
                                offset: lo,
                                data: noise,
                            },
                        );
                    }
                    _ => {}
                }
                sector_start += SECTOR;
            }
        }
    }
}

impl StoreDir for SimDisk {
    fn open(&self, name: &str) -> tonystore::storage::Result<Box<dyn BlockFile>> {
        let mut s = self.state();
        let file = s.files.entry(name.to_owned()).or_default();
        if file.held {
            return Err(StorageError::Locked {
                file: name.to_owned(),
            });
        }
        file.held = true;
        Ok(Box::new(SimBlockFile {
            disk: self.clone(),
            name: name.to_owned(),
            closed: Mutex::new(false),
        }))
    }

    fn open_read_only(&self, name: &str) -> tonystore::storage::Result<Option<Box<dyn BlockFile>>> {
        if !self.state().files.contains_key(name) {
            return Ok(None);
        }
        self.open(name).map(Some)
    }

    fn location(&self) -> String {
        "simulated disk".to_owned()
    }
}

/// One file of a [`SimDisk`].
struct SimBlockFile {
    disk: SimDisk,
    name: String,
    closed: Mutex<bool>,
}

impl SimBlockFile {
    fn io_error(&self, what: &str) -> StorageError {
        StorageError::Io {
            file: self.name.clone(),
            source: std::io::Error::other(format!("injected {what} failure")),
        }
    }

    fn check_open(&self) -> tonystore::storage::Result<()> {
        if *self.closed.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(StorageError::Closed {
                file: self.name.clone(),
            });
        }
        Ok(())
    }

    fn with_file<T>(&self, f: impl FnOnce(&mut SimFile, &mut Rng) -> T) -> T {
        let mut s = self.disk.state();
        let DiskState { files, rng, .. } = &mut *s;
        f(files.get_mut(&self.name).expect("open files exist"), rng)
    }
}

impl BlockFile for SimBlockFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> tonystore::storage::Result<u64> {
        self.check_open()?;
        Ok(self.with_file(|f, _| f.live.len() as u64))
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> tonystore::storage::Result<()> {
        self.check_open()?;
        self.with_file(|f, _| {
            let size = f.live.len() as u64;
            let end = offset.checked_add(buf.len() as u64).filter(|&e| e <= size);
            match end {
                Some(end) => {
                    buf.copy_from_slice(&f.live[offset as usize..end as usize]);
                    Ok(())
                }
                None => Err(StorageError::OutOfRange {
                    file: self.name.clone(),
                    offset,
                    len: buf.len(),
                    size,
                }),
            }
        })
    }

    fn write_all_at(&self, offset: u64, data: &[u8]) -> tonystore::storage::Result<()> {
        self.check_open()?;
        let tick = self
            .disk
            .tick(&self.name, format_args!("write {offset}+{}", data.len()));
        if tick == Tick::Dead {
            return Err(self.io_error("write"));
        }
        if tick == Tick::Fail {
            // A failing write may still leave some of its bytes behind.
            self.with_file(|f, rng| {
                let keep = rng.below(data.len() as u64 + 1) as usize;
                if keep > 0 && !rng.one_in(2) {
                    let op = Pending::Write {
                        offset,
                        data: data[..keep].to_vec(),
                    };
                    apply(&mut f.live, &op);
                    f.pending.push(op);
                }
            });
            return Err(self.io_error("write"));
        }
        self.with_file(|f, _| {
            let op = Pending::Write {
                offset,
                data: data.to_vec(),
            };
            apply(&mut f.live, &op);
            f.pending.push(op);
        });
        Ok(())
    }

    fn set_len(&self, len: u64) -> tonystore::storage::Result<()> {
        self.check_open()?;
        if self.disk.tick(&self.name, format_args!("set_len {len}")) != Tick::Ok {
            return Err(self.io_error("set_len"));
        }
        self.with_file(|f, _| {
            let op = Pending::SetLen(len);
            apply(&mut f.live, &op);
            f.pending.push(op);
        });
        Ok(())
    }

    fn sync(&self) -> tonystore::storage::Result<()> {
        self.check_open()?;
        if self.disk.tick(&self.name, format_args!("sync")) != Tick::Ok {
            // fsyncgate: a failed sync may have written some pending pages, or none; either
            // way the caller must not trust a retry.
            return Err(self.io_error("sync"));
        }
        self.with_file(|f, _| {
            f.durable = f.live.clone();
            f.pending.clear();
        });
        Ok(())
    }

    fn preallocation(&self) -> u64 {
        self.disk.state().preallocation
    }

    fn close(&self) -> tonystore::storage::Result<()> {
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if !*closed {
            *closed = true;
            self.with_file(|f, _| f.held = false);
        }
        Ok(())
    }
}

impl Drop for SimBlockFile {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
