//! Microsoft's MSAL for Python (pip package `msal`) completes the auth-code flow with PKCE, a
//! refresh with the rotated refresh token and the device-code flow against the sim.
//!
//! The test creates a virtualenv under the target directory and installs `msal` and
//! `requests` from PyPI on first use. If that is impossible the test FAILS (it never skips).

use std::path::{Path, PathBuf};
use std::process::Command;

fn venv_python(dir: &Path) -> PathBuf {
    dir.join("bin").join("python")
}

fn ensure_venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("msal-venv");
    let py = venv_python(&dir);
    let have = py.exists()
        && Command::new(&py)
            .args(["-c", "import msal, requests"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if have {
        return py;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let st = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python} to create a virtualenv: {e}"));
    assert!(st.success(), "`{python} -m venv {}` failed", dir.display());
    let out = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "msal",
            "requests",
        ])
        .output()
        .expect("run pip");
    assert!(
        out.status.success(),
        "pip could not install msal and requests (is PyPI reachable?):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    py
}

#[test]
fn msal_python_completes_against_the_sim() {
    let py = ensure_venv();
    let sim = o365_sim::RunningSim::start_blocking(o365_sim::SimOptions::default()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/msal/msal_flow.py");
    let out = Command::new(&py)
        .arg(&script)
        .env("SIM_URL", sim.url())
        .env("SIM_CA", sim.ca_file())
        .output()
        .expect("run the MSAL script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "MSAL flow failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("completed all flows"));
    let c = sim.sim().counters.snapshot(());
    assert_eq!(c["deviceCodesRedeemed"], 1);
    sim.shutdown_blocking();
}
