//! The terminal: whether stdin/stdout are terminals, and single key presses without
//! Enter (canonical mode and echo off; Ctrl-C still raises SIGINT), restored on drop.

use std::io::Read as _;

use tokio::sync::mpsc;

/// Whether file descriptor `fd` is a terminal.
pub fn is_tty(fd: libc::c_int) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Stdout is a terminal (a screen to redraw rather than lines to append).
pub fn stdout_is_tty() -> bool {
    is_tty(libc::STDOUT_FILENO)
}

/// Stdin in "key at a time" mode while alive; restores the previous mode when dropped
/// (also while a panic unwinds).
pub struct KeyMode {
    saved: libc::termios,
}

impl KeyMode {
    /// Switches stdin if it is a terminal; None otherwise (no key handling then).
    pub fn enable() -> Option<KeyMode> {
        let fd = libc::STDIN_FILENO;
        if !is_tty(fd) {
            return None;
        }
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a valid fd and a valid pointer.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: a valid fd and a valid pointer.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(KeyMode { saved })
    }

    /// Key presses, read on a thread of their own (stdin reads block).
    pub fn keys(&self) -> mpsc::Receiver<u8> {
        let (tx, rx) = mpsc::channel(16);
        let spawned = std::thread::Builder::new()
            .name("demo-keys".into())
            .spawn(move || {
                let mut stdin = std::io::stdin();
                let mut buf = [0u8; 1];
                while let Ok(1) = stdin.read(&mut buf) {
                    let [key] = buf;
                    if tx.blocking_send(key).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot read keys");
        }
        rx
    }
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        // SAFETY: a valid fd and the attributes read at enable.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}
