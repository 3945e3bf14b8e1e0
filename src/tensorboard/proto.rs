//! Hand-written protobuf encoding and decoding of the few TensorBoard messages an events file
//! of ours holds. Field numbers are those of tensorboard/compat/proto/event.proto,
//! summary.proto, tensor.proto and tensor_shape.proto; fields are written in field-number
//! order, proto3 defaults omitted, as Python's protobuf does, so the bytes equal TensorBoard's.

use thiserror::Error;

/// The `file_version` of the first event of every file; "brain.Event:2" also tells
/// TensorBoard's reader not to purge events whose steps go back.
pub const FILE_VERSION: &str = "brain.Event:2";

/// `DataType.DT_STRING` (types.proto).
const DT_STRING: u64 = 7;
/// The text plugin's name (tensorboard/plugins/text/metadata.py `PLUGIN_NAME`).
const TEXT_PLUGIN: &str = "text";

/// One event (`tensorboard.Event`): when, at which step, and what.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// Seconds since the Unix epoch (field 1).
    pub wall_time: f64,
    /// The training step; our writers use the epoch (field 2).
    pub step: i64,
    /// The `what` oneof.
    pub data: EventData,
}

/// The part of an event this module knows (the `what` oneof of event.proto).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum EventData {
    /// `file_version` (field 3), the first event of a file.
    FileVersion(String),
    /// `summary` (field 5): the values of one step.
    Summary(Vec<SummaryValue>),
    /// Nothing, or a kind this module neither writes nor reads (graphs, session logs).
    #[default]
    Other,
}

/// One tagged value of a summary (`Summary.Value`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryValue {
    /// The series name, e.g. `train/loss` (field 1).
    pub tag: String,
    /// The value.
    pub data: SummaryData,
}

/// The value of a [`SummaryValue`].
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SummaryData {
    /// `simple_value` (field 2): a scalar of the scalars dashboard.
    Scalar(f32),
    /// A `DT_STRING` `tensor` (field 8) holding one string: Markdown for the text dashboard.
    Text(String),
    /// Any other value (images, histograms, other tensors).
    #[default]
    Other,
}

/// Why bytes are not a well-formed message of ours.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// A field runs past the end of its message.
    #[error("protobuf field runs past the end of its message")]
    Truncated,
    /// A varint longer than 10 bytes.
    #[error("protobuf varint longer than 10 bytes")]
    VarintTooLong,
    /// Groups (3, 4) or an undefined wire type.
    #[error("unsupported protobuf wire type {0}")]
    WireType(u64),
}

impl Event {
    /// The first event of a file: its [`FILE_VERSION`].
    pub fn file_version(wall_time: f64) -> Self {
        let data = EventData::FileVersion(FILE_VERSION.into());
        Event {
            wall_time,
            step: 0,
            data,
        }
    }

    /// An event of one summary value.
    pub fn summary(wall_time: f64, step: i64, tag: &str, data: SummaryData) -> Self {
        let values = vec![SummaryValue {
            tag: tag.into(),
            data,
        }];
        Event {
            wall_time,
            step,
            data: EventData::Summary(values),
        }
    }

    /// The protobuf encoding of this event.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.wall_time != 0.0 {
            put_key(&mut out, 1, FIXED64);
            out.extend_from_slice(&self.wall_time.to_le_bytes());
        }
        if self.step != 0 {
            put_key(&mut out, 2, VARINT);
            put_varint(&mut out, self.step as u64);
        }
        match &self.data {
            EventData::FileVersion(version) => put_bytes(&mut out, 3, version.as_bytes()),
            EventData::Summary(values) => {
                let mut summary = Vec::new();
                for value in values {
                    put_bytes(&mut summary, 1, &value.encode());
                }
                put_bytes(&mut out, 5, &summary);
            }
            EventData::Other => {}
        }
        out
    }

    /// Decodes an event. Unknown fields, and known ones of another wire type than their
    /// .proto declares, are skipped, as protobuf's own parsers do.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut event = Event::default();
        for field in Fields(bytes) {
            match field? {
                (1, Wire::Fixed64(bits)) => event.wall_time = f64::from_bits(bits),
                (2, Wire::Varint(step)) => event.step = step as i64,
                (3, Wire::Bytes(version)) => {
                    event.data = EventData::FileVersion(String::from_utf8_lossy(version).into());
                }
                (5, Wire::Bytes(summary)) => {
                    let mut values = Vec::new();
                    for value in Fields(summary) {
                        if let (1, Wire::Bytes(value)) = value? {
                            values.push(SummaryValue::decode(value)?);
                        }
                    }
                    event.data = EventData::Summary(values);
                }
                _ => {}
            }
        }
        Ok(event)
    }
}

impl SummaryValue {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.tag.is_empty() {
            put_bytes(&mut out, 1, self.tag.as_bytes());
        }
        match &self.data {
            // A oneof member is written even when it is 0.0.
            SummaryData::Scalar(value) => {
                put_key(&mut out, 2, FIXED32);
                out.extend_from_slice(&value.to_le_bytes());
            }
            SummaryData::Text(markdown) => {
                // TensorProto { dtype, tensor_shape: {} (rank 0), string_val: [markdown] }.
                let mut tensor = Vec::new();
                put_key(&mut tensor, 1, VARINT);
                put_varint(&mut tensor, DT_STRING);
                put_bytes(&mut tensor, 2, &[]);
                put_bytes(&mut tensor, 8, markdown.as_bytes());
                put_bytes(&mut out, 8, &tensor);
                // SummaryMetadata { plugin_data: { plugin_name: "text" } }; empty content is
                // the text plugin's version 0.
                let mut plugin_data = Vec::new();
                put_bytes(&mut plugin_data, 1, TEXT_PLUGIN.as_bytes());
                let mut metadata = Vec::new();
                put_bytes(&mut metadata, 1, &plugin_data);
                put_bytes(&mut out, 9, &metadata);
            }
            SummaryData::Other => {}
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut value = SummaryValue::default();
        for field in Fields(bytes) {
            match field? {
                (1, Wire::Bytes(tag)) => value.tag = String::from_utf8_lossy(tag).into(),
                (2, Wire::Fixed32(bits)) => value.data = SummaryData::Scalar(f32::from_bits(bits)),
                (8, Wire::Bytes(tensor)) => value.data = decode_text_tensor(tensor)?,
                _ => {}
            }
        }
        Ok(value)
    }
}

/// [`SummaryData::Text`] for a `DT_STRING` tensor of exactly one string, else `Other`.
fn decode_text_tensor(bytes: &[u8]) -> Result<SummaryData, DecodeError> {
    let mut dtype = 0;
    let mut strings = Vec::new();
    for field in Fields(bytes) {
        match field? {
            (1, Wire::Varint(value)) => dtype = value,
            (8, Wire::Bytes(string)) => strings.push(string),
            _ => {}
        }
    }
    Ok(match strings.as_slice() {
        [text] if dtype == DT_STRING => SummaryData::Text(String::from_utf8_lossy(text).into()),
        _ => SummaryData::Other,
    })
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const BYTES: u64 = 2;
const FIXED32: u64 = 5;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    put_varint(out, (field << 3) | wire_type);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(out, field, BYTES);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One field's payload as the wire carries it.
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The `(field number, payload)` pairs of a message, in order; after an error, nothing.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = self.read_field();
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
}

impl<'a> Fields<'a> {
    fn read_field(&mut self) -> Result<(u64, Wire<'a>), DecodeError> {
        let key = self.read_varint()?;
        let wire = match key & 7 {
            VARINT => Wire::Varint(self.read_varint()?),
            FIXED64 => Wire::Fixed64(u64::from_le_bytes(self.take_array()?)),
            BYTES => {
                let len =
                    usize::try_from(self.read_varint()?).map_err(|_| DecodeError::Truncated)?;
                Wire::Bytes(self.take(len)?)
            }
            FIXED32 => Wire::Fixed32(u32::from_le_bytes(self.take_array()?)),
            other => return Err(DecodeError::WireType(other)),
        };
        Ok((key >> 3, wire))
    }

    fn read_varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for index in 0..10 {
            let byte = *self.take(1)?.first().ok_or(DecodeError::Truncated)?;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_including_zero_and_negative_values() {
        let text = SummaryData::Text("# Run\n".into());
        for event in [
            Event::summary(0.0, 0, "lr", SummaryData::Scalar(0.0)),
            Event::summary(-1.0, -3, "", text),
            Event::file_version(1.7e9),
            Event {
                wall_time: 2.5,
                step: i64::MAX,
                data: EventData::Other,
            },
        ] {
            assert_eq!(Event::decode(&event.encode()), Ok(event));
        }
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let bytes = Event::summary(1.0, 300, "notes", SummaryData::Text("x".into())).encode();
        for cut in 0..bytes.len() {
            let _ = Event::decode(&bytes[..cut]); // any prefix gives a result, never a panic
        }
        assert_eq!(
            Event::decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Event::decode(&[0x0b]), Err(DecodeError::WireType(3)));
        let long_varint = [
            0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1,
        ];
        assert_eq!(Event::decode(&long_varint), Err(DecodeError::VarintTooLong));
        // A known field of another wire type is skipped, as protobuf does.
        assert_eq!(Event::decode(&[0x15, 0, 0, 0, 0]), Ok(Event::default()));
    }
}
