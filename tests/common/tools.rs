//! External tools the tests use. A missing tool fails the test with the install advice: a
//! test that silently skips could never fail.

use std::path::PathBuf;

/// Find `name` on PATH (and in the pip user/venv bin dirs the test script uses).
pub fn find(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/bin"));
    }
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.push(PathBuf::from("/usr/local/bin"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Find `name` or panic with the install advice.
pub fn require(name: &str) -> PathBuf {
    find(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: run scripts/test.sh, which installs the test dependencies"
        )
    })
}

/// Start `tests/fixtures/<script>` with `args` and wait for its `PORT <n>` line on stdout.
/// The caller owns the child (and kills it on drop).
pub fn start_fixture(script: &str, args: &[&std::ffi::OsStr]) -> (std::process::Child, u16) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(require("python3"))
        .arg(super::repo_root().join("tests/fixtures").join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script} did not start: {line:?}"));
    (child, port)
}
