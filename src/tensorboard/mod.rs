//! TensorBoard events files: `<run dir>/tensorboard/events.out.tfevents.*`, which TensorBoard's
//! own reader loads. Each session writes a new file (never appending to a file a killed process
//! may have cut mid-record); TensorBoard shows the files of one directory as one run. On resume,
//! [`last_step`] says which steps are already written, so that none is written twice.

mod proto;
mod record;

pub use proto::{DecodeError, Event, EventData, FILE_VERSION, SummaryData, SummaryValue};
pub use record::RecordProblem;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// The subdirectory of a run directory that holds its events files.
pub const TENSORBOARD_DIR: &str = "tensorboard";

/// What names an events file, for us and for TensorBoard (`io_wrapper.IsTensorFlowEventsFile`).
const EVENTS_FILE_MARK: &str = "tfevents";

/// Numbers the files this process creates, so two writers in one second get different names.
static FILES_CREATED: AtomicU64 = AtomicU64::new(0);

/// A failure to write or read an events file; each names the file.
#[derive(Debug, Error)]
pub enum TensorBoardError {
    /// Creating, writing, syncing or reading failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// A record is truncated, fails a checksum or holds no event.
    #[error("{path}: record at byte {offset}: {problem}")]
    Record {
        /// The events file.
        path: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// What is wrong.
        problem: RecordProblem,
    },
}

/// One scalar of an events file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The series, e.g. `val/top1_err`.
    pub tag: String,
    /// The step (our writers use the epoch).
    pub step: i64,
    /// The value.
    pub value: f32,
}

/// Appends events to a new file `events.out.tfevents.<unix seconds>.<host>.<pid>.<counter>`.
/// Records are buffered; [`EventWriter::flush`] makes them durable.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if needed and a new events file in it, whose first event is the
    /// `file_version` [`FILE_VERSION`]. Never opens an existing file.
    pub fn create(dir: &Path) -> Result<Self, TensorBoardError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let wall_time = wall_time_now();
        let (path, file) = create_new_file(dir, wall_time as u64)?;
        let mut writer = EventWriter {
            path,
            file: BufWriter::new(file),
        };
        writer.write(&Event::file_version(wall_time))?;
        writer.flush()?;
        Ok(writer)
    }

    /// The file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `value` as the scalar `tag` at `step` (the scalars dashboard).
    pub fn scalar(
        &mut self,
        tag: &str,
        step: i64,
        value: f32,
        at: f64,
    ) -> Result<(), TensorBoardError> {
        self.value(tag, step, SummaryData::Scalar(value), at)
    }

    /// Writes `markdown` as the text `tag` at `step` (the text dashboard).
    pub fn text(
        &mut self,
        tag: &str,
        step: i64,
        markdown: &str,
        at: f64,
    ) -> Result<(), TensorBoardError> {
        self.value(tag, step, SummaryData::Text(markdown.into()), at)
    }

    /// Writes one summary value `tag` at `step`, wall time `at` (Unix seconds).
    pub fn value(
        &mut self,
        tag: &str,
        step: i64,
        data: SummaryData,
        at: f64,
    ) -> Result<(), TensorBoardError> {
        self.write(&Event::summary(at, step, tag, data))
    }

    /// Writes the buffered records to the file and syncs it to disk.
    pub fn flush(&mut self) -> Result<(), TensorBoardError> {
        self.file.flush().map_err(io_error(&self.path))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(io_error(&self.path))
    }

    fn write(&mut self, event: &Event) -> Result<(), TensorBoardError> {
        let bytes = record::frame(&event.encode());
        self.file.write_all(&bytes).map_err(io_error(&self.path))
    }
}

/// Seconds since the Unix epoch, the `wall_time` of an event (0 if the clock is before 1970).
pub fn wall_time_now() -> f64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0.0, |since| since.as_secs_f64())
}

/// Every event of the file at `path`. Both checksums of every record are checked; a bad one,
/// a truncated record or undecodable data is an error naming the record's byte offset.
pub fn read_events(path: &Path) -> Result<Vec<Event>, TensorBoardError> {
    read_file(path, false)
}

/// Every scalar of every events file in `dir`, files in name order (TensorBoard's order); none
/// if `dir` does not exist. A truncated last record of a file, left by a killed writer, is
/// skipped with a warning; any other damage is an error.
pub fn read_scalars(dir: &Path) -> Result<Vec<Scalar>, TensorBoardError> {
    let mut scalars = Vec::new();
    for event in read_dir_events(dir)? {
        let EventData::Summary(values) = event.data else {
            continue;
        };
        for value in values {
            if let SummaryData::Scalar(scalar) = value.data {
                scalars.push(Scalar {
                    tag: value.tag,
                    step: event.step,
                    value: scalar,
                });
            }
        }
    }
    Ok(scalars)
}

/// The greatest step at which an events file in `dir` holds a value tagged `tag`, so that a
/// resumed run writes only later steps; `None` if none does. Reads as [`read_scalars`] does.
pub fn last_step(dir: &Path, tag: &str) -> Result<Option<i64>, TensorBoardError> {
    let events = read_dir_events(dir)?;
    let tagged = events.iter().filter(|event| match &event.data {
        EventData::Summary(values) => values.iter().any(|value| value.tag == tag),
        _ => false,
    });
    Ok(tagged.map(|event| event.step).max())
}

/// The events of every events file in `dir`, files in name order, skipping truncated tails.
fn read_dir_events(dir: &Path) -> Result<Vec<Event>, TensorBoardError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(dir)(error)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.contains(EVENTS_FILE_MARK) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut events = Vec::new();
    for path in files {
        events.extend(read_file(&path, true)?);
    }
    Ok(events)
}

/// The events of the file at `path`; a truncated last record ends it quietly if
/// `skip_truncated_tail`, else it is an error like any other damaged record.
fn read_file(path: &Path, skip_truncated_tail: bool) -> Result<Vec<Event>, TensorBoardError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let mut events = Vec::new();
    let mut offset = 0;
    let problem = loop {
        let (data, next) = match record::read_record(&bytes, offset) {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(events),
            Err(problem) => break problem,
        };
        match Event::decode(data) {
            Ok(event) => events.push(event),
            Err(error) => break RecordProblem::NotAnEvent(error),
        }
        offset = next;
    };
    if skip_truncated_tail && matches!(problem, RecordProblem::Truncated { .. }) {
        log::warn!(
            "{}: ignoring the truncated record at byte {offset}",
            path.display()
        );
        return Ok(events);
    }
    Err(TensorBoardError::Record {
        path: path.into(),
        offset: offset as u64,
        problem,
    })
}

/// Creates a file of a name not yet used in `dir`; `create_new` guards against other processes.
fn create_new_file(dir: &Path, unix_seconds: u64) -> Result<(PathBuf, File), TensorBoardError> {
    let host = hostname();
    let pid = std::process::id();
    loop {
        let counter = FILES_CREATED.fetch_add(1, Ordering::Relaxed);
        let name =
            format!("events.out.{EVENTS_FILE_MARK}.{unix_seconds:010}.{host}.{pid}.{counter}");
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(io_error(&path)(error)),
        }
    }
}

/// This machine's name for file names (letters, digits, `-`, `_`, `.`), or `localhost`.
fn hostname() -> String {
    let files = ["/proc/sys/kernel/hostname", "/etc/hostname"];
    let name = files
        .iter()
        .find_map(|file| fs::read_to_string(file).ok())
        .unwrap_or_default();
    let allowed = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let name: String = name.trim().chars().filter(allowed).collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// Turns an I/O error on `path` into a [`TensorBoardError`] that names it.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> TensorBoardError + '_ {
    move |error| TensorBoardError::Io {
        path: path.into(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_steps(dir: &Path) -> Vec<(i64, f32)> {
        read_scalars(dir)
            .unwrap()
            .iter()
            .map(|s| (s.step, s.value))
            .collect()
    }

    #[test]
    fn written_scalars_and_text_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        writer
            .text("config", 0, "# VGG-A\n`lr = 0.01`", 10.0)
            .unwrap();
        for epoch in 1..=3 {
            writer
                .scalar("train/loss", epoch, 1.0 / epoch as f32, 10.0)
                .unwrap();
        }
        writer.flush().unwrap();
        let events = read_events(writer.path()).unwrap();
        assert_eq!(events[0].data, EventData::FileVersion(FILE_VERSION.into()));
        let text = SummaryData::Text("# VGG-A\n`lr = 0.01`".into());
        assert_eq!(events[1], Event::summary(10.0, 0, "config", text));
        assert_eq!(
            scalar_steps(dir.path()),
            [(1, 1.0), (2, 0.5), (3, 1.0 / 3.0)]
        );
        assert_eq!(last_step(dir.path(), "config").unwrap(), Some(0));
        assert_eq!(last_step(dir.path(), "val/loss").unwrap(), None);
        assert_eq!(
            last_step(&dir.path().join("absent"), "config").unwrap(),
            None
        );
    }

    #[test]
    fn a_corrupted_byte_is_reported_with_its_record_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        writer.scalar("lr", 1, 0.01, 1.0).unwrap();
        writer.flush().unwrap();
        let mut bytes = fs::read(writer.path()).unwrap();
        let second_record = record::read_record(&bytes, 0).unwrap().unwrap().1;
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(writer.path(), &bytes).unwrap();
        let error = read_events(writer.path()).unwrap_err().to_string();
        let expected = format!(
            "{}: record at byte {second_record}: data checksum",
            writer.path().display()
        );
        assert!(error.starts_with(&expected), "{error}");
        assert!(
            read_scalars(dir.path()).is_err(),
            "damage other than truncation is an error"
        );
    }

    #[test]
    fn resume_after_a_truncated_record_loses_and_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut killed = EventWriter::create(dir.path()).unwrap();
        for epoch in 1..=3 {
            killed.scalar("val/loss", epoch, epoch as f32, 0.0).unwrap();
        }
        killed.flush().unwrap();
        let bytes = fs::read(killed.path()).unwrap();
        fs::write(killed.path(), &bytes[..bytes.len() - 5]).unwrap();
        let error = read_events(killed.path()).unwrap_err();
        assert!(matches!(
            error,
            TensorBoardError::Record {
                problem: RecordProblem::Truncated { .. },
                ..
            }
        ));
        let done = last_step(dir.path(), "val/loss").unwrap();
        assert_eq!(done, Some(2));
        let mut resumed = EventWriter::create(dir.path()).unwrap();
        for epoch in (1..=4).filter(|&epoch| Some(epoch) > done) {
            resumed
                .scalar("val/loss", epoch, epoch as f32, 0.0)
                .unwrap();
        }
        resumed.flush().unwrap();
        assert_eq!(
            scalar_steps(dir.path()),
            [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
        );
    }

    #[test]
    fn file_names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = (0..20)
            .map(|_| EventWriter::create(dir.path()).unwrap())
            .collect();
        let names: std::collections::BTreeSet<_> =
            writers.iter().map(|w| w.path().to_owned()).collect();
        assert_eq!(names.len(), 20);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 20);
        assert!(
            read_dir_events(dir.path())
                .unwrap()
                .iter()
                .all(|e| e.data == Event::file_version(0.0).data)
        );
    }
}
