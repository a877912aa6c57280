//! [`LogFile`]: framed, checksummed, append-only records over a [`BlockFile`].
//!
//! A frame is `[u32 BE payload length][u32 BE CRC-32C of the length's 4 bytes][u32 BE CRC-32C
//! of the payload][payload]`; an entry's position is the offset of its length prefix. The
//! length has its own checksum so that a damaged length is told apart from a torn tail without
//! trusting it. See `docs/FORMAT.md`.

use super::entry::{corrupt, LogEntry};
use super::error::{Result, StoreError};
use super::offsets::RangeReader;
use std::rc::Rc;

use crate::storage::BlockFile;

/// Bytes before a frame's payload.
pub const FRAME_HEADER: u64 = 12;

/// What a scan found where it stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// The file ended cleanly after the last frame.
    Clean,
    /// The tail from this offset was torn (incomplete or failing its checksum) and was cut off.
    TruncatedAt(u64),
}

/// An append-only log of frames.
pub struct LogFile {
    file: Rc<dyn BlockFile>,
    end: u64,
    max_payload: u64,
}

impl LogFile {
    /// A log over `file`; frames longer than `max_payload` are refused (written or read).
    pub fn new(file: Box<dyn BlockFile>, max_payload: u64) -> Result<Self> {
        let end = file.len()?;
        Ok(LogFile {
            file: Rc::from(file),
            end,
            max_payload,
        })
    }

    /// The file's name, for messages.
    pub fn name(&self) -> &str {
        self.file.name()
    }

    /// Where the next frame will be written.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Appends one frame and returns its position. On failure the file is cut back, so nothing
    /// of the frame remains.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        let len = payload.len() as u64;
        if len > self.max_payload || len > u64::from(u32::MAX) {
            return Err(StoreError::TooLarge {
                len,
                max: self.max_payload.min(u64::from(u32::MAX)),
            });
        }
        let mut frame = Vec::with_capacity(payload.len() + FRAME_HEADER as usize);
        let len_bytes = (len as u32).to_be_bytes();
        frame.extend_from_slice(&len_bytes);
        frame.extend_from_slice(&crc32c::crc32c(&len_bytes).to_be_bytes());
        frame.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
        frame.extend_from_slice(payload);
        let at = self.end;
        if let Err(e) = self.file.write_all_at(at, &frame) {
            // Best effort: remove whatever part of the frame reached the file.
            let _ = self.file.set_len(at);
            return Err(e.into());
        }
        self.end = at + frame.len() as u64;
        Ok(at)
    }

    /// Makes every appended frame durable.
    pub fn sync(&self) -> Result<()> {
        Ok(self.file.sync()?)
    }

    /// The payload's offset and length of the frame at `pos`, checking the header only.
    pub fn frame_extent(&self, pos: u64) -> Result<(u64, u64)> {
        let name = self.name();
        if pos.checked_add(FRAME_HEADER).is_none_or(|h| h > self.end) {
            return Err(corrupt(
                name,
                pos,
                format!("no frame header at {pos} (log ends at {})", self.end),
            ));
        }
        let mut header = [0u8; FRAME_HEADER as usize];
        self.file.read_exact_at(pos, &mut header)?;
        let len_bytes: [u8; 4] = header[..4].try_into().expect("4 bytes");
        if crc32c::crc32c(&len_bytes).to_be_bytes() != header[4..8] {
            return Err(corrupt(name, pos, "frame header checksum mismatch"));
        }
        let len = u64::from(u32::from_be_bytes(len_bytes));
        if len > self.max_payload {
            return Err(corrupt(
                name,
                pos,
                format!(
                    "frame length {len} exceeds the maximum {}",
                    self.max_payload
                ),
            ));
        }
        if pos + FRAME_HEADER + len > self.end {
            return Err(corrupt(
                name,
                pos,
                format!(
                    "frame of {len} bytes runs past the end of the log ({})",
                    self.end
                ),
            ));
        }
        Ok((pos + FRAME_HEADER, len))
    }

    /// The verified payload of the frame at `pos`.
    pub fn read_payload(&self, pos: u64) -> Result<Vec<u8>> {
        let (start, len) = self.frame_extent(pos)?;
        let mut crc = [0u8; 4];
        self.file.read_exact_at(pos + 8, &mut crc)?;
        let mut payload = vec![0u8; len as usize];
        self.file.read_exact_at(start, &mut payload)?;
        if crc32c::crc32c(&payload) != u32::from_be_bytes(crc) {
            return Err(corrupt(self.name(), pos, "payload checksum mismatch"));
        }
        Ok(payload)
    }

    /// The entry at `pos`.
    pub fn read_entry(&self, pos: u64) -> Result<LogEntry> {
        let payload = self.read_payload(pos)?;
        let text = std::str::from_utf8(&payload)
            .map_err(|_| corrupt(self.name(), pos, "entry is not UTF-8"))?;
        LogEntry::from_wire(text)
            .map_err(|reason| corrupt(self.name(), pos, format!("bad entry: {reason}")))
    }

    /// A reader over the payload of the frame at `pos`, for streaming its entry (e.g. through a
    /// [`TokenSource`](crate::tony::TokenSource)) without holding it whole. The header is
    /// checked; the payload checksum is not (that needs every byte: use
    /// [`read_entry`](Self::read_entry) to verify).
    pub fn payload_reader(&self, pos: u64) -> Result<RangeReader> {
        let (start, len) = self.frame_extent(pos)?;
        Ok(RangeReader::new(self.shared_file(), start, start + len))
    }

    /// Reads the frames from `from` to the end, calling `each(position, entry)` for each.
    ///
    /// A bad frame (incomplete, failing a checksum, or not an entry) with no valid frame after
    /// it is a torn tail: it is cut off and the cut synced. A bad frame followed by a valid one
    /// is mid-log corruption: a [`StoreError::Corrupt`] naming the file and offset.
    pub fn scan(
        &mut self,
        from: u64,
        mut each: impl FnMut(u64, LogEntry) -> Result<()>,
    ) -> Result<ScanEnd> {
        let mut pos = from;
        while pos < self.end {
            match self.read_entry(pos) {
                Ok(entry) => {
                    let (start, len) = self.frame_extent(pos)?;
                    each(pos, entry)?;
                    pos = start + len;
                }
                Err(StoreError::Corrupt { reason, .. }) => {
                    return match self.next_valid_frame(pos + 1)? {
                        Some(valid) => Err(corrupt(
                            self.name(),
                            pos,
                            format!("{reason}; a valid frame follows at {valid}"),
                        )),
                        None => self.truncate_tail(pos),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        Ok(ScanEnd::Clean)
    }

    /// The first offset at or after `from` where a whole valid frame starts.
    fn next_valid_frame(&self, from: u64) -> Result<Option<u64>> {
        for at in from..self.end.saturating_sub(FRAME_HEADER - 1) {
            if self.frame_extent(at).is_ok() && self.read_payload(at).is_ok() {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    fn truncate_tail(&mut self, at: u64) -> Result<ScanEnd> {
        self.file.set_len(at)?;
        self.file.sync()?;
        self.end = at;
        Ok(ScanEnd::TruncatedAt(at))
    }

    /// Cuts the log back to `len` bytes and syncs (dropping frames the caller found invalid).
    pub fn truncate_to(&mut self, len: u64) -> Result<()> {
        self.file.set_len(len)?;
        self.file.sync()?;
        self.end = len;
        Ok(())
    }

    /// The underlying file, for streaming reads of a frame's byte range.
    pub fn file(&self) -> &dyn BlockFile {
        &*self.file
    }

    /// A shared handle on the underlying file, for readers that outlive a borrow of the log.
    pub fn shared_file(&self) -> Rc<dyn BlockFile> {
        self.file.clone()
    }

    /// Closes the file.
    pub fn close(&self) -> Result<()> {
        Ok(self.file.close()?)
    }
}
