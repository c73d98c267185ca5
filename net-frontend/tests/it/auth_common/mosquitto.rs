//! A real Mosquitto broker for the differential tests: started on a free loopback port with a
//! password file and an ACL file, killed on drop; `None` (with a message) where it is not
//! installed.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::WAIT;

/// A Mosquitto broker process, killed on drop.
pub(crate) struct Mosquitto {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto_binary() -> Option<PathBuf> {
    let candidates = [
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/usr/bin/mosquitto",
    ];
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    found.or_else(|| {
        let ok = Command::new("mosquitto")
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        ok.is_ok().then(|| PathBuf::from("mosquitto"))
    })
}

/// Starts Mosquitto on a free loopback port with the two files, or `None` if it is missing.
pub(crate) fn start_mosquitto(
    dir: &Path,
    passwd: &Path,
    acl: &Path,
    allow_anonymous: bool,
) -> Option<Mosquitto> {
    let Some(binary) = mosquitto_binary() else {
        eprintln!("skipped: mosquitto is not installed (Debian package `mosquitto`)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join(format!("mosquitto-{port}.conf"));
    // `user root`: when the test runs as root, stay root so the 0600 files stay readable
    // (Mosquitto ignores the option when it is not started as root).
    let text = format!(
        "listener {port} 127.0.0.1\npassword_file {}\nacl_file {}\nallow_anonymous {allow_anonymous}\n\
         sys_interval 0\npersistence false\nuser root\nlog_dest stderr\n",
        passwd.display(),
        acl.display()
    );
    std::fs::write(&conf, text).unwrap();
    let log = std::fs::File::create(dir.join(format!("mosquitto-{port}.log"))).unwrap();
    let child = Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut broker = Mosquitto {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(broker.addr).is_err() {
        if let Ok(Some(status)) = broker.child.try_wait() {
            let log = std::fs::read_to_string(dir.join(format!("mosquitto-{port}.log")));
            panic!("mosquitto exited ({status}): {}", log.unwrap_or_default());
        }
        assert!(
            Instant::now() < deadline,
            "mosquitto did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(broker)
}
