//! The library's one output channel: every line the library has for the person at the terminal
//! (an epoch's summary, a resumed run, a skipped image) goes through [`line`], to the [`Sink`]
//! the program installed, so that the binary owns the terminal and a program embedding the
//! library can take the lines elsewhere. burn-train installs its own `log`/`tracing` subscriber
//! (the run's `logs/experiment.log`), which is why this is not the `log` crate.
//!
//! Without an installed sink, lines go where they always went: [`Kind::Out`] to stdout, the
//! rest to stderr.

use std::sync::OnceLock;

/// What a line is, which decides where a terminal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A result or progress a user reads or pipes (stdout): epoch summaries, results.
    Out,
    /// Progress of a long step that is not a result (stderr): evaluation throughput.
    Progress,
    /// Something the user should know that does not stop the run (stderr): skipped images,
    /// an ignored checkpoint, a lock taken over. The text carries its own `warning:` or
    /// `note:` prefix.
    Warning,
}

/// Where the library's lines go.
pub trait Sink: Send + Sync {
    /// Shows one line (without its newline).
    fn line(&self, kind: Kind, text: &str);
}

/// The standard streams: [`Kind::Out`] to stdout, the rest to stderr.
#[derive(Debug, Default, Clone, Copy)]
pub struct Terminal;

impl Sink for Terminal {
    fn line(&self, kind: Kind, text: &str) {
        use std::io::Write;
        // A closed pipe (`vgg-train … | head`) must not turn a line into a panic.
        let _ = match kind {
            Kind::Out => writeln!(std::io::stdout().lock(), "{text}"),
            Kind::Progress | Kind::Warning => writeln!(std::io::stderr().lock(), "{text}"),
        };
    }
}

static SINK: OnceLock<Box<dyn Sink>> = OnceLock::new();

/// Installs the process's sink; the first one installed stays (later calls return `false`).
pub fn install(sink: Box<dyn Sink>) -> bool {
    SINK.set(sink).is_ok()
}

/// Sends one line to the installed sink, or to the [`Terminal`].
pub fn line(kind: Kind, text: &str) {
    match SINK.get() {
        Some(sink) => sink.line(kind, text),
        None => Terminal.line(kind, text),
    }
}

/// A result or progress line for stdout.
pub fn out(text: impl AsRef<str>) {
    line(Kind::Out, text.as_ref());
}

/// A progress line for stderr.
pub fn progress(text: impl AsRef<str>) {
    line(Kind::Progress, text.as_ref());
}

/// A warning or note for stderr (the text holds its prefix).
pub fn warning(text: impl AsRef<str>) {
    line(Kind::Warning, text.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<(Kind, String)>>);

    impl Sink for &'static Recorder {
        fn line(&self, kind: Kind, text: &str) {
            self.0.lock().unwrap().push((kind, text.to_string()));
        }
    }

    #[test]
    fn an_installed_sink_receives_every_line_with_its_kind() {
        static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));
        // The unit tests share one process: this is the only test that installs a sink.
        assert!(install(Box::new(&RECORDER)));
        assert!(
            !install(Box::new(Terminal)),
            "a second sink must not replace the first"
        );
        out("epoch 1/2");
        warning("warning: skipped");
        progress("eval: 10/20 images");
        let lines = RECORDER.0.lock().unwrap().clone();
        for want in [
            (Kind::Out, "epoch 1/2"),
            (Kind::Warning, "warning: skipped"),
            (Kind::Progress, "eval: 10/20 images"),
        ] {
            assert!(
                lines.iter().any(|(k, t)| (*k, t.as_str()) == want),
                "{want:?} not in {lines:?}"
            );
        }
    }
}
