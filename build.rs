//! Generates the C header from src/ffi with cbindgen, into OUT_DIR, plus a preprocessor-free
//! declaration file for PHP's FFI::cdef. `make header` (O365_UPDATE_HEADER=1) copies both
//! into include/; a test fails when the committed copies are stale.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    soname();
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=O365_UPDATE_HEADER");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let header = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => {
            let mut v = Vec::new();
            b.write(&mut v);
            String::from_utf8(v).expect("header is UTF-8")
        }
        Err(e) => {
            // A syntax error in src/ is reported by rustc itself; keep the build going.
            println!("cargo:warning=cbindgen failed: {e}");
            return;
        }
    };
    let php = php_declarations(&header);
    std::fs::write(out_dir.join("o365.h"), &header).unwrap();
    std::fs::write(out_dir.join("o365_php.h"), &php).unwrap();
    if std::env::var_os("O365_UPDATE_HEADER").is_some() {
        std::fs::write(crate_dir.join("include/o365.h"), &header).unwrap();
        std::fs::write(crate_dir.join("include/o365_php.h"), &php).unwrap();
    }
}

/// Gives the shared library the versioned soname `libo365.so.<O365_ABI_VERSION>` (Linux), so
/// programs record a dependency on that ABI and the library installs beside other ABIs.
/// `make install` names the file `libo365.so.<ABI>.<crate version>` with the usual symlinks.
fn soname() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let ffi = std::fs::read_to_string("src/ffi/mod.rs").expect("src/ffi/mod.rs is readable");
    let abi = ffi
        .lines()
        .find_map(|l| l.trim().strip_prefix("pub const O365_ABI_VERSION: u32 ="))
        .and_then(|v| v.trim().trim_end_matches(';').trim().parse::<u32>().ok())
        .expect("src/ffi/mod.rs defines `pub const O365_ABI_VERSION: u32 = N;`");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libo365.so.{abi}");
}

/// The header without preprocessor lines, `extern "C"` guards and comments, with each
/// `#define NAME VALUE` dropped (PHP reads the numbers from the library's wrapper).
fn php_declarations(header: &str) -> String {
    let mut out = String::from(
        "/* Preprocessor-free declarations of include/o365.h for PHP FFI::cdef. Generated. */\n",
    );
    let mut in_block_comment = false;
    for line in header.lines() {
        let t = line.trim();
        if in_block_comment {
            if t.contains("*/") {
                in_block_comment = false;
            }
            continue;
        }
        if t.starts_with("/*") {
            if !t.contains("*/") {
                in_block_comment = true;
            }
            continue;
        }
        if t.starts_with('#') || t.starts_with("//") || t.is_empty() {
            continue;
        }
        if t == "extern \"C\" {" || t == "}  // extern \"C\"" || t == "} // extern \"C\"" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
