//! [`LogFile`]: a file header, then framed, checksummed, append-only records over a
//! [`BlockFile`].
//!
//! The file starts with a 16-byte header (magic, format version, CRC-32C). A frame is
//! `[u32 payload length][u64 synced end][u32 CRC-32C of the 12 bytes before][u32 CRC-32C of the
//! payload][payload]` (big-endian); an entry's position is the offset of its length. The *synced
//! end* is how far the log was known durable when the frame was appended: recovery uses it to
//! tell a torn tail (bytes that were never synced) from corruption of synced bytes. See
//! `docs/FORMAT.md` ("Logs") and `docs/RELIABILITY.md`.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::entry::{corrupt, LogEntry};
use super::error::{Result, StoreError};
#[cfg(feature = "internals")]
use super::offsets::RangeReader;
use super::offsets::VERIFY_CHUNK;
use crate::tony::Node;

use std::sync::Arc;

use crate::storage::BlockFile;

/// Bytes before a frame's payload.
pub const FRAME_HEADER: u64 = 20;
/// Payload bytes read together with a frame's header (see `LogFile::checked_payload`).
const PAYLOAD_WITH_HEADER: u64 = 1024;
/// Bytes of the file header; the first frame starts here.
pub const LOG_HEADER: u64 = 16;
/// The magic bytes a log starts with.
const MAGIC: &[u8; 8] = b"TNYSTLOG";
/// The log format this build writes. Version 2 may hold *hollow* compacted entries (no ends:
/// the run is read through the entries below it); version 1 never does. Both are read.
pub const LOG_VERSION: u32 = 2;
/// The oldest log format this build reads.
const OLDEST_LOG_VERSION: u32 = 1;
/// The most bytes of frames [`LogFile::buffer_frames_below`] keeps unwritten.
const UNWRITTEN_BYTES: usize = 64 << 10;
/// How much a recovery scan reads at once.
const SCAN_BUFFER: usize = 1 << 20;

/// What a scan found where it stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// The file ended cleanly after the last frame.
    Clean,
    /// The bytes from this offset could not be a synced frame (a torn or unsynced tail): they
    /// were cut off, or, in a read-only log, are ignored.
    TruncatedAt(u64),
}

/// A frame's header fields, once its own checksum passed.
#[derive(Clone, Copy, Debug)]
struct FrameHeader {
    len: u64,
    synced_end: u64,
    payload_crc: u32,
}

impl FrameHeader {
    fn encode(self) -> [u8; FRAME_HEADER as usize] {
        let [l0, l1, l2, l3] = u32::try_from(self.len).unwrap_or(u32::MAX).to_be_bytes();
        let [s0, s1, s2, s3, s4, s5, s6, s7] = self.synced_end.to_be_bytes();
        let body = [l0, l1, l2, l3, s0, s1, s2, s3, s4, s5, s6, s7];
        let [c0, c1, c2, c3] = crc32c::crc32c(&body).to_be_bytes();
        let [p0, p1, p2, p3] = self.payload_crc.to_be_bytes();
        [
            l0, l1, l2, l3, s0, s1, s2, s3, s4, s5, s6, s7, c0, c1, c2, c3, p0, p1, p2, p3,
        ]
    }

    /// The header in `bytes` (at least [`FRAME_HEADER`] long), if its checksum holds.
    fn decode(bytes: &[u8]) -> Option<FrameHeader> {
        let field = |at: usize, n: usize| bytes.get(at..at.checked_add(n)?);
        let stored_crc = u32::from_be_bytes(field(12, 4)?.try_into().ok()?);
        if crc32c::crc32c(field(0, 12)?) != stored_crc {
            return None;
        }
        Some(FrameHeader {
            len: u64::from(u32::from_be_bytes(field(0, 4)?.try_into().ok()?)),
            synced_end: u64::from_be_bytes(field(4, 8)?.try_into().ok()?),
            payload_crc: u32::from_be_bytes(field(16, 4)?.try_into().ok()?),
        })
    }
}

/// The 16-byte file header this build writes.
fn file_header() -> [u8; LOG_HEADER as usize] {
    let [v0, v1, v2, v3] = LOG_VERSION.to_be_bytes();
    let [m0, m1, m2, m3, m4, m5, m6, m7] = *MAGIC;
    let body = [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, v2, v3];
    let [c0, c1, c2, c3] = crc32c::crc32c(&body).to_be_bytes();
    [
        m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, v2, v3, c0, c1, c2, c3,
    ]
}

/// What 16 bytes at the start of a log say.
#[derive(Clone, Copy)]
struct FileHeader {
    magic: bool,
    checksum: bool,
    version: u32,
}

impl FileHeader {
    fn decode(bytes: &[u8; LOG_HEADER as usize]) -> Self {
        let [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, v2, v3, c0, c1, c2, c3] = *bytes;
        let body = [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, v2, v3];
        FileHeader {
            magic: [m0, m1, m2, m3, m4, m5, m6, m7] == *MAGIC,
            checksum: crc32c::crc32c(&body) == u32::from_be_bytes([c0, c1, c2, c3]),
            version: u32::from_be_bytes([v0, v1, v2, v3]),
        }
    }

    fn is_valid(self) -> bool {
        self.magic && self.checksum
    }
}

impl FrameHeader {
    /// Where the payload of this frame at `pos` starts.
    fn payload_at(&self, pos: u64) -> u64 {
        pos.saturating_add(FRAME_HEADER)
    }

    /// Where this frame at `pos` ends (the next frame's position).
    fn end_at(&self, pos: u64) -> u64 {
        self.payload_at(pos).saturating_add(self.len)
    }
}

/// The first `n` bytes of `buf` (all of it if shorter).
fn prefix(buf: &mut [u8], n: usize) -> &mut [u8] {
    let n = n.min(buf.len());
    buf.split_at_mut(n).0
}

/// An append-only log of frames.
pub struct LogFile {
    file: Arc<dyn BlockFile>,
    end: u64,
    /// The file's length: [`end`](Self::end) plus space extended ahead of it (zeros, see
    /// [`BlockFile::preallocation`]).
    allocated: u64,
    /// Every byte before this offset is known durable.
    synced: u64,
    max_payload: u64,
    writable: bool,
    /// Frames appended but not yet written to the file: the log's last bytes, up to
    /// [`end`](Self::end). Reads of the log see them; the file gets them when they fill
    /// [`UNWRITTEN_BYTES`], before a frame written through, and at [`sync`](Self::sync).
    unwritten: Vec<u8>,
    /// Frames with payloads shorter than this are buffered in `unwritten` (0: none are).
    buffer_below: u64,
    /// The format version of the file's header ([`LOG_VERSION`] for a new file).
    version: u32,
}

impl LogFile {
    /// A writable log over `file`: an empty file (or one a crash left with a partial header)
    /// gets its header written and synced; frames longer than `max_payload` are refused
    /// (written or read).
    #[cfg(feature = "internals")]
    pub fn new(file: Box<dyn BlockFile>, max_payload: u64) -> Result<Self> {
        Self::open(file, max_payload, true)
    }

    /// A log over `file`. A read-only log never writes: a torn tail is ignored, not cut.
    pub fn open(file: Box<dyn BlockFile>, max_payload: u64, writable: bool) -> Result<Self> {
        let file: Arc<dyn BlockFile> = Arc::from(file);
        let len = file.len()?;
        let mut log = LogFile {
            file,
            end: len,
            allocated: len,
            synced: 0,
            max_payload,
            writable,
            unwritten: Vec::new(),
            buffer_below: 0,
            version: LOG_VERSION,
        };
        log.check_header(len)?;
        log.synced = log.end.min(LOG_HEADER);
        Ok(log)
    }

    /// Checks the file header, writing it to a new file.
    fn check_header(&mut self, len: u64) -> Result<()> {
        let mut found = [0u8; LOG_HEADER as usize];
        if len >= LOG_HEADER {
            self.file.read_exact_at(0, &mut found)?;
        }
        let header = FileHeader::decode(&found);
        if len > LOG_HEADER || (len == LOG_HEADER && header.is_valid()) {
            return self.check_file_header(header);
        }
        // No frame is written before the header is synced, so a file this short holds no
        // frames: whatever is there (nothing, or a header torn by a crash during creation) is
        // replaced by a fresh header.
        if self.writable {
            self.file.write_all_at(0, &file_header())?;
            self.file.set_len(LOG_HEADER)?;
            self.file.sync()?;
            self.end = LOG_HEADER;
            self.allocated = LOG_HEADER;
        } else {
            self.end = 0;
        }
        Ok(())
    }

    /// Checks a whole file header: magic, checksum, version (kept).
    fn check_file_header(&mut self, header: FileHeader) -> Result<()> {
        if !header.magic {
            return Err(corrupt(self.name(), 0, "not a tonystore log (bad magic)"));
        }
        if !header.checksum {
            return Err(corrupt(self.name(), 0, "log header checksum mismatch"));
        }
        if !(OLDEST_LOG_VERSION..=LOG_VERSION).contains(&header.version) {
            return Err(StoreError::UnsupportedFormat {
                file: self.name().to_owned(),
                found: header.version,
                supported: LOG_VERSION,
            });
        }
        self.version = header.version;
        Ok(())
    }

    /// The format version of the file (see [`LOG_VERSION`]).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The file's name, for messages.
    pub fn name(&self) -> &str {
        self.file.name()
    }

    /// Where the next frame will be written.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Where the first frame starts (also the end of an empty log).
    pub fn start(&self) -> u64 {
        LOG_HEADER.min(self.end)
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::ReadOnly)
        }
    }

    /// Buffers appended frames whose payloads are shorter than `max_payload`: a system call
    /// (or an OPFS write) per commit was a tenth of a commit without sync. They reach the
    /// file in batches, and at [`sync`](Self::sync); reads through the log see them at once.
    /// Longer frames are written through, so that a reader of the file itself
    /// ([`shared_file`](Self::shared_file)) finds every frame that long.
    pub fn buffer_frames_below(&mut self, max_payload: u64) {
        self.buffer_below = max_payload;
    }

    /// Where the file's written bytes end: the frames after it are buffered.
    fn written(&self) -> u64 {
        self.end.saturating_sub(self.unwritten.len() as u64)
    }

    /// Appends one frame and returns its position.
    ///
    /// If the write fails, the file is cut back and the cut synced, so no part of the frame can
    /// reappear; if that cleanup fails too, the error is [`StoreError::PreviousIo`] (the caller
    /// must stop writing). Either way [`end`](Self::end) is unchanged. Writing out buffered
    /// frames that fails is [`StoreError::PreviousIo`] too: they were appended already.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.check_writable()?;
        let len = payload.len() as u64;
        if len > self.max_payload || len > u64::from(u32::MAX) {
            return Err(StoreError::TooLarge {
                len,
                max: self.max_payload.min(u64::from(u32::MAX)),
            });
        }
        let header = FrameHeader {
            len,
            synced_end: self.synced,
            payload_crc: crc32c::crc32c(payload),
        };
        let frame_len = payload.len().saturating_add(FRAME_HEADER as usize);
        let buffered = len < self.buffer_below;
        if !buffered || self.unwritten.len().saturating_add(frame_len) > UNWRITTEN_BYTES {
            self.write_out()?;
        }
        let at = self.end;
        if buffered {
            self.unwritten.extend_from_slice(&header.encode());
            self.unwritten.extend_from_slice(payload);
            self.end = header.end_at(at);
            return Ok(at);
        }
        let mut frame = Vec::with_capacity(frame_len);
        frame.extend_from_slice(&header.encode());
        frame.extend_from_slice(payload);
        let frame_end = at.saturating_add(frame.len() as u64);
        self.extend_ahead(frame_end);
        if let Err(e) = self.file.write_all_at(at, &frame) {
            return match self.truncate_to(at) {
                Ok(()) => Err(e.into()),
                Err(cleanup) => Err(StoreError::PreviousIo {
                    reason: format!("{e}; cutting the frame back failed too: {cleanup}"),
                }),
            };
        }
        self.end = header.end_at(at);
        self.allocated = self.allocated.max(self.end);
        Ok(at)
    }

    /// Writes the buffered frames to the file. On failure they stay readable here, the file is
    /// cut back to before them, and the error is [`StoreError::PreviousIo`]: frames already
    /// appended did not reach the file, so the caller must stop writing.
    fn write_out(&mut self) -> Result<()> {
        if self.unwritten.is_empty() {
            return Ok(());
        }
        let at = self.written();
        self.extend_ahead(self.end);
        if let Err(e) = self.file.write_all_at(at, &self.unwritten) {
            let cleanup = self.file.set_len(at).and_then(|()| self.file.sync());
            if cleanup.is_ok() {
                self.allocated = at;
            }
            return Err(StoreError::PreviousIo {
                reason: format!(
                    "writing {} bytes of frames to {} at {at} failed: {e}{}",
                    self.unwritten.len(),
                    self.name(),
                    cleanup.map_or_else(
                        |c| format!("; cutting them back failed too: {c}"),
                        |()| String::new()
                    )
                ),
            });
        }
        self.unwritten.clear();
        self.allocated = self.allocated.max(self.end);
        Ok(())
    }

    /// Reads the log's bytes at `pos`: from the file, and from the buffered frames past what
    /// it holds.
    fn read_bytes(&self, pos: u64, buf: &mut [u8]) -> Result<()> {
        let written = self.written();
        let in_file = usize::try_from(written.saturating_sub(pos))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let (from_file, from_buffer) = buf.split_at_mut(in_file);
        if !from_file.is_empty() {
            self.file.read_exact_at(pos, from_file)?;
        }
        if !from_buffer.is_empty() {
            let start = usize::try_from(pos.saturating_add(in_file as u64).saturating_sub(written))
                .unwrap_or(usize::MAX);
            let bytes = start
                .checked_add(from_buffer.len())
                .and_then(|end| self.unwritten.get(start..end))
                .ok_or_else(|| corrupt(self.name(), pos, "read past the log's end"))?;
            from_buffer.copy_from_slice(bytes);
        }
        Ok(())
    }

    /// Extends the file ahead of a frame ending at `frame_end` that would not fit in it, by
    /// the file's [`preallocation`](BlockFile::preallocation). Best effort: if extending fails
    /// (e.g. no space for the margin), the frame is written as a plain append.
    fn extend_ahead(&mut self, frame_end: u64) {
        let ahead = self.file.preallocation();
        if ahead == 0 || frame_end <= self.allocated {
            return;
        }
        let target = frame_end.saturating_add(ahead);
        if self.file.set_len(target).is_ok() {
            self.allocated = target;
        }
    }

    /// Makes every appended frame durable.
    pub fn sync(&mut self) -> Result<()> {
        self.check_writable()?;
        self.write_out()?;
        self.file.sync()?;
        self.synced = self.end;
        Ok(())
    }

    /// Reads and checks the frame header at `pos`; `None` if it cannot be a frame (bad
    /// checksum, too long, or running past the end).
    fn header_at(&self, pos: u64) -> Result<Option<FrameHeader>> {
        if pos < LOG_HEADER || pos.checked_add(FRAME_HEADER).is_none_or(|h| h > self.end) {
            return Ok(None);
        }
        let mut bytes = [0u8; FRAME_HEADER as usize];
        self.read_bytes(pos, &mut bytes)?;
        Ok(FrameHeader::decode(&bytes).filter(|h| self.fits(pos, h)))
    }

    /// Whether a frame with `header` at `pos` lies within the log and the length limit.
    fn fits(&self, pos: u64, header: &FrameHeader) -> bool {
        header.len <= self.max_payload
            && pos
                .checked_add(FRAME_HEADER)
                .and_then(|p| p.checked_add(header.len))
                .is_some_and(|end| end <= self.end)
    }

    /// Where the frame at `pos` ends, if a valid frame header is there.
    pub fn frame_end(&self, pos: u64) -> Result<Option<u64>> {
        Ok(self.header_at(pos)?.map(|header| header.end_at(pos)))
    }

    /// The payload's offset and length of the frame at `pos`, checking the header only.
    pub fn frame_extent(&self, pos: u64) -> Result<(u64, u64)> {
        match self.header_at(pos)? {
            Some(header) => Ok((header.payload_at(pos), header.len)),
            None => Err(corrupt(
                self.name(),
                pos,
                format!("no valid frame header at {pos} (log ends at {})", self.end),
            )),
        }
    }

    /// The payload of the frame at `pos` if it is whole and its checksum holds. The header is
    /// read with up to [`PAYLOAD_WITH_HEADER`] bytes after it, so a small frame takes one read.
    fn checked_payload(&self, pos: u64) -> Result<Option<(FrameHeader, Vec<u8>)>> {
        let Some(available) = self
            .end
            .checked_sub(pos)
            .filter(|n| pos >= LOG_HEADER && *n >= FRAME_HEADER)
        else {
            return Ok(None);
        };
        let first = available.min(FRAME_HEADER.saturating_add(PAYLOAD_WITH_HEADER));
        let mut bytes = vec![0u8; first as usize];
        self.read_bytes(pos, &mut bytes)?;
        let Some(header) = FrameHeader::decode(&bytes).filter(|h| self.fits(pos, h)) else {
            return Ok(None);
        };
        let whole = FRAME_HEADER.saturating_add(header.len);
        let payload = if whole <= first {
            bytes.truncate(whole as usize);
            bytes.drain(..FRAME_HEADER as usize);
            bytes
        } else {
            let mut payload = vec![0u8; header.len as usize];
            self.read_bytes(header.payload_at(pos), &mut payload)?;
            payload
        };
        Ok((crc32c::crc32c(&payload) == header.payload_crc).then_some((header, payload)))
    }

    /// The verified payload of the frame at `pos`.
    pub fn read_payload(&self, pos: u64) -> Result<Vec<u8>> {
        match self.checked_payload(pos)? {
            Some((_, payload)) => Ok(payload),
            None => Err(corrupt(self.name(), pos, "frame fails its checksum")),
        }
    }

    /// The entry at `pos`.
    pub fn read_entry(&self, pos: u64) -> Result<LogEntry> {
        let payload = self.read_payload(pos)?;
        self.decode_entry(pos, &payload)
    }

    /// The patch of the entry at `pos` (its ends are not parsed), and the length of the
    /// payload it was parsed from.
    pub fn read_patch(&self, pos: u64) -> Result<(Node, usize)> {
        let payload = self.read_payload(pos)?;
        let patch = self.decode(pos, &payload, LogEntry::patch_from_wire)?;
        Ok((patch, payload.len()))
    }

    fn decode_entry(&self, pos: u64, payload: &[u8]) -> Result<LogEntry> {
        self.decode(pos, payload, LogEntry::from_wire)
    }

    /// Decodes the payload of the frame at `pos` with `from_wire`; failures are corruption.
    fn decode<T>(
        &self,
        pos: u64,
        payload: &[u8],
        from_wire: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let text = std::str::from_utf8(payload)
            .map_err(|_| corrupt(self.name(), pos, "entry is not UTF-8"))?;
        from_wire(text).map_err(|reason| corrupt(self.name(), pos, format!("bad entry: {reason}")))
    }

    /// The CRC-32C of each `VERIFY_CHUNK` (4 KiB) of the payload of the frame at `pos`, after
    /// checking the whole payload against its frame checksum (read a chunk at a time).
    #[cfg(feature = "internals")]
    pub fn chunk_crcs(&self, pos: u64) -> Result<Arc<[u32]>> {
        let Some(header) = self.header_at(pos)? else {
            return Err(corrupt(self.name(), pos, "no valid frame header"));
        };
        let (crcs, whole) = self.payload_checksums(pos, &header)?;
        if whole != header.payload_crc {
            return Err(corrupt(self.name(), pos, "frame fails its checksum"));
        }
        Ok(crcs.into())
    }

    /// A reader over the payload of the frame at `pos`, for streaming its entry (e.g. through a
    /// [`TokenSource`](crate::tony::TokenSource)) without holding it whole. Every chunk it
    /// hands out is checked against its checksum (computed here in one pass over the payload,
    /// which is checked whole against the frame's checksum).
    #[cfg(feature = "internals")]
    pub fn payload_reader(&self, pos: u64) -> Result<RangeReader> {
        let (start, len) = self.frame_extent(pos)?;
        let crcs = self.chunk_crcs(pos)?;
        Ok(RangeReader::verified(
            self.shared_file(),
            start,
            len,
            0,
            crcs,
        ))
    }

    /// Reads the frames from `from` to the end, calling `each(position, entry, payload)` for
    /// each: every frame's bytes are read once, so the caller indexes a large entry from the
    /// same copy that was checked and decoded.
    ///
    /// Bytes that are not a valid frame stop the scan. They are a torn tail, cut off (or, in a
    /// read-only log, ignored), when they could never have been synced: they lie at or after
    /// `synced` (what the caller knows was durable, e.g. from a checkpoint) and no valid frame
    /// after them records a synced end beyond their start. Otherwise they are corruption: a
    /// [`StoreError::Corrupt`] naming the file and offset. A valid frame whose payload does not
    /// decode is always corruption (a newer format, or a bug), never cut.
    pub fn scan(
        &mut self,
        from: u64,
        synced: u64,
        mut each: impl FnMut(u64, LogEntry, &[u8]) -> Result<()>,
    ) -> Result<ScanEnd> {
        let mut pos = from.max(self.start());
        while pos < self.end {
            match self.checked_payload(pos)? {
                Some((header, payload)) => {
                    let entry = self.decode_entry(pos, &payload)?;
                    each(pos, entry, &payload)?;
                    pos = header.end_at(pos);
                }
                None => return self.end_scan(pos, synced),
            }
        }
        Ok(ScanEnd::Clean)
    }

    /// Decides what the invalid bytes at `pos` are (see [`scan`](Self::scan)).
    fn end_scan(&mut self, pos: u64, synced: u64) -> Result<ScanEnd> {
        if pos < synced {
            return Err(corrupt(
                self.name(),
                pos,
                format!("invalid frame in the synced part of the log (synced to {synced})"),
            ));
        }
        // Zeros to the end of the file: space extended ahead and not written yet (a frame
        // never starts with a zero header: its checksum would not hold). The log ends here
        // and keeps the space.
        if self.zeros_from(pos)? {
            self.end = pos;
            return Ok(ScanEnd::Clean);
        }
        if let Some((later, claimed)) = self.later_synced_claim(pos)? {
            return Err(corrupt(
                self.name(),
                pos,
                format!(
                    "invalid frame, but the valid frame at {later} was written after the log \
                     was synced to {claimed}"
                ),
            ));
        }
        self.cut(pos)?;
        Ok(ScanEnd::TruncatedAt(pos))
    }

    /// Whether every byte from `pos` to the end of the file is zero (read in large buffers).
    fn zeros_from(&self, pos: u64) -> Result<bool> {
        let mut buf = Vec::new();
        let mut at = pos;
        while at < self.end {
            let take = self.end.saturating_sub(at).min(SCAN_BUFFER as u64) as usize;
            buf.resize(take, 0);
            self.file.read_exact_at(at, &mut buf)?;
            if buf.iter().any(|b| *b != 0) {
                return Ok(false);
            }
            at = at.saturating_add(take as u64);
        }
        Ok(true)
    }

    /// The first valid frame after `pos` that records a synced end beyond `pos`, with that
    /// synced end: proof that the bytes at `pos` were once durable. Reads the rest of the log
    /// once, in large buffers.
    fn later_synced_claim(&self, pos: u64) -> Result<Option<(u64, u64)>> {
        let mut buf = Vec::new();
        let mut at = pos.saturating_add(1);
        while at.saturating_add(FRAME_HEADER) <= self.end {
            let take = self.end.saturating_sub(at).min(SCAN_BUFFER as u64) as usize;
            buf.resize(take, 0);
            self.file.read_exact_at(at, &mut buf)?;
            // Every offset where a whole header fits in the buffer.
            let windows = buf.windows(FRAME_HEADER as usize);
            let candidates = windows.len();
            for (i, window) in windows.enumerate() {
                let candidate = at.saturating_add(i as u64);
                let Some(header) = FrameHeader::decode(window) else {
                    continue;
                };
                if header.synced_end > pos
                    && header.synced_end <= candidate
                    && self.fits(candidate, &header)
                    && self.payload_checksums(candidate, &header)?.1 == header.payload_crc
                {
                    return Ok(Some((candidate, header.synced_end)));
                }
            }
            at = at.saturating_add(candidates as u64);
        }
        Ok(None)
    }

    /// The CRC-32C of each [`VERIFY_CHUNK`] of the payload of the frame at `pos`, and of the
    /// whole payload, read [`SCAN_BUFFER`] bytes at a time.
    fn payload_checksums(&self, pos: u64, header: &FrameHeader) -> Result<(Vec<u32>, u32)> {
        let mut chunks = Vec::new();
        let mut whole = 0u32;
        let mut buf = vec![0u8; (header.len as usize).min(SCAN_BUFFER)];
        let (mut at, end) = (header.payload_at(pos), header.end_at(pos));
        while at < end {
            let piece = prefix(&mut buf, end.saturating_sub(at) as usize);
            self.read_bytes(at, piece)?;
            // SCAN_BUFFER is a multiple of VERIFY_CHUNK, so pieces split into whole chunks.
            chunks.extend(piece.chunks(VERIFY_CHUNK as usize).map(crc32c::crc32c));
            whole = crc32c::crc32c_append(whole, piece);
            at = at.saturating_add(piece.len() as u64);
        }
        Ok((chunks, whole))
    }

    /// Checks that the whole log is valid frames of decodable entries, calling `each` for each;
    /// never changes the file. Returns how many frames there are.
    pub fn verify_frames(&self, mut each: impl FnMut(u64, LogEntry) -> Result<()>) -> Result<u64> {
        let mut pos = self.start();
        let mut count: u64 = 0;
        while pos < self.end {
            let (len, entry) = match self.checked_payload(pos)? {
                Some((header, payload)) => (header.len, self.decode_entry(pos, &payload)?),
                None => return Err(corrupt(self.name(), pos, "invalid frame")),
            };
            each(pos, entry)?;
            pos = pos.saturating_add(FRAME_HEADER).saturating_add(len);
            count = count.saturating_add(1);
        }
        Ok(count)
    }

    /// Forgets the bytes from `len` on: cut off and synced in a writable log, ignored in a
    /// read-only one.
    pub fn cut(&mut self, len: u64) -> Result<()> {
        if self.writable {
            self.truncate_to(len)
        } else {
            self.end = len;
            Ok(())
        }
    }

    /// Cuts the log back to `len` bytes and syncs (dropping frames the caller found invalid).
    pub fn truncate_to(&mut self, len: u64) -> Result<()> {
        self.check_writable()?;
        let written = self.written();
        if !self.unwritten.is_empty() && len >= written {
            // Only buffered frames go: the file does not hold them. (With none buffered, a cut
            // at the written end still cuts the file: a failed append may have left bytes.)
            self.unwritten
                .truncate(usize::try_from(len.saturating_sub(written)).unwrap_or(usize::MAX));
            self.end = self.end.min(len);
            return Ok(());
        }
        self.unwritten.clear();
        self.file.set_len(len)?;
        self.file.sync()?;
        self.end = len;
        self.allocated = len;
        self.synced = len;
        Ok(())
    }

    /// The underlying file, for tests that damage a log's bytes.
    #[cfg(feature = "internals")]
    pub fn file(&self) -> &dyn BlockFile {
        &*self.file
    }

    /// A shared handle on the underlying file, for readers that outlive a borrow of the log.
    /// It holds every frame too long to be buffered (see
    /// [`buffer_frames_below`](Self::buffer_frames_below)), not necessarily shorter ones.
    pub fn shared_file(&self) -> Arc<dyn BlockFile> {
        self.file.clone()
    }

    /// Closes the file. Buffered frames not [`sync`](Self::sync)ed are dropped, like those a
    /// crash would lose.
    pub fn close(&self) -> Result<()> {
        Ok(self.file.close()?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)] // a failing test panics
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::storage::MemBlockFile;

    /// A file whose writes land but report failure while `fail` is set (a write the medium
    /// took, then an error).
    struct LandsThenFails {
        inner: MemBlockFile,
        fail: Arc<AtomicBool>,
    }

    /// A log over a [`LandsThenFails`] file buffering frames under 1,000 bytes; its failure
    /// switch; the file.
    fn failing_log() -> (LogFile, Arc<AtomicBool>, Arc<dyn BlockFile>) {
        let fail = Arc::new(AtomicBool::new(false));
        let file = LandsThenFails {
            inner: MemBlockFile::new("level0.log"),
            fail: fail.clone(),
        };
        let mut log = LogFile::open(Box::new(file), 1 << 20, true).unwrap();
        log.buffer_frames_below(1000);
        let file = log.shared_file();
        (log, fail, file)
    }

    impl BlockFile for LandsThenFails {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn len(&self) -> crate::storage::Result<u64> {
            self.inner.len()
        }
        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> crate::storage::Result<()> {
            self.inner.read_exact_at(offset, buf)
        }
        fn write_all_at(&self, offset: u64, data: &[u8]) -> crate::storage::Result<()> {
            self.inner.write_all_at(offset, data)?;
            if self.fail.load(Ordering::Relaxed) {
                return Err(crate::storage::StorageError::Io {
                    file: self.name().to_owned(),
                    source: std::io::Error::other("injected"),
                });
            }
            Ok(())
        }
        fn set_len(&self, len: u64) -> crate::storage::Result<()> {
            self.inner.set_len(len)
        }
        fn sync(&self) -> crate::storage::Result<()> {
            self.inner.sync()
        }
        fn close(&self) -> crate::storage::Result<()> {
            self.inner.close()
        }
    }

    #[test]
    fn a_failed_write_through_is_cut_from_the_file_whatever_was_buffered() {
        let (mut log, fail, file) = failing_log();
        let small = log.append(b"buffered").unwrap();
        fail.store(true, Ordering::Relaxed);
        // The buffered frame is written out first (it lands, and fails): the append fails.
        assert!(matches!(
            log.append(&[b'z'; 2000]),
            Err(StoreError::PreviousIo { .. })
        ));
        assert_eq!(
            file.len().unwrap(),
            small,
            "nothing the failure wrote stays"
        );
        // Nothing buffered: a failed write-through is cut back too.
        let (mut log, fail, file) = failing_log();
        let end = log.end();
        fail.store(true, Ordering::Relaxed);
        assert!(log.append(&[b'z'; 2000]).is_err());
        assert_eq!(log.end(), end);
        assert_eq!(
            file.len().unwrap(),
            end,
            "the failed frame is cut from the file"
        );
    }

    fn buffered_log(file: MemBlockFile) -> (LogFile, Arc<dyn BlockFile>) {
        let mut log = LogFile::open(Box::new(file), 1 << 20, true).unwrap();
        log.buffer_frames_below(1000);
        let file = log.shared_file();
        (log, file)
    }

    #[test]
    fn buffered_frames_read_back_at_once_and_reach_the_file_at_sync() {
        let (mut log, file) = buffered_log(MemBlockFile::new("level0.log"));
        let payloads = [b"first".to_vec(), vec![b'x'; 300], b"third".to_vec()];
        let at: Vec<u64> = payloads.iter().map(|p| log.append(p).unwrap()).collect();
        assert_eq!(file.len().unwrap(), LOG_HEADER, "nothing written yet");
        for (pos, payload) in at.iter().zip(&payloads) {
            assert_eq!(&log.read_payload(*pos).unwrap(), payload);
        }
        log.sync().unwrap();
        assert!(file.len().unwrap() >= log.end());
        // A long frame is written through, after the frames buffered before it.
        let small = log.append(b"small").unwrap();
        let long = log.append(&[b'y'; 2000]).unwrap();
        assert!(file.len().unwrap() >= log.end(), "written through");
        let mut bytes = vec![0u8; 5];
        file.read_exact_at(small + FRAME_HEADER, &mut bytes)
            .unwrap();
        assert_eq!(bytes, b"small");
        assert_eq!(log.read_payload(long).unwrap(), vec![b'y'; 2000]);
        for (pos, payload) in at.iter().zip(&payloads) {
            assert_eq!(&log.read_payload(*pos).unwrap(), payload);
        }
    }

    #[test]
    fn a_failed_write_out_latches_and_keeps_the_frames_readable() {
        let (mut log, file) = buffered_log(MemBlockFile::with_capacity("level0.log", 200));
        let first = log.append(&[b'a'; 150]).unwrap();
        let second = log.append(&[b'b'; 150]).unwrap();
        assert!(matches!(log.sync(), Err(StoreError::PreviousIo { .. })));
        assert_eq!(
            file.len().unwrap(),
            LOG_HEADER,
            "cut back to before the frames"
        );
        assert_eq!(log.read_payload(first).unwrap(), vec![b'a'; 150]);
        assert_eq!(log.read_payload(second).unwrap(), vec![b'b'; 150]);
    }

    #[test]
    fn cutting_into_buffered_frames_drops_only_them() {
        let (mut log, file) = buffered_log(MemBlockFile::new("level0.log"));
        let first = log.append(b"kept").unwrap();
        log.sync().unwrap();
        let second = log.append(b"buffered, kept").unwrap();
        let third = log.append(b"buffered, cut").unwrap();
        log.truncate_to(third).unwrap();
        assert_eq!(log.end(), third);
        assert_eq!(log.read_payload(first).unwrap(), b"kept");
        assert_eq!(log.read_payload(second).unwrap(), b"buffered, kept");
        assert!(log.read_payload(third).is_err());
        log.sync().unwrap();
        let mut bytes = vec![0u8; 14];
        file.read_exact_at(second + FRAME_HEADER, &mut bytes)
            .unwrap();
        assert_eq!(bytes, b"buffered, kept");
        assert!(file.len().unwrap() >= third);
    }
}
