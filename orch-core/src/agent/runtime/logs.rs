//! Container logs: `<log_dir>/<container>/<restart_count>.log`.
//!
//! The init shim reads the container's stdout and stderr pipes and writes
//! one record per line, `<RFC3339 time> <stdout|stderr> <F|P> <text>` (`P`
//! marks a partial line continued by the next record), so logging survives
//! an agent restart. A file that would grow past the size cap is rotated to
//! `<restart_count>.log.1`; the files of the current and the previous
//! restart are kept. [`read_logs`] and [`follow_logs`] give back the plain
//! text for `kubectl logs`.
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::fd::AsFd,
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use futures::Stream;
use tokio::io::AsyncReadExt;

use super::namespaces::check_component;

/// Default size cap of one log file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 << 20;

/// Environment of the shim: prefix of its own variables, removed before the
/// container's command runs.
pub(crate) const ENV_PREFIX: &str = "ORCH_INIT_";
/// Environment of the shim: the log file's path (for rotation).
pub(crate) const ENV_LOG_PATH: &str = "ORCH_INIT_LOG_PATH";
/// Environment of the shim: the size cap in bytes.
pub(crate) const ENV_LOG_MAX: &str = "ORCH_INIT_LOG_MAX_BYTES";

/// Longest line kept whole; longer ones are split into partial records.
const MAX_LINE: usize = 16 << 10;

/// How often [`follow_logs`] looks for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Which output of the container a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    fn name(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// Where and how big the logs of a pod's containers are.
#[derive(Debug, Clone)]
pub struct LogSink {
    dir: PathBuf,
    max_file_bytes: u64,
}

impl LogSink {
    /// Logs under `dir` (the pod's log directory), capped at
    /// [`DEFAULT_MAX_FILE_BYTES`] per file.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }

    /// Sets the size cap of one file (at least one record is always kept).
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// The pod's log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size cap of one file.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// `<dir>/<container>/<restart_count>.log`.
    pub fn path(&self, container: &str, restart_count: u32) -> PathBuf {
        self.dir
            .join(container)
            .join(format!("{restart_count}.log"))
    }

    /// Opens (appending) the file of this restart, after deleting the files
    /// of restarts older than the previous one.
    pub fn open(&self, container: &str, restart_count: u32) -> io::Result<(File, PathBuf)> {
        check_component("container name", container)?;
        let cdir = self.dir.join(container);
        fs::create_dir_all(&cdir)?;
        for e in fs::read_dir(&cdir)?.filter_map(Result::ok) {
            let name = e.file_name();
            let old = name
                .to_str()
                .and_then(restart_of)
                .is_some_and(|r| r.saturating_add(1) < restart_count);
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
        let path = self.path(container, restart_count);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok((file, path))
    }
}

/// The restart count in a log file name (`3.log` or `3.log.1`).
fn restart_of(name: &str) -> Option<u32> {
    let stem = name
        .strip_suffix(".log")
        .or_else(|| name.strip_suffix(".log.1"))?;
    stem.parse().ok()
}

/// Restart counts that have a current file, ascending.
fn restarts(cdir: &Path) -> Vec<u32> {
    let mut v: Vec<u32> = fs::read_dir(cdir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Path of the rotated file of `path`.
fn rotated(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

/// One record line (with its newline).
pub(crate) fn format_record(stream: LogStream, partial: bool, text: &[u8]) -> Vec<u8> {
    let ts = jiff::Timestamp::now();
    let flag = if partial { 'P' } else { 'F' };
    let mut line = format!("{ts:.9} {} {flag} ", stream.name()).into_bytes();
    line.extend_from_slice(text);
    line.push(b'\n');
    line
}

/// The text of one record line (without its newline) and whether it ends
/// a line; `None` if it is not a record.
fn parse_record(line: &[u8]) -> Option<(&[u8], bool)> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let (_ts, stream, flag) = (parts.next()?, parts.next()?, parts.next()?);
    if stream != b"stdout" && stream != b"stderr" {
        return None;
    }
    let text = parts.next().unwrap_or_default();
    match flag {
        b"F" => Some((text, true)),
        b"P" => Some((text, false)),
        _ => None,
    }
}

/// Plain text of the complete lines in `content` (an unterminated last
/// line is ignored). Lines that are not records (a crash message of the
/// shim itself) are kept as they are.
pub(super) fn plain_text(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    let Some(end) = content.iter().rposition(|&b| b == b'\n') else {
        return out;
    };
    for line in content[..end].split(|&b| b == b'\n') {
        let (text, full) = parse_record(line).unwrap_or((line, true));
        out.extend_from_slice(text);
        if full {
            out.push(b'\n');
        }
    }
    out
}

/// The last `n` lines of `text` (all of it for `None`).
fn tail(text: &[u8], n: Option<usize>) -> &[u8] {
    let Some(n) = n else { return text };
    if n == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return &text[i + 1..];
            }
        }
    }
    text
}

/// Reads a file, empty if it does not exist.
fn read_or_empty(path: &Path) -> io::Result<Vec<u8>> {
    match fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        r => r,
    }
}

/// The plain text (no prefixes) of a container's log: the current restart,
/// or with `previous` the one before, optionally only its last
/// `tail_lines` lines. `NotFound` if there is no such log.
pub fn read_logs(
    log_dir: &Path,
    container: &str,
    previous: bool,
    tail_lines: Option<usize>,
) -> io::Result<String> {
    check_component("container name", container)?;
    let cdir = log_dir.join(container);
    let all = restarts(&cdir);
    let pick = if previous {
        all.iter().rev().nth(1)
    } else {
        all.last()
    };
    let Some(restart) = pick else {
        let what = if previous {
            "previous terminated container"
        } else {
            "container"
        };
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{what} {container:?} has no logs in {}", log_dir.display()),
        ));
    };
    read_run(log_dir, container, *restart, tail_lines)
}

/// The plain text of the log of run `restart` of a container (see
/// [`read_logs`]); empty if that run has no log.
pub fn read_run(
    log_dir: &Path,
    container: &str,
    restart: u32,
    tail_lines: Option<usize>,
) -> io::Result<String> {
    check_component("container name", container)?;
    let path = log_dir.join(container).join(format!("{restart}.log"));
    let mut content = read_or_empty(&rotated(&path))?;
    content.extend(read_or_empty(&path)?);
    let text = plain_text(&content);
    Ok(String::from_utf8_lossy(tail(&text, tail_lines)).into_owned())
}

/// Follows a container's current log: first its last `tail_lines` lines
/// (all for `None`), then new lines as they are written, across rotations.
/// The stream ends when a newer restart's file appears or on an I/O error;
/// a caller that knows the container has exited stops polling it
/// (e.g. with `take_until`, or with [`follow_logs_while`]).
pub fn follow_logs(
    log_dir: &Path,
    container: &str,
    tail_lines: Option<usize>,
) -> impl Stream<Item = Bytes> {
    follow_logs_while(log_dir, container, tail_lines, || true)
}

/// [`follow_logs`] that also ends, after reading what is left, once
/// `running` has said `false` at two polls in a row at the end of the file
/// (so a container restarting in between does not end it).
pub fn follow_logs_while(
    log_dir: &Path,
    container: &str,
    tail_lines: Option<usize>,
    running: impl Fn() -> bool + Send + 'static,
) -> impl Stream<Item = Bytes> {
    let follower = Follower {
        cdir: log_dir.join(container),
        tail: tail_lines,
        restart: 0,
        file: None,
        ino: 0,
        buf: Vec::new(),
        running: Box::new(running),
        stopped_polls: 0,
        done: false,
    };
    futures::stream::unfold(follower, |mut f| async move {
        match f.next().await {
            Ok(Some(b)) => Some((b, f)),
            _ => None,
        }
    })
}

/// The runs (restart counts) of a container that have a log, ascending.
pub fn log_runs(log_dir: &Path, container: &str) -> Vec<u32> {
    if check_component("container name", container).is_err() {
        return Vec::new();
    }
    restarts(&log_dir.join(container))
}

/// State of [`follow_logs`].
struct Follower {
    cdir: PathBuf,
    tail: Option<usize>,
    restart: u32,
    file: Option<tokio::fs::File>,
    ino: u64,
    buf: Vec<u8>,
    running: Box<dyn Fn() -> bool + Send>,
    stopped_polls: u8,
    done: bool,
}

impl Follower {
    /// At the end of the data: whether the container has been seen
    /// stopped at two polls in a row.
    fn stopped(&mut self) -> bool {
        if (self.running)() {
            self.stopped_polls = 0;
        } else {
            self.stopped_polls = self.stopped_polls.saturating_add(1);
        }
        self.stopped_polls >= 2
    }

    fn path(&self) -> PathBuf {
        self.cdir.join(format!("{}.log", self.restart))
    }

    /// Takes the complete records out of `buf` as plain text.
    fn take_text(&mut self) -> Vec<u8> {
        let Some(end) = self.buf.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let text = plain_text(&self.buf[..=end]);
        self.buf.drain(..=end);
        text
    }

    /// Opens the latest restart's file; returns the initial tail.
    async fn open_latest(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(&restart) = restarts(&self.cdir).last() else {
            return Ok(None);
        };
        self.restart = restart;
        let path = self.path();
        let mut file = tokio::fs::File::open(&path).await?;
        self.ino = std::os::unix::fs::MetadataExt::ino(&file.metadata().await?);
        self.buf = tokio::fs::read(rotated(&path)).await.unwrap_or_default();
        file.read_to_end(&mut self.buf).await?;
        self.file = Some(file);
        let text = self.take_text();
        Ok(Some(tail(&text, self.tail).to_vec()))
    }

    /// The next chunk of plain text; `None` when the log is done.
    async fn next(&mut self) -> io::Result<Option<Bytes>> {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(file) = self.file.as_mut() else {
                match self.open_latest().await? {
                    Some(text) if !text.is_empty() => return Ok(Some(text.into())),
                    Some(_) => {}
                    None if self.stopped() => return Ok(None),
                    None => tokio::time::sleep(FOLLOW_POLL).await,
                }
                continue;
            };
            let n = file.read(&mut chunk).await?;
            if n > 0 {
                self.buf.extend_from_slice(&chunk[..n]);
                let text = self.take_text();
                if !text.is_empty() {
                    return Ok(Some(text.into()));
                }
                continue;
            }
            let path = self.cdir.join(format!("{}.log", self.restart));
            let ino = fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
            if ino.is_ok_and(|i| i != self.ino) {
                // Rotated: finish the old file, then go on with the new one.
                file.read_to_end(&mut self.buf).await?;
                let new = tokio::fs::File::open(&path).await?;
                self.ino = std::os::unix::fs::MetadataExt::ino(&new.metadata().await?);
                self.file = Some(new);
                continue;
            }
            if restarts(&self.cdir)
                .last()
                .is_some_and(|&r| r > self.restart)
            {
                return Ok(None);
            }
            if self.stopped() {
                // Whatever the container wrote before it stopped.
                if let Some(f) = self.file.as_mut() {
                    f.read_to_end(&mut self.buf).await?;
                }
                self.done = true;
                let text = self.take_text();
                return Ok((!text.is_empty()).then(|| text.into()));
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}

/// The shim's writer of record lines, with the size cap and rotation.
#[derive(Debug)]
pub(crate) struct LogWriter {
    file: File,
    path: Option<PathBuf>,
    max: u64,
    size: u64,
}

impl LogWriter {
    /// Writes to the shim's stdout (the log file the agent opened), rotating
    /// through the path and cap the agent put in the environment.
    pub(crate) fn from_env() -> io::Result<LogWriter> {
        let file = File::from(io::stdout().as_fd().try_clone_to_owned()?);
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let max = std::env::var(ENV_LOG_MAX)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_FILE_BYTES);
        let path = std::env::var_os(ENV_LOG_PATH).map(PathBuf::from);
        Ok(LogWriter {
            file,
            path,
            max,
            size,
        })
    }

    /// Writes one record (`text` holds no newline).
    pub(crate) fn record(&mut self, stream: LogStream, partial: bool, text: &[u8]) {
        let line = format_record(stream, partial, text);
        if self.size > 0 && self.size + line.len() as u64 > self.max {
            self.rotate();
        }
        if self.file.write_all(&line).is_ok() {
            self.size += line.len() as u64;
        }
    }

    /// Writes a message of the runtime itself as stderr lines.
    pub(crate) fn message(&mut self, text: &str) {
        for line in text.lines() {
            self.record(LogStream::Stderr, false, line.as_bytes());
        }
    }

    /// Moves the file to `<path>.1` and starts a new one; without a path (or
    /// if that fails) truncates the file instead.
    fn rotate(&mut self) {
        let renewed = self.path.as_ref().and_then(|p| {
            fs::rename(p, rotated(p)).ok()?;
            OpenOptions::new().create(true).append(true).open(p).ok()
        });
        match renewed {
            Some(f) => self.file = f,
            None => {
                let _ = self.file.set_len(0);
            }
        }
        self.size = 0;
    }
}

/// Splits one stream's bytes into record lines.
#[derive(Debug)]
pub(crate) struct LineBuffer {
    stream: LogStream,
    buf: Vec<u8>,
}

impl LineBuffer {
    /// An empty buffer for `stream`.
    pub(crate) fn new(stream: LogStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Adds bytes; writes every complete line, and long lines in parts.
    pub(crate) fn push(&mut self, data: &[u8], w: &mut LogWriter) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = self.buf[start..].iter().position(|&b| b == b'\n') {
            w.record(self.stream, false, &self.buf[start..start + i]);
            start += i + 1;
        }
        while self.buf.len() - start >= MAX_LINE {
            w.record(self.stream, true, &self.buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        self.buf.drain(..start);
    }

    /// Writes what is left as a partial line.
    pub(crate) fn flush(&mut self, w: &mut LogWriter) {
        if !self.buf.is_empty() {
            w.record(self.stream, true, &self.buf);
            self.buf.clear();
        }
    }

    /// Whether a partial line is waiting.
    pub(crate) fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut content = format_record(LogStream::Stdout, false, b"hello world");
        content.extend(format_record(LogStream::Stderr, true, b"part "));
        content.extend(format_record(LogStream::Stderr, false, b"two"));
        content.extend(b"raw crash message\n");
        content.extend(b"2024-01-01T00:00:00Z stdout F unterminated");
        assert_eq!(
            plain_text(&content),
            b"hello world\npart two\nraw crash message\n"
        );
    }

    #[test]
    fn tail_counts_lines() {
        assert_eq!(tail(b"a\nb\nc\n", Some(2)), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", Some(2)), b"b\nc");
        assert_eq!(tail(b"a\nb\n", Some(5)), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", Some(0)), b"");
        assert_eq!(tail(b"a\nb\n", None), b"a\nb\n");
    }

    #[tokio::test]
    async fn follow_goes_across_rotations_and_ends_on_restart() {
        use futures::StreamExt;
        let tmp = tempfile::tempdir().unwrap();
        let sink = LogSink::new(tmp.path()).with_max_file_bytes(200);
        let (file, path) = sink.open("c", 0).unwrap();
        let mut w = LogWriter {
            file,
            path: Some(path),
            max: 200,
            size: 0,
        };
        w.record(LogStream::Stdout, false, b"first");
        let mut follow = Box::pin(follow_logs(tmp.path(), "c", None));
        let mut seen = String::new();
        for i in 0..20 {
            w.record(LogStream::Stdout, false, format!("line {i}").as_bytes());
            while !seen.ends_with(&format!("line {i}\n")) {
                let chunk = tokio::time::timeout(Duration::from_secs(5), follow.next())
                    .await
                    .expect("follow stalled")
                    .expect("follow ended");
                seen.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        }
        let want: String = std::iter::once("first\n".to_string())
            .chain((0..20).map(|i| format!("line {i}\n")))
            .collect();
        assert_eq!(seen, want);
        assert!(
            rotated(&sink.path("c", 0)).exists(),
            "the file was never rotated"
        );
        sink.open("c", 1).unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), follow.next()).await;
        assert_eq!(end.expect("follow did not end"), None);
    }

    #[test]
    fn restart_names() {
        assert_eq!(restart_of("3.log"), Some(3));
        assert_eq!(restart_of("3.log.1"), Some(3));
        assert_eq!(restart_of("x.log"), None);
    }
}
