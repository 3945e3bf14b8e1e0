//! TFRecord framing, the container of TensorBoard events files: each record is
//! `u64 length | u32 masked_crc32c(length) | data | u32 masked_crc32c(data)`, all little-endian
//! (tensorflow/core/lib/io/record_writer.h; tensorboard/summary/writer/record_writer.py).

use super::proto::DecodeError;
use thiserror::Error;

/// Bytes a record adds around its data: length (8), its checksum (4), the data's checksum (4).
const FRAME_BYTES: usize = 8 + 4 + 4;

/// Added to the rotated CRC so that a CRC of bytes holding CRCs is not trivially zero
/// (tensorflow/tsl/lib/hash/crc32c.h `kMaskDelta`).
const MASK_DELTA: u32 = 0xa282_ead8;

/// What is wrong with the record that starts at some byte offset of a file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordProblem {
    /// The file ends inside the record (a writer killed mid-write leaves this).
    #[error("record truncated: it needs {needed} bytes, the file has {available} left")]
    Truncated {
        /// Bytes the record needs from its start.
        needed: u64,
        /// Bytes left in the file from the record's start.
        available: u64,
    },
    /// The checksum of the 8-byte length does not match.
    #[error("length checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    LengthCrc {
        /// The masked CRC in the file.
        stored: u32,
        /// The masked CRC of the length bytes.
        computed: u32,
    },
    /// The checksum of the data does not match.
    #[error("data checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    DataCrc {
        /// The masked CRC in the file.
        stored: u32,
        /// The masked CRC of the data bytes.
        computed: u32,
    },
    /// The checksums hold but the data is not an event.
    #[error("not an event: {0}")]
    NotAnEvent(DecodeError),
}

/// TensorFlow's masked CRC32C (Castagnoli) of `bytes`: the CRC rotated right by 15 bits plus
/// [`MASK_DELTA`].
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// `data` framed as one record, ready to append to an events file.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut record = Vec::with_capacity(data.len() + FRAME_BYTES);
    record.extend_from_slice(&length);
    record.extend_from_slice(&masked_crc32c(&length).to_le_bytes());
    record.extend_from_slice(data);
    record.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    record
}

/// The data of the record starting at `offset` of `bytes` and the offset of the next record;
/// `None` at the end of `bytes`. Both checksums are verified.
pub fn read_record(bytes: &[u8], offset: usize) -> Result<Option<(&[u8], usize)>, RecordProblem> {
    let rest = bytes.get(offset..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(None);
    }
    let truncated = |needed: u64| RecordProblem::Truncated {
        needed,
        available: rest.len() as u64,
    };
    if rest.len() < 12 {
        return Err(truncated(12));
    }
    let length = &rest[..8];
    let stored = le_u32(&rest[8..12]);
    let computed = masked_crc32c(length);
    if stored != computed {
        return Err(RecordProblem::LengthCrc { stored, computed });
    }
    // Checked in u64: an authentic length can still exceed what this platform can address.
    let data_len = u64::from_le_bytes(length.try_into().unwrap_or_default());
    let needed = data_len.saturating_add(FRAME_BYTES as u64);
    if needed > rest.len() as u64 {
        return Err(truncated(needed));
    }
    let data_end = 12 + data_len as usize;
    let data = &rest[12..data_end];
    let stored = le_u32(&rest[data_end..data_end + 4]);
    let computed = masked_crc32c(data);
    if stored != computed {
        return Err(RecordProblem::DataCrc { stored, computed });
    }
    Ok(Some((data, offset + data_end + 4)))
}

/// The little-endian `u32` in the first four bytes of `bytes` (callers pass exactly four).
fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::super::proto::{Event, SummaryData};
    use super::*;

    /// An events file written by TensorBoard 2.21.0's own `RecordWriter` and protos:
    /// `python3 scripts/peer/tensorboard_check.py --reference` prints it.
    const TENSORBOARD_FILE: [u8; 159] = [
        0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa3, 0x7f, 0x4b, 0x22, 0x09, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, 0x1a, 0x0d, 0x62, 0x72, 0x61, 0x69, 0x6e, 0x2e, 0x45,
        0x76, 0x65, 0x6e, 0x74, 0x3a, 0x32, 0x2a, 0x28, 0x64, 0x6c, 0x20, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x29, 0xed, 0xa9, 0x50, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x40, 0x10, 0x03, 0x2a, 0x13, 0x0a, 0x11, 0x0a, 0x0a, 0x74, 0x72, 0x61, 0x69, 0x6e, 0x2f,
        0x6c, 0x6f, 0x73, 0x73, 0x15, 0x00, 0x00, 0x80, 0x3e, 0xb9, 0xb3, 0x44, 0xcb, 0x37, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe7, 0xe8, 0xca, 0x59, 0x09, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x08, 0x40, 0x10, 0x01, 0x2a, 0x2a, 0x0a, 0x28, 0x0a, 0x05, 0x6e, 0x6f, 0x74,
        0x65, 0x73, 0x42, 0x15, 0x08, 0x07, 0x12, 0x00, 0x42, 0x0f, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
        0x20, 0x2a, 0x2a, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x2a, 0x2a, 0x4a, 0x08, 0x0a, 0x06, 0x0a,
        0x04, 0x74, 0x65, 0x78, 0x74, 0x70, 0x6d, 0x29, 0x9d,
    ];

    fn reference_events() -> Vec<Event> {
        let text = SummaryData::Text("hello **world**".into());
        let scalar = SummaryData::Scalar(0.25);
        let events = [(2.0, 3, "train/loss", scalar), (3.0, 1, "notes", text)];
        let summaries =
            events.map(|(wall_time, step, tag, data)| Event::summary(wall_time, step, tag, data));
        [vec![Event::file_version(1.5)], summaries.to_vec()].concat()
    }

    #[test]
    fn framed_events_equal_tensorboards_file() {
        let ours: Vec<u8> = reference_events()
            .iter()
            .flat_map(|e| frame(&e.encode()))
            .collect();
        assert_eq!(ours, TENSORBOARD_FILE);
        let (mut offset, mut events) = (0, Vec::new());
        while let Some((data, next)) = read_record(&TENSORBOARD_FILE, offset).unwrap() {
            events.push(Event::decode(data).unwrap());
            offset = next;
        }
        assert_eq!(events, reference_events());
    }

    #[test]
    fn masked_crc32c_matches_tensorflow() {
        // The CRC-32C check value (RFC 3720 B.4).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c (tensorboard 2.21.0).
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc32c(b""), 0xa282_ead8);
        assert_eq!(masked_crc32c(&24u64.to_le_bytes()), 0x224b_7fa3);
    }

    #[test]
    fn frame_then_read_round_trips() {
        let mut file = frame(b"first");
        file.extend(frame(b""));
        let (first, next) = read_record(&file, 0).unwrap().unwrap();
        assert_eq!((first, next), (&b"first"[..], 21));
        let (second, end) = read_record(&file, next).unwrap().unwrap();
        assert_eq!((second, end), (&b""[..], file.len()));
        assert_eq!(read_record(&file, end), Ok(None));
    }

    #[test]
    fn every_corrupted_byte_is_detected() {
        let record = frame(b"payload");
        for index in 0..record.len() {
            let mut bad = record.clone();
            bad[index] ^= 0x10;
            assert!(
                read_record(&bad, 0).is_err(),
                "flipped byte {index} went unnoticed"
            );
        }
    }

    #[test]
    fn a_cut_record_is_truncated() {
        let record = frame(b"payload");
        for cut in 1..record.len() {
            let problem = read_record(&record[..cut], 0).unwrap_err();
            assert!(
                matches!(problem, RecordProblem::Truncated { .. }),
                "cut at {cut}: {problem}"
            );
        }
    }
}
