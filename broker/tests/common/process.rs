//! The `mqlite` binary as a subprocess: started with arguments, its stderr read line by line
//! on a thread, signalled with `kill`, and killed when dropped. Every wait has a deadline.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::WAIT;

/// A free port on 127.0.0.1 (bound, then released for the broker to take).
pub(crate) fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding 127.0.0.1:0")
        .local_addr()
        .expect("a bound socket's address")
}

/// `mqlite` (the binary of this package) logging at `info`, without colours.
pub(crate) fn mqlite() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mqlite"));
    command.env("RUST_LOG", "info").env("NO_COLOR", "1");
    command
}

/// Waits up to [`WAIT`] for `child` to exit; kills it and panics if it does not.
pub(crate) fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("polling the child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `mqlite`, its stderr read line by line on a thread; killed on drop.
pub(crate) struct BinaryBroker {
    pub(crate) child: Child,
    log: mpsc::Receiver<String>,
}

impl Drop for BinaryBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl BinaryBroker {
    /// Starts `mqlite args`.
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = mqlite()
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting mqlite");
        let stderr = child.stderr.take().expect("a piped stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, log }
    }

    /// Starts `mqlite --config FILE` and waits until it listens on each of `addrs`.
    pub(crate) fn with_config(config: &Path, addrs: &[SocketAddr]) -> Self {
        let broker = Self::start(&["--config", config.to_str().expect("a UTF-8 path")]);
        broker.expect_listening(addrs);
        broker
    }

    /// Waits until the broker logged that it listens on each of `addrs`, in any order.
    pub(crate) fn expect_listening(&self, addrs: &[SocketAddr]) {
        let mut waiting: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
        while !waiting.is_empty() {
            let line = self.expect_log(&["listening"]);
            waiting.retain(|addr| !line.contains(addr.as_str()));
        }
    }

    /// Waits for a log line containing every one of `parts`; returns it.
    pub(crate) fn expect_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.log.recv_timeout(left) else {
                panic!("no log line with {parts:?}; got:\n{}", skipped.join("\n"));
            };
            if parts.iter().all(|p| line.contains(p)) {
                return line;
            }
            skipped.push(line);
        }
    }

    /// Sends `kill -NAME` (unix).
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name}");
    }

    /// Sends SIGTERM and asserts a clean exit (status 0) within [`WAIT`].
    pub(crate) fn stop(mut self) {
        self.signal("TERM");
        let status = wait_exit(&mut self.child, "mqlite after SIGTERM");
        assert!(status.success(), "{status}");
    }
}
